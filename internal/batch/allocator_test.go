package batch

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/errwire"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
	"github.com/cobaltbatch/cobalt/internal/store"
	"github.com/cobaltbatch/cobalt/internal/store/storetest"
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

func (e *env) heartbeat(nodeID, state string) []string {
	e.t.Helper()
	n, err := e.svc.NodeAuthenticate(context.Background(), credOf(e, nodeID))
	if err != nil {
		e.t.Fatal(err)
	}
	cmds, err := e.svc.NodeHeartbeat(context.Background(), n, nodeproto.HeartbeatRequest{NodeID: nodeID, State: state})
	if err != nil {
		e.t.Fatal(err)
	}
	return cmds
}

func TestAllocatorCapacityLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.MaxNodes = 4 })
	e.put("p1", armPool(3))
	e.settle("p1")
	e.put("p2", armPool(3))
	p := e.settle("p2")
	if p.CurrentDedicatedNodes != 1 || len(p.Resize.Errors) != 1 || p.Resize.Errors[0].Code != errwire.CodeAccountCoreQuotaReached {
		t.Fatalf("p2 = current %d, errors %+v", p.CurrentDedicatedNodes, p.Resize.Errors)
	}
	// (The renderings show the error while steady: their tests are in
	// internal/arm/batchprovider and internal/batchapi.)
	// A later successful resize clears the error.
	e.put("p2", armPool(1))
	if p = e.settle("p2"); len(p.Resize.Errors) != 0 {
		t.Fatalf("errors after a good resize: %+v", p.Resize.Errors)
	}
}

func TestAllocatorResizeTimeoutAndStop(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.MaxNodes = 2 })
	// Stop a resize before the allocator runs: the pool stays at its current size.
	e.put("p1", armPool(2))
	if _, err := e.svc.PoolStopResize(context.Background(), e.acct.Key(), "p1", Conditions{}); err != nil {
		t.Fatal(err)
	}
	p, _ := e.svc.PoolGet(context.Background(), e.acct.Key(), "p1")
	if p.AllocationState != AllocStopping {
		t.Fatalf("after stopResize: %s", p.AllocationState)
	}
	p = e.settle("p1")
	if p.TargetDedicatedNodes != 0 || p.CurrentDedicatedNodes != 0 {
		t.Fatalf("after stop: target %d current %d", p.TargetDedicatedNodes, p.CurrentDedicatedNodes)
	}
	// A resize that cannot finish (capacity taken by another pool) times out.
	e.put("p2", armPool(2))
	e.settle("p2")
	if _, err := e.svc.PoolResize(context.Background(), e.acct.Key(), "p1", ResizeRequest{TargetDedicatedNodes: ptr32(1), ResizeTimeout: "PT5M"}, Conditions{}); err != nil {
		t.Fatal(err)
	}
	e.advance(6 * time.Minute)
	p = e.settle("p1")
	if len(p.Resize.Errors) != 1 || p.Resize.Errors[0].Code != errwire.CodeAllocationTimedOut {
		t.Fatalf("errors = %+v", p.Resize.Errors)
	}
	// Resizing a resizing pool is a conflict.
	if _, err := e.svc.PoolResize(context.Background(), e.acct.Key(), "p1", ResizeRequest{TargetDedicatedNodes: ptr32(1)}, Conditions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.PoolResize(context.Background(), e.acct.Key(), "p1", ResizeRequest{TargetDedicatedNodes: ptr32(0)}, Conditions{}); cobalt.ErrorReason(err) != "PoolNotSteady" {
		t.Fatalf("resize while resizing: %v", err)
	}
}

func ptr32(i int32) *int32 { return &i }

func TestAllocatorTaskCompletionAndLostNodes(t *testing.T) {
	t.Parallel()
	lost := &lostRecorder{}
	e := newEnv(t, func(c *Config) { c.HeartbeatTimeout = 30 * time.Second })
	e.svc.SubscribeNodeLost(lost.NodeLost)
	e.put("p1", armPool(2))
	e.settle("p1")
	ns := e.nodes_("p1")
	e.heartbeat(ns[0].ID, "running")
	e.heartbeat(ns[1].ID, "running")
	// Shrink to 0 with taskcompletion: both nodes leave after their tasks.
	if _, err := e.svc.PoolResize(context.Background(), e.acct.Key(), "p1", ResizeRequest{TargetDedicatedNodes: ptr32(0), NodeDeallocationOption: "TaskCompletion"}, Conditions{}); err != nil {
		t.Fatal(err)
	}
	p := e.settle("p1")
	ns = e.nodes_("p1")
	if p.CurrentDedicatedNodes != 0 || len(ns) != 2 || ns[0].State != NodeLeavingPool {
		t.Fatalf("after shrink: current %d nodes %d state %s", p.CurrentDedicatedNodes, len(ns), ns[0].State)
	}
	if cmds := e.heartbeat(ns[0].ID, "running"); len(cmds) != 0 {
		t.Fatalf("busy leaving node got %v", cmds)
	}
	if cmds := e.heartbeat(ns[0].ID, "idle"); len(cmds) != 1 || cmds[0] != "remove" {
		t.Fatalf("idle leaving node got %v", cmds)
	}
	if len(e.nodes_("p1")) != 1 {
		t.Fatal("the idle leaving node was not removed")
	}
	// The other node stops heartbeating: it goes offline and its tasks are requeued.
	e.advance(time.Minute)
	if err := e.svc.Reconcile(context.Background(), "test"); err != nil {
		t.Fatal(err)
	}
	if got := lost.lostIDs(); len(got) != 1 || got[0] != ns[1].ID {
		t.Fatalf("lost = %v", got)
	}
	// A silent node of a live pool becomes unusable.
	e.put("p2", armPool(1))
	e.settle("p2")
	n2 := e.nodes_("p2")[0]
	e.heartbeat(n2.ID, "idle")
	e.advance(time.Minute)
	if err := e.svc.Reconcile(context.Background(), "test"); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.svc.NodeGet(context.Background(), e.acct.Key(), "p2", n2.ID); got.State != NodeUnusable || len(got.Errors) == 0 {
		t.Fatalf("silent node = %+v", got)
	}
	// It comes back when it reports again.
	e.heartbeat(n2.ID, "idle")
	if got, _ := e.svc.NodeGet(context.Background(), e.acct.Key(), "p2", n2.ID); got.State != NodeIdle {
		t.Fatalf("node after a late heartbeat = %s", got.State)
	}
}

func TestPoolDeleteRemovesNodes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.put("p1", armPool(3))
	e.settle("p1")
	if _, err := e.svc.PoolDelete(context.Background(), e.acct.Key(), "p1", Conditions{}); err != nil {
		t.Fatal(err)
	}
	// Writes to a pool being deleted are refused.
	spec := armPool(1)
	if _, _, err := e.svc.PoolPatch(context.Background(), e.acct, "p1", spec, true, Conditions{}); cobalt.ErrorReason(err) != "PoolBeingDeleted" {
		t.Fatalf("patch while deleting: %v", err)
	}
	if err := e.svc.Reconcile(context.Background(), "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.PoolGet(context.Background(), e.acct.Key(), "p1"); cobalt.ErrorReason(err) != "PoolNotFound" {
		t.Fatalf("pool after delete: %v", err)
	}
	if _, stopped := e.nodes.counts(); stopped != 3 {
		t.Fatalf("stopped %d nodes", stopped)
	}
	rs, _, _ := e.st.NodeList(context.Background(), store.NodeListParams{})
	if len(rs) != 0 {
		t.Fatalf("%d node records left", len(rs))
	}
}

func TestDataPlanePoolOperations(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	spec := dpPool()
	p, err := e.svc.PoolCreate(context.Background(), e.acct, spec)
	if err != nil {
		t.Fatal(err)
	}
	if p.Identity != nil || p.AllocationState != AllocResizing {
		t.Fatalf("created = %+v", p)
	}
	if _, err := e.svc.PoolCreate(context.Background(), e.acct, spec); cobalt.ErrorReason(err) != "PoolExists" {
		t.Fatalf("duplicate: %v", err)
	}
	spec.Pool.ID = "P1" // IDs are case-insensitive
	if _, err := e.svc.PoolCreate(context.Background(), e.acct, spec); cobalt.ErrorReason(err) != "PoolExists" {
		t.Fatalf("duplicate in other case: %v", err)
	}
	e.settle("p1")
	ns := e.nodes_("p1")
	if len(ns) != 2 || ns[0].Config.StartTask == nil || ns[0].Config.TaskSlotsPerNode != 2 || ns[0].Config.AccountName != "acct1" {
		t.Fatalf("nodes = %+v", ns)
	}
	// Remove one node explicitly: the target shrinks with it.
	if err := e.svc.NodeRemove(context.Background(), e.acct.Key(), "p1", []string{ns[0].ID}, "requeue"); err != nil {
		t.Fatal(err)
	}
	p = e.settle("p1")
	if p.TargetDedicatedNodes != 1 || p.CurrentDedicatedNodes != 1 || len(e.nodes_("p1")) != 1 {
		t.Fatalf("after remove: target %d current %d", p.TargetDedicatedNodes, p.CurrentDedicatedNodes)
	}
	// Patch with a stale ETag fails; with the current one it succeeds.
	patch := NewSpec()
	patch.Pool.Metadata = []cobalt.NameValue{{Name: "a", Value: "b"}}
	patch.Set(FMetadata)
	if _, _, err := e.svc.PoolPatch(context.Background(), e.acct, "p1", patch, false, Conditions{IfMatch: `"0x1"`}); cobalt.ErrorReason(err) != "ConditionNotMet" {
		t.Fatalf("stale etag: %v", err)
	}
	if q, _, err := e.svc.PoolPatch(context.Background(), e.acct, "p1", patch, false, Conditions{IfMatch: p.ETag}); err != nil || len(q.Metadata) != 1 || q.StartTask == nil {
		t.Fatalf("patch: %+v %v", q, err)
	}
	// updateproperties replaces: the start task goes.
	repl := NewSpec()
	repl.Pool.Metadata, repl.Pool.CertificateReferences = []cobalt.NameValue{}, []byte("[]")
	for _, f := range []Field{FStartTask, FCommMode, FMetadata, FApps, FCerts} {
		repl.Set(f)
	}
	if q, _, err := e.svc.PoolPatch(context.Background(), e.acct, "p1", repl, false, Conditions{}); err != nil || q.StartTask != nil || len(q.Metadata) != 0 {
		t.Fatalf("replace: %+v %v", q, err)
	}
	// The jobs service reads the scheduling settings through Pool, with the
	// account's ID in any case.
	v, err := e.svc.Pool(context.Background(), strings.ToUpper(e.acct.ID), "p1")
	if err != nil || v.TaskSlotsPerNode != 2 || v.TaskSchedulingPolicy.NodeFillType != FillPack {
		t.Fatalf("pool = %+v %v", v, err)
	}
}

func TestTwoReplicasDoNotOvershoot(t *testing.T) {
	t.Parallel()
	testTwoReplicas(t, newEnv(t, nil))
}

// TestTwoReplicasPostgres runs two allocators on one PostgreSQL database
// (TEST_POSTGRES_URL), as several control-plane replicas do.
func TestTwoReplicasPostgres(t *testing.T) {
	t.Parallel()
	testTwoReplicas(t, newEnvOn(t, storetest.Postgres(t)(t), nil))
}

func testTwoReplicas(t *testing.T, e *env) {
	// A second service on the same store is another replica.
	other, err := New(Config{Store: e.st, Now: e.clock, Nodes: e.nodes, Identities: e.dir, MaxNodes: 20})
	if err != nil {
		t.Fatal(err)
	}
	e.put("p1", armPool(6))
	var wg sync.WaitGroup
	for i, s := range []*Service{e.svc, other} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 30 {
				if err := s.Reconcile(context.Background(), fmt.Sprintf("replica-%d", i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	p := e.settle("p1")
	if n := len(e.nodes_("p1")); n != 6 || p.CurrentDedicatedNodes != 6 {
		t.Fatalf("%d nodes, current %d", n, p.CurrentDedicatedNodes)
	}
	if started, _ := e.nodes.counts(); started != 6 {
		t.Fatalf("started %d nodes", started)
	}
}

func TestNodeRendering(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	body := armPool(1, uami1)
	e.put("p1", body)
	e.settle("p1")
	n := e.nodes_("p1")[0]
	auth, err := e.svc.NodeAuthenticate(context.Background(), credOf(e, n.ID))
	if err != nil {
		t.Fatal(err)
	}
	code := 0
	end := time.Date(2026, 11, 29, 18, 1, 0, 0, time.UTC)
	if _, err := e.svc.NodeHeartbeat(context.Background(), auth, nodeproto.HeartbeatRequest{State: "idle",
		StartTaskInfo: &nodeproto.StartTaskInfo{State: "completed", StartTime: end.Add(-time.Second), EndTime: &end, ExitCode: &code, Result: "success"}}); err != nil {
		t.Fatal(err)
	}
	got, err := e.svc.NodeGet(context.Background(), e.acct.Key(), "P1", n.ID)
	if err != nil {
		t.Fatal(err)
	}
	si := got.StartTaskInfo
	if got.State != "idle" || !got.IsDedicated || got.VMSize != "STANDARD_D2S_V3" || len(got.Identities) != 1 || got.Identities[0].ClientID != "cid-id1" ||
		si == nil || si.ExitCode == nil || *si.ExitCode != 0 || si.Result != "success" || si.EndTime == nil || !si.EndTime.Equal(end) {
		t.Fatalf("node = %+v, start task %+v", got, si)
	}
	// A node of another pool is not found through this pool.
	e.put("p2", armPool(0))
	if _, err := e.svc.NodeGet(context.Background(), e.acct.Key(), "p2", n.ID); cobalt.ErrorReason(err) != "NodeNotFound" {
		t.Fatalf("cross-pool get: %v", err)
	}
}

func TestNodeScheduling(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	e.put("p1", armPool(1))
	e.settle("p1")
	n := e.nodes_("p1")[0]
	e.heartbeat(n.ID, "idle")
	if err := e.svc.NodeSetScheduling(context.Background(), e.acct.Key(), "p1", n.ID, false); err != nil {
		t.Fatal(err)
	}
	e.heartbeat(n.ID, "idle")
	got, _ := e.svc.NodeGet(context.Background(), e.acct.Key(), "p1", n.ID)
	if got.State != NodeOffline || got.Schedulable() || got.SchedulingState != "disabled" {
		t.Fatalf("disabled node = %s %s", got.State, got.SchedulingState)
	}
	if err := e.svc.NodeSetScheduling(context.Background(), e.acct.Key(), "p1", n.ID, true); err != nil {
		t.Fatal(err)
	}
	got, _ = e.svc.NodeGet(context.Background(), e.acct.Key(), "p1", n.ID)
	if got.State != NodeIdle || !got.Schedulable() {
		t.Fatalf("enabled node = %s", got.State)
	}
	if err := e.svc.NodeSetScheduling(context.Background(), e.acct.Key(), "p1", "nope", true); cobalt.ErrorReason(err) != "NodeNotFound" {
		t.Fatalf("unknown node: %v", err)
	}
}

// dpPool returns the spec of a data-plane pool add: two dedicated nodes
// with two task slots each, packed, and a start task.
func dpPool() *Spec {
	s := armPool(2)
	p := &s.Pool
	p.ID, p.VMSize = "p1", "standard_d2s_v3"
	p.TaskSlotsPerNode, p.TaskSchedulingPolicy = 2, cobalt.TaskSchedulingPolicy{NodeFillType: FillPack}
	p.StartTask = &cobalt.StartTask{CommandLine: "/bin/sh -c true", MaxTaskRetryCount: 2,
		UserIdentity:  &cobalt.UserIdentity{AutoUser: &cobalt.AutoUser{Scope: "pool", ElevationLevel: cobalt.ElevationAdmin}},
		ResourceFiles: []cobalt.ResourceFile{{HTTPURL: "https://127.0.0.1/x", FilePath: "x"}}}
	p.Metadata = []cobalt.NameValue{{Name: "k", Value: "v"}}
	for _, f := range []Field{FTaskSlots, FPolicy, FStartTask, FMetadata} {
		s.Set(f)
	}
	return s
}
