package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/batch/azbatch"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"

	"github.com/cobaltbatch/cobalt/internal/agent"
	"github.com/cobaltbatch/cobalt/internal/testenv"
)

// TestManyHostsSurviveReplicaAndHostLoss is issue #14's failure test in one
// run. In namespaces the test builds (a bridge in its own namespace, one
// namespace per machine, each with its own address): two control-plane
// replicas on PostgreSQL (--no-local-host: no nodes of their own) and two
// joined hosts, each given both replicas' URLs. A pool of four nodes, two on
// each host, runs 2,000 tasks; in the middle replica A is SIGKILLed and
// host 1's link goes down. The test's clients are given both replicas (a
// connection that fails goes to the other, as behind a load balancer).
// A long task runs on host 1 when it is cut off, and its node's fence kills
// it. Every task completes, no two executions of a task overlap (each
// records its start and end on the monotonic clock in its stdout.txt, which
// the test reads on the hosts), host 1 is lost, its nodes leave the pool
// and are replaced on host 2, and tasks on the remote nodes get IMDS tokens
// (through their agents, which moved to replica B) and read a blob.
func TestManyHostsSurviveReplicaAndHostLoss(t *testing.T) {
	if agent.DefaultIsolation() != agent.IsolationNetns {
		testenv.Unavailable(t, "netns isolation (root, Linux, ip netns)")
	}
	const (
		addrA, addrB   = "10.82.0.1", "10.82.0.2"
		addrH1, addrH2 = "10.82.0.11", "10.82.0.12"
		nTasks         = 2000
	)
	dsn := replicaDatabase(t)
	network := newMHNet(t)
	nsA, nsB := network.machine("a", addrA), network.machine("b", addrB)
	nsH1, nsH2 := network.machine("h1", addrH1), network.machine("h2", addrH2)
	bin := buildCobalt(t)
	content := t.TempDir()
	dirA, dirB := traversableTempDir(t), traversableTempDir(t)
	logs := t.TempDir()
	env := []string{"COBALT_STORE=" + dsn}
	// Both replicas on the default port base, each in its own namespace:
	// they serve on the same ports, at their own addresses.
	common := []string{"--store", dsn, "--content-dir", content, "--replica-poll", "300ms", "--no-local-host",
		"--host-heartbeat", "1s", "--host-lease", "4s", "--isolation", "process"}
	replicaA := startIn(t, nsA, filepath.Join(logs, "a.log"), "cobalt is ready", env,
		append([]string{bin, "up", "--data", dirA, "--public-address", addrA, "--replica-addresses", addrB}, common...)...)
	bundle := filepath.Join(t.TempDir(), "bundle.json")
	if out, err := exec.Command(bin, "--data", dirA, "replica", "export", "--out", bundle).CombinedOutput(); err != nil {
		t.Fatalf("replica export: %v\n%s", err, out)
	}
	startIn(t, nsB, filepath.Join(logs, "b.log"), "cobalt is ready", env,
		append([]string{bin, "up", "--data", dirB, "--public-address", addrB, "--replica-addresses", addrA, "--join-replica", bundle}, common...)...)
	defer func() {
		if t.Failed() {
			for _, f := range []string{"a.log", "b.log", "h1.log", "h2.log"} {
				t.Logf("%s:\n%s", f, tail(filepath.Join(logs, f)))
			}
		}
	}()

	configDir := t.TempDir()
	cli := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "COBALT_DATA="+dirA, "COBALT_CONFIG_DIR="+configDir, "AZURE_BATCH_ACCOUNT=acct1")
		out, err := cmd.Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("cobalt %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
		}
		return out
	}
	field := func(b []byte, path ...string) string {
		t.Helper()
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
		for _, p := range path {
			m, _ := v.(map[string]any)
			v = m[p]
		}
		s, _ := v.(string)
		return s
	}

	// Two hosts join, each told both replicas (A first).
	nodeAPIA := "https://" + addrA + ":40403"
	nodeAPIB := "https://" + addrB + ":40403"
	caFile := filepath.Join(dirA, "tls", "ca.pem")
	hostData := map[string]string{}
	for _, h := range []struct{ tag, ns string }{{"h1", nsH1}, {"h2", nsH2}} {
		tok := field(cli("host", "token", "create", "-o", "json"), "token")
		hostData[h.tag] = traversableTempDir(t)
		startIn(t, h.ns, filepath.Join(logs, h.tag+".log"), "", nil, bin, "host", "join", "--data", hostData[h.tag],
			"--control-plane", nodeAPIA+","+nodeAPIB, "--token", tok, "--ca-cert", caFile, "--max-nodes", "4")
	}

	// The installation's resources, through replica A and the CLI.
	cli("login")
	cli("group", "create", "-n", "rg1")
	identity := cli("identity", "create", "-g", "rg1", "-n", "id1")
	acct := cli("storage", "account", "create", "-g", "rg1", "-n", "sa1")
	cli("storage", "container", "create", "--account-name", "sa1", "-n", "inputs")
	src := filepath.Join(t.TempDir(), "hello.txt")
	if err := os.WriteFile(src, []byte("hello from sa1"), 0o644); err != nil {
		t.Fatal(err)
	}
	cli("storage", "blob", "upload", "--account-name", "sa1", "-c", "inputs", "-n", "hello.txt", "-f", src)
	cli("role", "assignment", "create", "--assignee", field(identity, "properties", "principalId"), "--role", "Storage Blob Data Reader",
		"--scope", field(acct, "id"))
	blobURL := field(cli("storage", "account", "show", "-g", "rg1", "-n", "sa1"), "properties", "primaryEndpoints", "blob")
	cli("batch", "account", "create", "-g", "rg1", "-n", "acct1")

	// The clients from here on know both replicas.
	e := clientEnv(t, dirA)
	e.HTTP = replicaClient(t, e.EP.CACertFile, []string{addrA, addrB})
	c, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	arm, err := armresources.NewClient(e.EP.SubscriptionID, e.Admin(), e.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	acctID := "/subscriptions/" + e.EP.SubscriptionID + "/resourceGroups/rg1/providers/Microsoft.Batch/batchAccounts/acct1"
	poll, err := arm.BeginCreateOrUpdateByID(c, acctID+"/pools/p1", "2024-07-01", armresources.GenericResource{
		Identity: &armresources.Identity{Type: to.Ptr(armresources.ResourceIdentityTypeUserAssigned),
			UserAssignedIdentities: map[string]*armresources.IdentityUserAssignedIdentitiesValue{field(identity, "id"): {}}},
		Properties: map[string]any{
			"vmSize": "STANDARD_D2S_V3",
			"deploymentConfiguration": map[string]any{"virtualMachineConfiguration": map[string]any{
				"imageReference": map[string]any{"publisher": "canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "latest"},
				"nodeAgentSkuId": "batch.node.ubuntu 24.04"}},
			"scaleSettings":    map[string]any{"fixedScale": map[string]any{"targetDedicatedNodes": 4}},
			"taskSlotsPerNode": 4,
		}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := poll.PollUntilDone(c, nil); err != nil {
		t.Fatal(err)
	}
	got, err := arm.GetByID(c, acctID, "2024-07-01", nil)
	if err != nil {
		t.Fatal(err)
	}
	endpoint, _ := got.Properties.(map[string]any)["accountEndpoint"].(string)
	bc := e.batchClient(t, endpoint)

	// Four nodes, two on each host.
	type nodeView struct{ id, ip, state string }
	nodes := func() []nodeView {
		var out []nodeView
		pager := bc.NewListNodesPager("p1", nil)
		for pager.More() {
			page, err := pager.NextPage(c)
			if err != nil {
				t.Fatalf("list nodes: %v", err)
			}
			for _, n := range page.Value {
				out = append(out, nodeView{deref(n.ID), deref(n.IPAddress), string(deref(n.State))})
			}
		}
		return out
	}
	var first []nodeView
	waitFor(c, t, "two idle nodes on each host", func() bool {
		first = nodes()
		on := map[string]int{}
		for _, n := range first {
			if n.state == "idle" {
				on[n.ip]++
			}
		}
		return on[addrH1] == 2 && on[addrH2] == 2
	})

	// 2,000 tasks of about 100 ms, every 25th of 3 s, each recording its
	// start, ticks and end on the monotonic clock (/proc/uptime, which no
	// namespace changes; 10 ms resolution, nanoseconds in the record).
	tick := func(n int, sleep string) string {
		return `/bin/sh -c 'up() { read u _ < /proc/uptime; echo "$1 ${u%.*}${u#*.}0000000"; }; up start; i=0; while [ $i -lt ` +
			strconv.Itoa(n) + ` ]; do sleep ` + sleep + `; up tick; i=$((i+1)); done; up end'`
	}
	short, long := tick(8, "0.01"), tick(60, "0.05")
	if _, err := bc.CreateJob(c, azbatch.CreateJobContent{ID: to.Ptr("j1"), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr("p1")}}, nil); err != nil {
		t.Fatal(err)
	}
	for from := 0; from < nTasks; from += 100 {
		var group azbatch.TaskGroup
		for i := from; i < from+100; i++ {
			group.Value = append(group.Value, azbatch.CreateTaskContent{ID: to.Ptr(fmt.Sprintf("m%04d", i)), CommandLine: to.Ptr(map[bool]string{true: long, false: short}[i%25 == 0])})
		}
		r, err := bc.CreateTaskCollection(c, "j1", group, nil)
		if err != nil {
			t.Fatalf("add task collection: %v", err)
		}
		for _, res := range r.Value {
			if deref(res.Status) != azbatch.TaskAddStatusSuccess {
				t.Fatalf("task %s not added: %+v", deref(res.TaskID), res.Error)
			}
		}
	}
	waitFor(c, t, "a quarter of the tasks done", func() bool {
		return *taskCounts(t, c, bc, "j1").Completed >= nTasks/4
	})
	// A long task runs on host 1 when it is cut off: its agent kills it
	// (the fence) before the control plane requeues it elsewhere.
	waitFor(c, t, "a long task running on host 1", func() bool {
		for _, x := range testenv.Runs(filepath.Join(hostData["h1"], "nodes"), "m") {
			if !x.Ended && x.Ticks >= 10 && x.Ticks < 30 {
				return true
			}
		}
		return false
	})

	// Replica A dies, and host 1 is cut off.
	if err := replicaA.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-replicaA.exited
	network.ip("link", "set", "mh-h1", "down")
	killedAt := time.Now()

	// Host 1's nodes become unusable, leave the pool, and are replaced on
	// host 2; every task completes.
	sawUnusable := false
	waitFor(c, t, "host 1's nodes replaced on host 2", func() bool {
		ns := nodes()
		onH2 := 0
		for _, n := range ns {
			if n.ip == addrH1 && n.state == "unusable" {
				sawUnusable = true
			}
			if n.ip == addrH1 {
				return false
			}
			if n.ip == addrH2 && (n.state == "idle" || n.state == "running") {
				onH2++
			}
		}
		return onH2 == 4
	})
	t.Logf("host 1's nodes replaced %s after the cut (unusable seen in a listing: %v)", time.Since(killedAt).Round(time.Second), sawUnusable)
	// Each was declared unusable (its tasks requeued) before it left the
	// pool; between the two a listing may not fall, replica B's log does.
	logB, _ := os.ReadFile(filepath.Join(logs, "b.log"))
	logH2, _ := os.ReadFile(filepath.Join(logs, "h2.log"))
	for _, n := range first {
		switch {
		case n.ip == addrH1 && (!logHas(logB, "node lost", n.id) || !logHas(logB, "node given up on its host removed from its pool", n.id)):
			t.Errorf("host 1's node %s was not declared unusable and removed by replica B", n.id)
		case n.ip == addrH2 && !logHas(logH2, "control-plane replica out of reach: the node moved to another", n.id):
			t.Errorf("host 2's node %s did not move to replica B", n.id)
		}
	}
	var hosts []struct {
		Address string `json:"address"`
		State   string `json:"state"`
	}
	hostsCmd := exec.Command(bin, "--data", dirB, "host", "list", "-o", "json")
	hostsCmd.Env = append(os.Environ(), "COBALT_STORE="+dsn)
	if out, err := hostsCmd.Output(); err != nil || json.Unmarshal(out, &hosts) != nil {
		t.Fatalf("host list: %v %s", err, out)
	}
	for _, h := range hosts {
		if h.Address == addrH1 && h.State != "lost" {
			t.Errorf("host 1 is %s, want lost", h.State)
		}
	}
	var last azbatch.TaskCounts
	waitFor(c, t, "every task completed", func() bool {
		last = taskCounts(t, c, bc, "j1")
		return *last.Completed == nTasks
	})
	if *last.Succeeded != nTasks {
		t.Errorf("%d of %d tasks succeeded", *last.Succeeded, nTasks)
		pager := bc.NewListTasksPager("j1", &azbatch.ListTasksOptions{Filter: to.Ptr("executionInfo/result eq 'failure'")})
		if page, err := pager.NextPage(c); err == nil && len(page.Value) > 0 {
			t.Errorf("a failed task: %s", mhTaskReport(page.Value[0], hostData["h1"], hostData["h2"]))
		}
	}
	t.Logf("all %d tasks completed %s after the failures", nTasks, time.Since(killedAt).Round(time.Second))

	// Tasks on the remote nodes get IMDS tokens through their agents (now
	// on replica B) and read a blob with them, at the URL replica A gave:
	// every node carries the replicas' addresses, forwarded to the live
	// one, whose certificate names A's address too.
	blob := strings.TrimSuffix(blobURL, "/") + "/inputs/hello.txt"
	script := `tok=$(curl -sSf 'http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://storage.azure.com/' -H Metadata:true | sed 's/.*"access_token":"//; s/".*//') && exec curl -sSf -H "Authorization: Bearer $tok" -H 'x-ms-version: 2023-11-03' ` + blob
	var group azbatch.TaskGroup
	for i := range 8 {
		group.Value = append(group.Value, azbatch.CreateTaskContent{ID: to.Ptr("imds" + strconv.Itoa(i)), CommandLine: to.Ptr("/bin/sh -c 'echo " + base64.StdEncoding.EncodeToString([]byte(script)) + " | base64 -d | /bin/sh'")})
	}
	if _, err := bc.CreateTaskCollection(c, "j1", group, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(c, t, "the IMDS tasks completed", func() bool {
		return *taskCounts(t, c, bc, "j1").Completed == nTasks+8
	})
	for i := range 8 {
		id := "imds" + strconv.Itoa(i)
		tk, err := bc.GetTask(c, "j1", id, nil)
		if err != nil {
			t.Fatal(err)
		}
		node := ""
		if tk.NodeInfo != nil {
			node = deref(tk.NodeInfo.NodeID)
		}
		m, _ := filepath.Glob(filepath.Join(hostData["h2"], "nodes", node, "workitems", "*", "*", id, "stdout.txt"))
		var out []byte
		if len(m) == 1 {
			out, _ = os.ReadFile(m[0])
		}
		if tk.ExecutionInfo == nil || deref(tk.ExecutionInfo.ExitCode) != 0 || string(out) != "hello from sa1" {
			t.Errorf("task %s on %s: stdout %q, %s", id, node, out, mhTaskReport(tk.Task, hostData["h2"]))
		}
		// The data plane (replica B, A is dead) serves the same file from
		// host 2's file API.
		if f, err := bc.GetTaskFile(c, "j1", id, "stdout.txt", nil); err != nil {
			t.Errorf("task %s's stdout.txt through replica B: %v", id, err)
		} else {
			served, _ := io.ReadAll(f.Body)
			f.Body.Close()
			if string(served) != string(out) {
				t.Errorf("task %s's stdout.txt through replica B: %q, on the host %q", id, served, out)
			}
		}
	}

	// Every execution of every task, on both hosts: each task ran to its
	// end once, and no two executions of one task overlap.
	byTask := map[string][]testenv.Run{}
	for _, h := range []string{"h1", "h2"} {
		for _, x := range testenv.Runs(filepath.Join(hostData[h], "nodes"), "m") {
			byTask[x.Task] = append(byTask[x.Task], x)
		}
	}
	cutShort, again := 0, 0
	for i := range nTasks {
		id := fmt.Sprintf("m%04d", i)
		xs := byTask[id]
		ended := 0
		for j, x := range xs {
			if x.Ended {
				ended++
			} else {
				cutShort++
			}
			for _, o := range xs[j+1:] {
				if x.Overlaps(o) {
					t.Errorf("task %s ran twice at once: on %s [%d, %d] and on %s [%d, %d]", id, x.Node, x.Start, x.Last, o.Node, o.Start, o.Last)
				}
			}
		}
		// A task that ended on the cut host unreported runs again
		// elsewhere (at least once, as in Batch): never at the same time.
		if ended == 0 {
			t.Errorf("task %s: no execution ran to its end: %+v", id, xs)
		}
		if ended > 1 {
			again++
		}
	}
	t.Logf("%d executions were cut short by the failures and ran again elsewhere; %d tasks ended on the cut host unreported and ran again", cutShort, again)
	logH1, _ := os.ReadFile(filepath.Join(logs, "h1.log"))
	if cutShort == 0 || !strings.Contains(string(logH1), "tasks killed before they are requeued elsewhere") {
		t.Errorf("the long task on host 1 was not killed by its node's fence (%d executions cut short)", cutShort)
	}
}

// logHas reports whether a log line has message msg about node.
func logHas(log []byte, msg, node string) bool {
	for _, line := range strings.Split(string(log), "\n") {
		if strings.Contains(line, `msg="`+msg+`"`) && strings.Contains(line, " node="+node) {
			return true
		}
	}
	return false
}

// mhTaskReport says how a task ended: its exit code, failure and stderr
// (read on the hosts).
func mhTaskReport(tk azbatch.Task, hostDirs ...string) string {
	r := "state " + string(deref(tk.State))
	if x := tk.ExecutionInfo; x != nil {
		r += fmt.Sprintf(", exit code %d", deref(x.ExitCode))
		if f := x.FailureInfo; f != nil {
			r += fmt.Sprintf(", failure %s %s", deref(f.Code), deref(f.Message))
		}
	}
	for _, d := range hostDirs {
		m, _ := filepath.Glob(filepath.Join(d, "nodes", "*", "workitems", "*", "*", deref(tk.ID), "stderr.txt"))
		for _, f := range m {
			b, _ := os.ReadFile(f)
			r += "\nstderr: " + string(b)
		}
	}
	return r
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
