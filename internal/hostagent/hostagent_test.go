package hostagent

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/agent"
	"github.com/cobaltbatch/cobalt/internal/batch"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
	"github.com/cobaltbatch/cobalt/internal/sandbox"
	"github.com/cobaltbatch/cobalt/internal/testenv"
)

func TestMain(m *testing.M) {
	sandbox.Main()
	testenv.LoopbackOnly(m)
}

// nodeAPI is a minimal in-test node API (a test double of internal/nodeapi):
// every credential "cred-<nodeID>" registers that node; heartbeats are
// counted per node; leases are always empty.
type nodeAPI struct {
	srv    *httptest.Server
	caFile string

	mu         sync.Mutex
	heartbeats map[string]int
	removed    map[string]bool
}

func newNodeAPI(t *testing.T) *nodeAPI { return newNodeAPIWith(t, nil) }

// newNodeAPIWith is newNodeAPI with configure, when set, called on the
// server before it starts.
func newNodeAPIWith(t *testing.T, configure func(*httptest.Server)) *nodeAPI {
	n := &nodeAPI{heartbeats: map[string]int{}, removed: map[string]bool{}}
	mux := http.NewServeMux()
	auth := func(w http.ResponseWriter, r *http.Request) (string, bool) {
		id, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer cred-")
		n.mu.Lock()
		gone := n.removed[id]
		n.mu.Unlock()
		if !ok || gone {
			w.WriteHeader(401)
			_ = json.NewEncoder(w).Encode(nodeproto.Error{Code: "Unauthorized"})
			return "", false
		}
		return id, true
	}
	mux.HandleFunc("POST "+nodeproto.PathRegister, func(w http.ResponseWriter, r *http.Request) {
		if id, ok := auth(w, r); ok {
			_ = json.NewEncoder(w).Encode(nodeproto.RegisterResponse{Config: nodeproto.NodeConfig{NodeID: id, PoolID: "p", TaskSlotsPerNode: 1}})
		}
	})
	mux.HandleFunc("POST "+nodeproto.PathHeartbeat, func(w http.ResponseWriter, r *http.Request) {
		if id, ok := auth(w, r); ok {
			n.mu.Lock()
			n.heartbeats[id]++
			n.mu.Unlock()
			_ = json.NewEncoder(w).Encode(nodeproto.HeartbeatResponse{})
		}
	})
	mux.HandleFunc("POST "+nodeproto.PathLease, func(w http.ResponseWriter, r *http.Request) {
		if _, ok := auth(w, r); ok {
			_, _ = io.Copy(io.Discard, r.Body)
			time.Sleep(100 * time.Millisecond)
			_ = json.NewEncoder(w).Encode(nodeproto.LeaseResponse{})
		}
	})
	n.srv = httptest.NewUnstartedServer(mux)
	if configure != nil {
		configure(n.srv)
	}
	n.srv.StartTLS()
	t.Cleanup(n.srv.Close)
	n.caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(n.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: n.srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return n
}

func (n *nodeAPI) waitHeartbeat(t *testing.T, id string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		n.mu.Lock()
		c := n.heartbeats[id]
		n.mu.Unlock()
		if c > 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("node %s never sent a heartbeat", id)
}

func waitAgent(t *testing.T, p *Provider, id string) *agent.Agent {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if a := p.Agent(id); a != nil {
			select {
			case <-a.Ready():
				return a
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	t.Fatalf("agent %s not ready", id)
	return nil
}

func testProvider(t *testing.T, api *nodeAPI, isolation string) *Provider {
	p := New(Config{ControlPlaneURL: api.srv.URL, CAFile: api.caFile, Isolation: isolation,
		HeartbeatInterval: 100 * time.Millisecond, LeaseWait: time.Second, IMDSRateLimit: "off"})
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func modes() []string {
	if agent.DefaultIsolation() == agent.IsolationNetns {
		return []string{agent.IsolationProcess, agent.IsolationNetns}
	}
	return []string{agent.IsolationProcess}
}

func TestProviderStartStop(t *testing.T) {
	t.Parallel()
	for _, mode := range modes() {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			api := newNodeAPI(t)
			p := testProvider(t, api, mode)
			ctx, cancel := context.WithCancel(context.Background())
			launch := NodeLaunch{NodeID: "n1-" + mode, PoolID: "p", AccountName: "a", Credential: "cred-n1-" + mode, RootDir: t.TempDir()}
			if err := p.StartNode(ctx, launch); err != nil {
				t.Fatal(err)
			}
			// Idempotent; and the agent outlives the request context.
			if err := p.StartNode(ctx, launch); err != nil {
				t.Fatal(err)
			}
			cancel()
			api.waitHeartbeat(t, launch.NodeID)
			a := waitAgent(t, p, launch.NodeID)
			ns := a.Namespace()
			if (mode == agent.IsolationNetns) != (ns != "") {
				t.Errorf("mode %s has namespace %q", mode, ns)
			}
			if got := p.Nodes(); len(got) != 1 || got[0] != launch.NodeID {
				t.Errorf("nodes %v", got)
			}
			if err := p.StopNode(context.Background(), launch.NodeID); err != nil {
				t.Fatal(err)
			}
			if p.Agent(launch.NodeID) != nil {
				t.Error("agent still listed after StopNode")
			}
			if ns != "" {
				if _, err := os.Stat(filepath.Join(agent.NetnsDir, ns)); !os.IsNotExist(err) {
					t.Errorf("namespace %s survives StopNode", ns)
				}
			}
			if err := p.StopNode(context.Background(), launch.NodeID); err != nil {
				t.Errorf("second StopNode: %v", err)
			}
		})
	}
}

// TestProviderConcurrentStartOfOneNode: StartNode writes the node's files
// outside the provider's lock, yet one node started from many goroutines at
// once gets one agent, and every call succeeds.
func TestProviderConcurrentStartOfOneNode(t *testing.T) {
	t.Parallel()
	api := newNodeAPI(t)
	p := testProvider(t, api, agent.IsolationProcess)
	launch := NodeLaunch{NodeID: "once", PoolID: "p", AccountName: "a", Credential: "cred-once", RootDir: t.TempDir()}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- p.StartNode(context.Background(), launch) }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("StartNode: %v", err)
		}
	}
	api.waitHeartbeat(t, launch.NodeID)
	waitAgent(t, p, launch.NodeID)
	if got := p.Nodes(); len(got) != 1 || got[0] != launch.NodeID {
		t.Errorf("nodes %v, want [once]", got)
	}
}

func TestProviderManyNodesAndClose(t *testing.T) {
	t.Parallel()
	api := newNodeAPI(t)
	p := testProvider(t, api, "")
	var ids []string
	for i := range 10 {
		id := "many-" + string(rune('a'+i))
		ids = append(ids, id)
		if err := p.StartNode(context.Background(), NodeLaunch{NodeID: id, PoolID: "p", AccountName: "a", Credential: "cred-" + id, RootDir: t.TempDir()}); err != nil {
			t.Fatal(err)
		}
	}
	var namespaces []string
	for _, id := range ids {
		api.waitHeartbeat(t, id)
		if ns := waitAgent(t, p, id).Namespace(); ns != "" {
			namespaces = append(namespaces, ns)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if len(p.Nodes()) != 0 {
		t.Errorf("nodes after Close: %v", p.Nodes())
	}
	for _, ns := range namespaces {
		if _, err := os.Stat(filepath.Join(agent.NetnsDir, ns)); !os.IsNotExist(err) {
			t.Errorf("namespace %s survives Close", ns)
		}
	}
	if err := p.StartNode(context.Background(), NodeLaunch{NodeID: "late", Credential: "cred-late", RootDir: t.TempDir()}); err == nil {
		t.Error("StartNode after Close succeeded")
	}
}

func TestProviderNodeRemovedByControlPlane(t *testing.T) {
	t.Parallel()
	api := newNodeAPI(t)
	p := testProvider(t, api, agent.IsolationProcess)
	if err := p.StartNode(context.Background(), NodeLaunch{NodeID: "gone", Credential: "cred-gone", RootDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	api.waitHeartbeat(t, "gone")
	api.mu.Lock()
	api.removed["gone"] = true
	api.mu.Unlock()
	deadline := time.Now().Add(20 * time.Second)
	for p.Agent("gone") != nil {
		if time.Now().After(deadline) {
			t.Fatal("agent keeps running after its credential was revoked")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestProviderSweepsStaleNamespaces(t *testing.T) {
	if agent.DefaultIsolation() != agent.IsolationNetns {
		testenv.Unavailable(t, "netns isolation (root, Linux, ip netns)")
	}
	t.Parallel()
	stale := agent.NamespaceName(4194302, "crashed") // a pid that is not running
	if err := os.MkdirAll(agent.NetnsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := execIP("netns", "add", stale); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	t.Cleanup(func() { _, _ = execIP("netns", "delete", stale) })
	api := newNodeAPI(t)
	testProvider(t, api, agent.IsolationNetns)
	if _, err := os.Stat(filepath.Join(agent.NetnsDir, stale)); !os.IsNotExist(err) {
		t.Errorf("stale namespace %s not swept at provider start", stale)
	}
}

// TestProviderRestartsNodeFromPersistedCredential is a control-plane restart
// as the local provider sees it: a node started with its credential is
// started again by a new provider with none, reads the persisted credential
// (0600, in a 0700 directory outside the node directory the data plane
// serves) and registers with it; a third provider cannot start it while it
// runs; a node that never persisted one cannot start; StopNode deletes the
// credential.
func TestProviderRestartsNodeFromPersistedCredential(t *testing.T) {
	t.Parallel()
	api := newNodeAPI(t)
	base := t.TempDir()
	root := filepath.Join(base, "node1")
	p := testProvider(t, api, agent.IsolationProcess)
	if err := p.StartNode(context.Background(), NodeLaunch{NodeID: "node1", Credential: "cred-node1", RootDir: root}); err != nil {
		t.Fatal(err)
	}
	api.waitHeartbeat(t, "node1")
	path := CredentialPath(root)
	if strings.HasPrefix(path, root+string(filepath.Separator)) {
		t.Errorf("credential %s is inside the node directory", path)
	}
	for file, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
		st, err := os.Stat(file)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", file, st.Mode().Perm(), want)
		}
	}
	if err := p.Close(); err != nil { // the control plane's process ends; the node directory stays
		t.Fatal(err)
	}

	api.mu.Lock()
	api.heartbeats["node1"] = 0
	api.mu.Unlock()
	p2 := testProvider(t, api, agent.IsolationProcess)
	if err := p2.StartNode(context.Background(), NodeLaunch{NodeID: "node1", RootDir: root}); err != nil {
		t.Fatalf("restart with the persisted credential: %v", err)
	}
	api.waitHeartbeat(t, "node1")
	// Another process of this host (a replica sharing the node directories)
	// must not start the node its agent runs.
	p3 := testProvider(t, api, agent.IsolationProcess)
	if err := p3.StartNode(context.Background(), NodeLaunch{NodeID: "node1", RootDir: root}); !errors.Is(err, batch.ErrNodeRunning) {
		t.Errorf("second process started a running node: %v, want batch.ErrNodeRunning", err)
	}
	if err := p2.StartNode(context.Background(), NodeLaunch{NodeID: "never", RootDir: filepath.Join(base, "never")}); !errors.Is(err, ErrNoCredential) {
		t.Errorf("start without any credential: %v, want ErrNoCredential", err)
	}
	if err := p2.StopNode(context.Background(), "node1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("credential survives StopNode: %v", err)
	}
}

// TestSandboxedNodeKeepsItsUIDRange: a sandboxed node's uid range is
// recorded beside its credential and given back when the node restarts
// (its files keep their owners); two live nodes never share one; when the
// recorded range is taken, the restarted node gets another and its files
// move to it, so it still works; StopNode forgets the record. Not
// parallel: other tests of this package would take freed ranges.
func TestSandboxedNodeKeepsItsUIDRange(t *testing.T) {
	if agent.DefaultIsolation() != agent.IsolationNetns {
		t.Skip("node sandboxes are not available here")
	}
	api := newNodeAPI(t)
	base := t.TempDir()
	rootA, rootB := filepath.Join(base, "na"), filepath.Join(base, "nb")
	slot := func(root string) int {
		t.Helper()
		b, err := os.ReadFile(statePath(root))
		if err != nil {
			t.Fatal(err)
		}
		var st struct {
			UIDSlot *int `json:"uidSlot"`
		}
		if err := json.Unmarshal(b, &st); err != nil || st.UIDSlot == nil {
			t.Fatalf("state %s: %v", b, err)
		}
		return *st.UIDSlot
	}
	owner := func(path string) uint32 {
		t.Helper()
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return st.Sys().(*syscall.Stat_t).Uid
	}
	p := testProvider(t, api, agent.IsolationNetns)
	for _, n := range []struct{ id, root string }{{"na", rootA}, {"nb", rootB}} {
		if err := p.StartNode(context.Background(), NodeLaunch{NodeID: n.id, Credential: "cred-" + n.id, RootDir: n.root}); err != nil {
			t.Fatal(err)
		}
		waitAgent(t, p, n.id)
	}
	a, b := slot(rootA), slot(rootB)
	if a == b || owner(rootA) == owner(rootB) || owner(rootA) < sandbox.FirstHostUID {
		t.Errorf("two live nodes share a uid range or own their directories as a host user: slots %d %d, owners %d %d",
			a, b, owner(rootA), owner(rootB))
	}
	before := owner(rootA)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	p2 := testProvider(t, api, agent.IsolationNetns)
	if err := p2.StartNode(context.Background(), NodeLaunch{NodeID: "na", RootDir: rootA}); err != nil {
		t.Fatal(err)
	}
	waitAgent(t, p2, "na")
	if slot(rootA) != a || owner(rootA) != before {
		t.Errorf("the restarted node got slot %d (owner %d), want %d (owner %d)", slot(rootA), owner(rootA), a, before)
	}
	if err := p2.Close(); err != nil {
		t.Fatal(err)
	}

	held, err := sandbox.AcquireRange(a)
	if err != nil || held.Slot != a {
		t.Fatalf("hold slot %d: %v", a, err)
	}
	defer held.Release()
	p3 := testProvider(t, api, agent.IsolationNetns)
	if err := p3.StartNode(context.Background(), NodeLaunch{NodeID: "na", RootDir: rootA}); err != nil {
		t.Fatal(err)
	}
	waitAgent(t, p3, "na")
	moved := slot(rootA)
	if moved == a || owner(rootA) != sandbox.RangeBase(moved) || owner(filepath.Join(rootA, "workitems")) != sandbox.RangeBase(moved) {
		t.Errorf("restart with its range taken: slot %d, owners %d and %d, want the base of slot %d",
			moved, owner(rootA), owner(filepath.Join(rootA, "workitems")), moved)
	}
	if err := p3.StopNode(context.Background(), "na"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(statePath(rootA)); !os.IsNotExist(err) {
		t.Errorf("the uid range record survives StopNode: %v", err)
	}
}
