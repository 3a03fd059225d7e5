package batch

import (
	"context"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
	"github.com/cobaltbatch/cobalt/internal/store"
)

func (e *env) addHost(h store.HostRecord) {
	e.t.Helper()
	if h.State == "" {
		h.State = store.HostReady
	}
	if _, err := e.st.HostCreate(context.Background(), h); err != nil {
		e.t.Fatal(err)
	}
}

func nodesByHost(ns []*Node) map[string][]*Node {
	out := map[string][]*Node{}
	for _, n := range ns {
		out[n.HostID] = append(out[n.HostID], n)
	}
	return out
}

// TestPlacementByHostCapacity: a pool spreads over the ready hosts with
// room, never on lost or revoked ones; the local provider starts only the
// local host's nodes; a joined host's node has its host's address and no
// credential until its own host asks, once.
func TestPlacementByHostCapacity(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.LocalHostID, c.PublicAddress = "local", "10.0.0.1" })
	e.addHost(store.HostRecord{ID: "local", Local: true, Address: "10.0.0.1", MaxNodes: 2})
	e.addHost(store.HostRecord{ID: "h1", Address: "10.0.0.2", MaxNodes: 3})
	e.addHost(store.HostRecord{ID: "h2", Address: "10.0.0.3", MaxNodes: 10, State: store.HostLost})
	e.addHost(store.HostRecord{ID: "h3", Address: "10.0.0.4", MaxNodes: 10, State: store.HostRevoked})
	e.put("p1", armPool(4))
	e.settle("p1")
	by := nodesByHost(e.nodes_("p1"))
	if len(by["local"]) != 2 || len(by["h1"]) != 2 || len(by) != 2 {
		t.Fatalf("4 nodes over local (2) and h1 (3): %v", by)
	}
	if started, _ := e.nodes.counts(); started != 2 {
		t.Fatalf("the local provider started %d nodes, want the local host's 2", started)
	}
	for _, n := range by["local"] {
		if n.IPAddress != "10.0.0.1" {
			t.Fatalf("local node address %q", n.IPAddress)
		}
	}
	remote := by["h1"][0]
	if remote.IPAddress != "10.0.0.2" {
		t.Fatalf("h1 node address %q", remote.IPAddress)
	}
	ctx := context.Background()
	if r, _ := e.st.NodeGet(ctx, remote.ID); len(r.CredentialHash) != 0 {
		t.Fatal("a joined host's node has a credential before its host asked")
	}
	// Attacks: another host, the local host's node, a lost host.
	for _, c := range []struct{ host, node string }{{"h3", remote.ID}, {"h2", remote.ID}, {"h1", by["local"][0].ID}, {"h1", "tvm-none"}} {
		if _, err := e.svc.MintHostNodeCredential(ctx, c.host, c.node); !cobalt.IsCode(err, cobalt.ENotFound) {
			t.Fatalf("host %s got node %s's credential: %v", c.host, c.node, err)
		}
	}
	l, err := e.svc.MintHostNodeCredential(ctx, "h1", remote.ID)
	if err != nil || l.PoolID != "p1" || l.AccountName != "acct1" {
		t.Fatalf("mint: %+v %v", l, err)
	}
	if n, err := e.svc.NodeAuthenticate(ctx, l.Credential); err != nil || n.ID != remote.ID {
		t.Fatalf("the issued credential: %v %v", n, err)
	}
	if _, err := e.svc.MintHostNodeCredential(ctx, "h1", remote.ID); !cobalt.IsCode(err, cobalt.ENotFound) {
		t.Fatalf("a second credential was issued: %v", err)
	}
	// Full: the fifth and sixth fit (h1 has one more, then none).
	e.put("p1", armPool(5))
	e.settle("p1")
	if by := nodesByHost(e.nodes_("p1")); len(by["h1"]) != 3 || len(by["local"]) != 2 {
		t.Fatalf("5 nodes: %v", by)
	}
	e.put("p1", armPool(6))
	for range 5 {
		if err := e.svc.Reconcile(ctx, "test"); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(e.nodes_("p1")); n != 5 {
		t.Fatalf("%d nodes with room for 5", n)
	}
}

// giveUpHost does to a host what hostapi's lease sweep does to a silent
// one: lost, its nodes' credentials refused and their leases ended.
func (e *env) giveUpHost(hostID string) {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.st.HostUpdate(ctx, hostID, func(r *store.HostRecord) error { r.State = store.HostLost; return nil }); err != nil {
		e.t.Fatal(err)
	}
	rs, _, err := e.st.NodeList(ctx, store.NodeListParams{HostID: hostID, Page: store.Page{Limit: 100}})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, r := range rs {
		if _, err := e.st.NodeUpdate(ctx, r.ID, func(x *store.NodeRecord) error {
			x.CredentialHash, x.LeaseExpiry = nil, e.clock()
			return nil
		}); err != nil {
			e.t.Fatal(err)
		}
	}
}

// TestLostHostNodesReplaced: the nodes of a host given up become unusable,
// their tasks are requeued (NodeLost), they leave the pool, and the pool
// gets new nodes on the host with room; their old credentials are refused.
func TestLostHostNodesReplaced(t *testing.T) {
	t.Parallel()
	lost := &lostRecorder{}
	e := newEnv(t, nil)
	e.svc.SubscribeNodeLost(lost.NodeLost)
	e.addHost(store.HostRecord{ID: "h1", Address: "10.0.0.2", MaxNodes: 2})
	e.addHost(store.HostRecord{ID: "h2", Address: "10.0.0.3", MaxNodes: 2})
	e.put("p1", armPool(2))
	e.settle("p1")
	ctx := context.Background()
	by := nodesByHost(e.nodes_("p1"))
	if len(by["h1"]) != 1 || len(by["h2"]) != 1 {
		t.Fatalf("placement %v", by)
	}
	gone := by["h1"][0]
	l, err := e.svc.MintHostNodeCredential(ctx, "h1", gone.ID)
	if err != nil {
		t.Fatal(err)
	}
	n, err := e.svc.NodeAuthenticate(ctx, l.Credential)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.NodeHeartbeat(ctx, n, nodeproto.HeartbeatRequest{NodeID: n.ID, State: "running"}); err != nil {
		t.Fatal(err)
	}
	e.giveUpHost("h1")
	e.advance(time.Second)
	p := e.settle("p1")
	by = nodesByHost(e.nodes_("p1"))
	if p.CurrentDedicatedNodes != 2 || len(by["h2"]) != 2 || len(by["h1"]) != 0 {
		t.Fatalf("after h1 was lost: current %d, placement %v", p.CurrentDedicatedNodes, by)
	}
	if got := lost.lostIDs(); len(got) == 0 || got[0] != gone.ID {
		t.Fatalf("lost nodes %v, want %s (its tasks requeued)", got, gone.ID)
	}
	if _, err := e.svc.NodeAuthenticate(ctx, l.Credential); err == nil {
		t.Fatal("the given-up node's credential still authenticates")
	}
}

// TestInterNodePoolStaysOnOneHost: a pool with inter-node communication
// goes to the host with the most room and grows only there (its private
// network is a switch on that host); when that host is full it waits
// rather than putting a node where the others cannot reach it. A pool
// without it still spreads.
func TestInterNodePoolStaysOnOneHost(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.addHost(store.HostRecord{ID: "h1", Address: "10.0.0.2", MaxNodes: 3})
	e.addHost(store.HostRecord{ID: "h2", Address: "10.0.0.3", MaxNodes: 5})
	inter := func(n int) *Spec {
		s := armPool(n)
		s.Pool.EnableInterNodeCommunication = true
		s.Set(FInterNode)
		return s
	}
	e.put("mpi", inter(2))
	e.settle("mpi")
	if by := nodesByHost(e.nodes_("mpi")); len(by["h2"]) != 2 || len(by) != 1 {
		t.Fatalf("2 inter-node nodes: %v, want both on h2 (most room)", by)
	}
	e.put("spread", armPool(2))
	e.settle("spread")
	if by := nodesByHost(e.nodes_("spread")); len(by["h1"]) != 1 || len(by["h2"]) != 1 {
		t.Fatalf("a pool without inter-node communication: %v, want one per host", by)
	}
	// h2 has room for two more of mpi's nodes (5 - 3); h1 has two free
	// slots too, which mpi must not use.
	e.put("mpi", inter(6))
	ctx := context.Background()
	for range 5 {
		if err := e.svc.Reconcile(ctx, "test"); err != nil {
			t.Fatal(err)
		}
	}
	if by := nodesByHost(e.nodes_("mpi")); len(by["h2"]) != 4 || len(by) != 1 {
		t.Fatalf("6 inter-node nodes asked, h2 full at 4 of them: %v", by)
	}
}
