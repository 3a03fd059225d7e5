package batch

import (
	"context"
	"strings"
	"testing"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

func TestAllocatorGrowShrink(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.put("p1", armPool(3, uami1))
	p := e.settle("p1")
	if p.CurrentDedicatedNodes != 3 || p.AllocationState != AllocSteady {
		t.Fatalf("pool after grow: current %d, state %s", p.CurrentDedicatedNodes, p.AllocationState)
	}
	ns := e.nodes_("p1")
	if len(ns) != 3 {
		t.Fatalf("%d nodes", len(ns))
	}
	for _, n := range ns {
		if !strings.HasPrefix(n.ID, "tvm-") || n.State != NodeCreating || len(n.Identities) != 1 || n.Identities[0].ClientID != "cid-id1" {
			t.Fatalf("node %+v", n)
		}
	}
	if s, _ := e.nodes.counts(); s != 3 {
		t.Fatalf("StartNode called %d times", s)
	}
	// Credentials authenticate their own node only.
	e.nodes.mu.Lock()
	l := e.nodes.started[0]
	e.nodes.mu.Unlock()
	n, err := e.svc.NodeAuthenticate(context.Background(), l.Credential)
	if err != nil || n.ID != l.NodeID {
		t.Fatalf("authenticate: %v %v", n, err)
	}
	if _, err := e.svc.NodeAuthenticate(context.Background(), l.NodeID+".wrong"); err == nil {
		t.Fatal("a wrong secret authenticated")
	}
	// Make one node idle and one running, then shrink to 1: the running one stays.
	hb := func(id, state string) {
		n, err := e.svc.NodeAuthenticate(context.Background(), credOf(e, id))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.NodeHeartbeat(context.Background(), n, nodeproto.HeartbeatRequest{NodeID: id, State: state}); err != nil {
			t.Fatal(err)
		}
	}
	for i, n := range ns {
		hb(n.ID, []string{"running", "idle", "idle"}[i])
	}
	e.put("p1", armPool(1, uami1))
	p = e.settle("p1")
	ns = e.nodes_("p1")
	if p.CurrentDedicatedNodes != 1 || len(ns) != 1 || ns[0].State != NodeRunning {
		t.Fatalf("after shrink: current %d, nodes %+v", p.CurrentDedicatedNodes, ns)
	}
	if _, stopped := e.nodes.counts(); stopped != 2 {
		t.Fatalf("StopNode called %d times", stopped)
	}
}

func credOf(e *env, nodeID string) string {
	e.nodes.mu.Lock()
	defer e.nodes.mu.Unlock()
	for _, l := range e.nodes.started {
		if l.NodeID == nodeID {
			return l.Credential
		}
	}
	e.t.Fatalf("no launch for %s", nodeID)
	return ""
}
