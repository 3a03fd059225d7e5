package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/agent"
	"github.com/cobaltbatch/cobalt/internal/cli"
	"github.com/cobaltbatch/cobalt/internal/server"
	"github.com/cobaltbatch/cobalt/internal/server/servertest"
	"github.com/cobaltbatch/cobalt/internal/store"
	"github.com/cobaltbatch/cobalt/internal/testenv"
)

// traversable makes a temporary directory whose parents tasks (run as
// unprivileged users) can traverse, as servertest does for the control plane.
func traversable(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for d := dir; d != filepath.Dir(d) && strings.HasPrefix(d, os.TempDir()+string(filepath.Separator)); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestTasksOnJoinedHost: a control plane whose own host runs one node, a
// host joined from another network namespace, a pool of two nodes: one on
// each host, the remote one with its host's address. Tasks run on both;
// on the remote node a task gets an IMDS token for the pool's identity
// (curl to 169.254.169.254 inside the node, in namespaces the test made)
// and reads a blob with it. The link to the host then goes down: after
// the host's lease its node is given up, leaves the pool and is replaced on
// the local host; when the link comes back the host stops that node.
func TestTasksOnJoinedHost(t *testing.T) {
	if agent.DefaultIsolation() != agent.IsolationNetns {
		testenv.Unavailable(t, "netns isolation (root, Linux, ip netns)")
	}
	const cpAddr, hostAddr = "10.79.0.1", "10.79.0.2"
	ns := "cobalt-e2e-r" + strconv.Itoa(os.Getpid())
	hostNamespace(t, ns, cpAddr, hostAddr)
	t.Cleanup(func() { removeOwnNamespaces(t) })
	s := servertest.Start(t, server.Options{Isolation: agent.IsolationNetns, PublicAddress: cpAddr, MaxNodes: 2,
		HostHeartbeat: time.Second, HostLease: 4 * time.Second})
	data := s.DataDir()
	t.Setenv("COBALT_DATA", data)
	t.Setenv("COBALT_CONFIG_DIR", filepath.Join(t.TempDir(), "config"))
	t.Setenv("AZURE_BATCH_ACCOUNT", "acct1")

	var tok struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(cobaltCLI(t, "host", "token", "create", "-o", "json"), &tok); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	hostData := traversable(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	join := exec.CommandContext(ctx, "ip", "netns", "exec", ns, self, "host", "join", "--data", hostData,
		"--control-plane", s.URL("nodeapi"), "--token", tok.Token, "--ca-cert", s.Endpoints().CACertFile, "--max-nodes", "2")
	join.Env = append(os.Environ(), envCLI+"=1")
	var stderr syncBuffer
	join.Stderr = &stderr
	if err := join.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- join.Wait() }()
	defer func() {
		_ = join.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = join.Process.Kill()
		}
		if t.Failed() {
			t.Logf("host agent log:\n%s", stderr.String())
		}
	}()
	var remote store.HostRecord
	for remote.ID == "" {
		select {
		case err := <-done:
			t.Fatalf("host join exited: %v\n%s", err, stderr.String())
		case <-time.After(200 * time.Millisecond):
		}
		hosts, _, _ := s.Store().HostList(ctx, store.Page{})
		for _, h := range hosts {
			if !h.Local {
				remote = h
			}
		}
	}

	cobaltCLI(t, "login")
	cobaltCLI(t, "group", "create", "-n", "rg1")
	id := cobaltCLI(t, "identity", "create", "-g", "rg1", "-n", "id1")
	principalID := jsonField(t, id, "properties", "principalId")
	acct := cobaltCLI(t, "storage", "account", "create", "-g", "rg1", "-n", "sa1")
	cobaltCLI(t, "storage", "container", "create", "--account-name", "sa1", "-n", "inputs")
	src := filepath.Join(t.TempDir(), "hello.txt")
	if err := os.WriteFile(src, []byte("hello from sa1"), 0o644); err != nil {
		t.Fatal(err)
	}
	cobaltCLI(t, "storage", "blob", "upload", "--account-name", "sa1", "-c", "inputs", "-n", "hello.txt", "-f", src)
	cobaltCLI(t, "role", "assignment", "create", "--assignee", principalID, "--role", "Storage Blob Data Reader", "--scope", jsonField(t, acct, "id"))
	blobURL := jsonField(t, cobaltCLI(t, "storage", "account", "show", "-g", "rg1", "-n", "sa1"), "properties", "primaryEndpoints", "blob")
	cobaltCLI(t, "batch", "account", "create", "-g", "rg1", "-n", "acct1")
	cobaltCLI(t, "batch", "pool", "create", "--account-name", "acct1", "--id", "p1", "--vm-size", "STANDARD_D2S_V3",
		"--image", "canonical:0001-com-ubuntu-server-jammy:22_04-lts:latest", "--node-agent-sku-id", "batch.node.ubuntu 22.04",
		"--target-dedicated-nodes", "2", "--identity", "id1")
	var nodes []struct {
		ID        string `json:"id"`
		IPAddress string `json:"ipAddress"`
		State     string `json:"state"`
	}
	for idle := 0; idle < 2; {
		select {
		case <-ctx.Done():
			t.Fatalf("nodes %+v did not become idle", nodes)
		case <-time.After(time.Second):
		}
		if err := json.Unmarshal(cobaltCLI(t, "batch", "node", "list", "--pool-id", "p1", "-o", "json"), &nodes); err != nil {
			t.Fatal(err)
		}
		idle = 0
		for _, n := range nodes {
			if n.State == "idle" {
				idle++
			}
		}
	}
	remoteNode := ""
	for _, n := range nodes {
		if n.IPAddress == hostAddr {
			remoteNode = n.ID
		}
	}
	if remoteNode == "" || nodes[0].IPAddress == nodes[1].IPAddress {
		t.Fatalf("nodes %+v: want one at %s and one at %s", nodes, cpAddr, hostAddr)
	}

	scripts := t.TempDir()
	writeScript(t, filepath.Join(scripts, "blob.sh"), `set -e
sleep 2
`+probeScript(hostAddr)+`tok=$(curl -sSf 'http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://storage.azure.com/' -H Metadata:true | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
exec curl -sSf -H "Authorization: Bearer $tok" -H 'x-ms-version: 2023-11-03' `+strings.TrimSuffix(blobURL, "/")+`/inputs/hello.txt
`)
	scriptDir := stageInNodes(t, data, s.Endpoints().SubscriptionID, scripts)
	stageUnder(t, hostData, scripts)
	cobaltCLI(t, "batch", "job", "create", "--id", "j1", "--pool-id", "p1")
	// Four tasks at once on two one-slot nodes: both nodes run some.
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = cli.Main(ctx, []string{"batch", "task", "create", "--job-id", "j1", "--task-id", "t" + strconv.Itoa(i), "--wait",
				"--command-line", "/bin/sh " + scriptDir + "/blob.sh"}, strings.NewReader(""), io.Discard, io.Discard)
		}()
	}
	wg.Wait()
	ran := map[string]bool{}
	remoteTask, localTask := "", ""
	for i := range 4 {
		tid := "t" + strconv.Itoa(i)
		var task struct {
			State    string `json:"state"`
			NodeInfo struct {
				NodeID string `json:"nodeId"`
			} `json:"nodeInfo"`
			ExecutionInfo struct {
				ExitCode *int `json:"exitCode"`
			} `json:"executionInfo"`
		}
		if err := json.Unmarshal(cobaltCLI(t, "batch", "task", "show", "--job-id", "j1", "--task-id", tid, "-o", "json"), &task); err != nil {
			t.Fatal(err)
		}
		ran[task.NodeInfo.NodeID] = true
		if task.NodeInfo.NodeID == remoteNode {
			remoteTask = tid
		} else {
			localTask = tid
		}
		// The data plane serves a joined host's task files as its own
		// (through the host's file API).
		out := cobaltCLI(t, "batch", "task", "file", "download", "--job-id", "j1", "--task-id", tid, "--file-path", "stdout.txt")
		var errOut []byte
		if task.NodeInfo.NodeID == remoteNode {
			errOut = taskFile(t, hostData, remoteNode, tid, "stderr.txt")
		}
		if task.State != "completed" || task.ExecutionInfo.ExitCode == nil || *task.ExecutionInfo.ExitCode != 0 || string(out) != "hello from sa1" {
			t.Errorf("%s on %s: %+v stdout %q\nstderr: %s", tid, task.NodeInfo.NodeID, task, out, errOut)
		}
	}
	if len(ran) != 2 || !ran[remoteNode] {
		t.Fatalf("tasks ran on %v, want both nodes (the remote one is %s)", ran, remoteNode)
	}
	endpoint := jsonField(t, cobaltCLI(t, "batch", "account", "show", "-g", "rg1", "-n", "acct1", "-o", "json"), "properties", "accountEndpoint")
	checkJoinedNodeFiles(ctx, t, data, endpoint, "p1", "j1", remoteNode, remoteTask, localTask)

	// Many short tasks over both nodes. Each execution writes its start, a
	// tick every 50 ms and its end (nanosecond clock, one kernel for every
	// namespace) to its own stdout.txt on the node it runs on. While a file
	// "hold" is in its node's shared directory, a task keeps ticking: the
	// remote node's task runs on when its link goes down.
	const nTasks = 200
	tick := `/bin/sh -c 'echo start $(date +%s%N); i=0; while [ $i -lt 3 ] || [ -e $AZ_BATCH_NODE_SHARED_DIR/hold ]; do sleep 0.05; echo tick $(date +%s%N); i=$((i+1)); done; echo end $(date +%s%N)'`
	taskIDs := make(chan string, nTasks)
	for i := range nTasks {
		taskIDs <- "f" + strconv.Itoa(1000+i)
	}
	close(taskIDs)
	var created sync.WaitGroup
	var createErrs syncBuffer
	for range 8 {
		created.Add(1)
		go func() {
			defer created.Done()
			for id := range taskIDs {
				if code := cli.Main(ctx, []string{"batch", "task", "create", "--job-id", "j1", "--task-id", id, "--command-line", tick},
					strings.NewReader(""), io.Discard, &createErrs); code != 0 {
					return
				}
			}
		}()
	}
	created.Wait()
	if createErrs.String() != "" {
		t.Fatalf("task create: %s", createErrs.String())
	}
	type taskView struct {
		ID       string `json:"id"`
		State    string `json:"state"`
		NodeInfo struct {
			NodeID string `json:"nodeId"`
		} `json:"nodeInfo"`
		ExecutionInfo struct {
			ExitCode     *int `json:"exitCode"`
			RetryCount   int  `json:"retryCount"`
			RequeueCount int  `json:"requeueCount"`
		} `json:"executionInfo"`
	}
	tasks := func() map[string]taskView {
		var vs []taskView
		if err := json.Unmarshal(cobaltCLI(t, "batch", "task", "list", "--job-id", "j1", "-o", "json"), &vs); err != nil {
			t.Fatal(err)
		}
		m := map[string]taskView{}
		for _, v := range vs {
			if strings.HasPrefix(v.ID, "f") {
				m[v.ID] = v
			}
		}
		return m
	}
	waitFor(ctx, t, "a quarter of the tasks done", func() bool {
		done := 0
		for _, v := range tasks() {
			if v.State == "completed" {
				done++
			}
		}
		return done >= nTasks/4
	})
	// The remote node's running task holds, then the link goes down.
	remoteShared := filepath.Join(hostData, "nodes", remoteNode, "shared")
	if err := os.WriteFile(filepath.Join(remoteShared, "hold"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, "a task held on the remote node", func() bool {
		for _, e := range testenv.Runs(hostData, "f") {
			if e.Node == remoteNode && !e.Ended && e.Ticks >= 6 {
				return true
			}
		}
		return false
	})

	// The link to the joined host goes down: after its lease and grace the
	// host is lost, its node unusable and removed from the pool, its task
	// requeued (not retried), and the pool gets a new node on the local
	// host. The node's agent killed its task before (its fence).
	if out, err := exec.Command("ip", "link", "set", "veth-cp", "down").CombinedOutput(); err != nil {
		t.Fatalf("link down: %v %s", err, out)
	}
	waitFor(ctx, t, "the remote node replaced by a local one", func() bool {
		if err := json.Unmarshal(cobaltCLI(t, "batch", "node", "list", "--pool-id", "p1", "-o", "json"), &nodes); err != nil {
			t.Fatal(err)
		}
		idleOrRunningLocal := 0
		for _, n := range nodes {
			if n.ID == remoteNode {
				return false
			}
			if n.IPAddress == cpAddr && (n.State == "idle" || n.State == "running") {
				idleOrRunningLocal++
			}
		}
		return idleOrRunningLocal == 2
	})
	if h, err := s.Store().HostGet(ctx, remote.ID); err != nil || h.State != store.HostLost {
		t.Fatalf("the cut host: %+v %v", h, err)
	}
	waitFor(ctx, t, "every task completed", func() bool {
		for _, v := range tasks() {
			if v.State != "completed" {
				return false
			}
		}
		return true
	})
	final := tasks()
	// The cut host's node is still there, out of reach: what its tasks
	// wrote is read now, as the node's directory goes when the host comes
	// back and stops it.
	remoteExecs := testenv.Runs(filepath.Join(hostData, "nodes"), "f")
	_ = os.Remove(filepath.Join(remoteShared, "hold"))
	if len(final) != nTasks {
		t.Fatalf("%d tasks, want %d", len(final), nTasks)
	}
	for id, v := range final {
		if v.ExecutionInfo.ExitCode == nil || *v.ExecutionInfo.ExitCode != 0 || v.ExecutionInfo.RetryCount != 0 {
			t.Errorf("task %s: %+v, want completed with exit code 0, retryCount 0", id, v)
		}
	}
	// The link comes back: the host is ready again, and its agent stops the
	// node the control plane gave up (its heartbeat no longer lists it).
	if out, err := exec.Command("ip", "link", "set", "veth-cp", "up").CombinedOutput(); err != nil {
		t.Fatalf("link up: %v %s", err, out)
	}
	// Its node ends either way: the host agent stops it (no longer listed),
	// or the node's agent, refused by the control plane, ends first and the
	// host agent then deletes the credential left behind.
	waitFor(ctx, t, "the returning host to stop its given-up node", func() bool {
		h, _ := s.Store().HostGet(ctx, remote.ID)
		_, err := os.Stat(filepath.Join(hostData, "nodes", ".credentials", remoteNode))
		return h.State == store.HostReady && os.IsNotExist(err)
	})
	if _, err := os.Stat(filepath.Join(hostData, "nodes", ".credentials", remoteNode)); !os.IsNotExist(err) {
		t.Errorf("the given-up node's credential is still on the host: %v", err)
	}
	if !strings.Contains(stderr.String(), "tasks killed before they are requeued elsewhere") {
		t.Error("the cut-off node did not fence its tasks")
	}

	// Every execution of every task, on every node: each task ended once,
	// and no two executions of one task overlap in time; the held one was
	// killed on the cut host and ran again elsewhere.
	// The control plane's own nodes are under its data directory, or
	// where servertest moves node roots so task users can reach them.
	roots := []string{data}
	if sub := s.Endpoints().SubscriptionID; len(sub) >= 8 {
		roots = append(roots, filepath.Join(os.TempDir(), "cobalt-nodes-"+sub[:8]))
	}
	byTask := map[string][]testenv.Run{}
	for _, e := range remoteExecs {
		byTask[e.Task] = append(byTask[e.Task], e)
	}
	for _, root := range roots {
		for _, e := range testenv.Runs(root, "f") {
			byTask[e.Task] = append(byTask[e.Task], e)
		}
	}
	killedRemote := 0
	for id := range final {
		es := byTask[id]
		ended := 0
		for i, e := range es {
			if e.Ended {
				ended++
			} else if e.Node == remoteNode {
				killedRemote++
			}
			for _, o := range es[i+1:] {
				if e.Overlaps(o) {
					t.Errorf("task %s ran twice at once: on %s [%d, %d] and on %s [%d, %d]", id, e.Node, e.Start, e.Last, o.Node, o.Start, o.Last)
				}
			}
		}
		if ended != 1 {
			t.Errorf("task %s: %d executions ran to their end, want 1: %+v", id, ended, es)
		}
		if v := final[id]; v.NodeInfo.NodeID == remoteNode && slices.ContainsFunc(es, func(e testenv.Run) bool { return e.Node == remoteNode && !e.Ended }) {
			t.Errorf("task %s completed on the cut node", id)
		}
	}
	if killedRemote == 0 {
		t.Error("no execution was cut off on the remote node")
	}
}

// waitFor polls cond every 200 ms until it holds or ctx ends.
func waitFor(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// taskFile reads a task's file in a joined host's node directory.
func taskFile(t *testing.T, hostData, nodeID, taskID, name string) []byte {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(hostData, "nodes", nodeID, "workitems", "*", "*", taskID, name))
	if len(m) != 1 {
		t.Errorf("%s of %s on the joined host: %v", name, taskID, m)
		return nil
	}
	b, err := os.ReadFile(m[0])
	if err != nil {
		t.Error(err)
	}
	return b
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
