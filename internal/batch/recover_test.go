package batch

import (
	"context"
	"errors"
	"github.com/cobaltbatch/cobalt/internal/errwire"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
	"github.com/cobaltbatch/cobalt/internal/store"
	"github.com/cobaltbatch/cobalt/internal/store/storetest"
)

// restarter is a NodeProvider of a restarted control plane: it has no
// running agent, and can start again only the nodes it kept a credential for.
type restarter struct {
	mu        sync.Mutex
	creds     map[string]bool // node IDs with a persisted credential
	elsewhere map[string]bool // node IDs whose agent another process runs
	started   []NodeLaunch
}

func (r *restarter) StartNode(_ context.Context, n NodeLaunch) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.elsewhere[n.NodeID] {
		return ErrNodeRunning
	}
	if n.Credential == "" && !r.creds[n.NodeID] {
		return errors.New("no persisted credential")
	}
	r.started = append(r.started, n)
	return nil
}

func (r *restarter) StopNode(context.Context, string) error { return nil }

// TestRecoverNodes restarts the pool service on a store with running nodes:
// a node whose directory is on this host and whose credential the provider
// kept is started again with its ID and no credential in the launch, shown
// rebooting and given time to register (no allocator pass declares it lost
// meanwhile); one whose credential is gone is lost (unusable, tasks
// requeued); one whose agent another process of this host runs, and one
// whose directory is not on this host, are left alone.
func TestRecoverNodes(t *testing.T) {
	t.Parallel()
	testRecoverNodes(t, storetest.SQLite(t)(t))
}

// TestRecoverNodesPostgres is TestRecoverNodes on PostgreSQL
// (TEST_POSTGRES_URL), which several replicas share: a replica recovers only
// the nodes whose directories are on its host.
func TestRecoverNodesPostgres(t *testing.T) {
	t.Parallel()
	testRecoverNodes(t, storetest.Postgres(t)(t))
}

func testRecoverNodes(t *testing.T, st store.Store) {
	root := t.TempDir()
	lost := &lostRecorder{}
	e := newEnvOn(t, st, func(c *Config) { c.NodeRootDir = root })
	e.svc.SubscribeNodeLost(lost.NodeLost)
	e.put("p", armPool(4, uami1))
	e.settle("p")
	nodes := e.nodes_("p")
	if len(nodes) != 4 {
		t.Fatalf("%d nodes", len(nodes))
	}
	ctx := context.Background()
	for _, n := range nodes {
		if _, err := e.svc.NodeRegister(ctx, n, nodeproto.RegisterRequest{NodeID: n.ID}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.NodeHeartbeat(ctx, n, nodeproto.HeartbeatRequest{NodeID: n.ID, State: NodeIdle, RunningLeases: []string{"l-" + n.ID}}); err != nil {
			t.Fatal(err)
		}
	}
	ok, gone, foreign, other := nodes[0], nodes[1], nodes[2], nodes[3]
	for _, n := range []*Node{ok, gone, other} {
		if err := os.MkdirAll(filepath.Join(root, n.ID), 0o755); err != nil {
			t.Fatal(err)
		}
	}

	// The process ended; it restarts ten minutes later.
	e.advance(10 * time.Minute)
	prov := &restarter{creds: map[string]bool{ok.ID: true, other.ID: true}, elsewhere: map[string]bool{other.ID: true}}
	svc, err := New(Config{Store: e.st, Now: e.clock, Nodes: prov, Identities: e.dir, NodeRootDir: root})
	if err != nil {
		t.Fatal(err)
	}
	svc.SubscribeNodeLost(lost.NodeLost)
	started, err := svc.RecoverNodes(ctx)
	if err != nil || started != 1 {
		t.Fatalf("RecoverNodes = %d, %v; want 1 node started", started, err)
	}
	want := NodeLaunch{NodeID: ok.ID, PoolID: "p", AccountName: "acct1", RootDir: filepath.Join(root, ok.ID)}
	if len(prov.started) != 1 || prov.started[0] != want {
		t.Fatalf("launches %+v, want %+v", prov.started, want)
	}
	if err := svc.Reconcile(ctx, "restarted"); err != nil {
		t.Fatal(err)
	}
	get := func(id string) *Node {
		n, err := svc.NodeGet(ctx, e.acct.Key(), "p", id)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := get(ok.ID); n.State != NodeRebooting || len(n.RunningLeases) != 0 || len(n.Errors) != 0 {
		t.Fatalf("recovered node: state %s, leases %v, errors %+v; want rebooting without leases or errors", n.State, n.RunningLeases, n.Errors)
	}
	if n := get(gone.ID); n.State != NodeUnusable || len(n.Errors) == 0 || n.Errors[0].Code != errwire.CodeNodeRecoveryFailed {
		t.Fatalf("unrecoverable node: state %s, errors %+v", n.State, n.Errors)
	}
	if !slices.Contains(lost.lostIDs(), gone.ID) || slices.Contains(lost.lostIDs(), ok.ID) || slices.Contains(lost.lostIDs(), other.ID) {
		t.Fatalf("lost nodes %v: want %s and neither %s nor %s", lost.lostIDs(), gone.ID, ok.ID, other.ID)
	}
	if n := get(other.ID); n.State == NodeUnusable || len(n.Errors) != 0 {
		t.Fatalf("node run by another process: state %s, errors %+v", n.State, n.Errors)
	}
	if slices.ContainsFunc(prov.started, func(l NodeLaunch) bool { return l.NodeID == foreign.ID }) {
		t.Fatal("a node whose directory is on another host was started here")
	}

	// The recovered node's agent registers and reports: it is back.
	n := get(ok.ID)
	if _, err := svc.NodeRegister(ctx, n, nodeproto.RegisterRequest{NodeID: n.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.NodeHeartbeat(ctx, n, nodeproto.HeartbeatRequest{NodeID: n.ID, State: NodeIdle}); err != nil {
		t.Fatal(err)
	}
	if n := get(ok.ID); n.State != NodeIdle {
		t.Fatalf("recovered node is %s after registering", n.State)
	}
}
