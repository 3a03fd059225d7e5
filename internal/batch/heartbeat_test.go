package batch

import (
	"context"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// A heartbeat that changes nothing is a touch: the lease moves on, the
// node's body stays; one that changes anything, or comes with a node read
// before another writer changed it, takes the full update.
func TestHeartbeatTouch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.put("p1", armPool(1, uami1))
	e.settle("p1")
	id := e.nodes_("p1")[0].ID
	ctx := context.Background()
	get := func() *Node {
		n, err := e.svc.NodeGet(ctx, e.nodes_("p1")[0].AccountKey, "p1", id)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	e.heartbeat(id, NodeIdle)
	n1 := get()
	if n1.State != NodeIdle {
		t.Fatalf("state %s", n1.State)
	}
	auth, err := e.svc.NodeAuthenticate(ctx, credOf(e, id))
	if err != nil {
		t.Fatal(err)
	}
	if !heartbeatOnly(auth, nodeproto.HeartbeatRequest{State: NodeIdle}) {
		t.Fatal("an unchanged idle heartbeat is not a touch")
	}
	for _, req := range []nodeproto.HeartbeatRequest{
		{State: NodeRunning},
		{State: NodeIdle, RunningLeases: []string{"l1"}},
		{State: NodeIdle, StartTaskInfo: &nodeproto.StartTaskInfo{State: "running"}},
		{State: NodeIdle, LogUploads: []nodeproto.LogUploadResult{{ID: "u1", Files: 1}}},
		{State: NodeIdle, RemoteLoginPort: 50022},
	} {
		if heartbeatOnly(auth, req) {
			t.Fatalf("%+v counted as a touch", req)
		}
	}
	if _, err := e.svc.NodeHeartbeat(ctx, auth, nodeproto.HeartbeatRequest{NodeID: id, State: NodeIdle}); err != nil {
		t.Fatal(err)
	}
	n2 := get()
	if n2.Version != n1.Version+1 || !n2.HeartbeatAt.After(n1.HeartbeatAt) && !n2.HeartbeatAt.Equal(n1.HeartbeatAt) || n2.State != NodeIdle {
		t.Fatalf("after touch: %+v (before %+v)", n2.Node, n1.Node)
	}
	// auth is now stale: the reported running state still lands.
	if _, err := e.svc.NodeHeartbeat(ctx, auth, nodeproto.HeartbeatRequest{NodeID: id, State: NodeIdle, RunningLeases: []string{"l1"}}); err != nil {
		t.Fatal(err)
	}
	if n3 := get(); n3.Version != n2.Version+1 || len(n3.RunningLeases) != 1 {
		t.Fatalf("after a full update on a stale read: %+v", n3.Node)
	}
	// A stale read of an unchanged heartbeat falls back to the full update too.
	if _, err := e.svc.NodeHeartbeat(ctx, auth, nodeproto.HeartbeatRequest{NodeID: id, State: NodeIdle}); err != nil {
		t.Fatal(err)
	}
	if n4 := get(); len(n4.RunningLeases) != 0 {
		t.Fatalf("a touch on a stale read kept the old leases: %+v", n4.Node)
	}
}

// Concurrent touches share statements and each gets its own answer: the
// current version takes, a stale one does not, a node's second touch in
// flight waits for the next statement.
func TestToucherBatches(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.put("p1", armPool(8, uami1))
	e.settle("p1")
	ns := e.nodes_("p1")
	var b toucher
	ctx := context.Background()
	now := time.Now()
	type res struct {
		i   int
		ok  bool
		err error
	}
	out := make(chan res, 2*len(ns))
	for i, n := range ns {
		v := n.Version
		if i%2 == 1 {
			v += 10 // stale
		}
		go func() {
			ok, err := b.touch(ctx, e.svc.cfg.Store, store.NodeTouch{NodeID: n.ID, Version: v, HeartbeatAt: now, LeaseExpiry: now.Add(time.Minute)})
			out <- res{i, ok, err}
		}()
	}
	for range ns {
		r := <-out
		if r.err != nil || r.ok != (r.i%2 == 0) {
			t.Fatalf("touch %d: %v %v", r.i, r.ok, r.err)
		}
	}
	// Two touches of one node at once: one takes, the other finds the version moved.
	n := e.nodes_("p1")[0]
	for range 2 {
		go func() {
			ok, err := b.touch(ctx, e.svc.cfg.Store, store.NodeTouch{NodeID: n.ID, Version: n.Version, HeartbeatAt: now, LeaseExpiry: now})
			out <- res{0, ok, err}
		}()
	}
	r1, r2 := <-out, <-out
	if r1.err != nil || r2.err != nil || r1.ok == r2.ok {
		t.Fatalf("two touches of one node: %+v %+v", r1, r2)
	}
}
