package jobs

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// interNodePool is a pool that can run multi-instance tasks, or not.
type interNodePool struct{ interNode bool }

func (p interNodePool) Pool(context.Context, string, string) (*cobalt.Pool, error) {
	return &cobalt.Pool{TaskSlotsPerNode: 1, EnableInterNodeCommunication: p.interNode}, nil
}

// miAgent is a node agent that runs multi-instance leases as the real one
// does: every instance reports its coordination; the primary waits for
// Proceed and then "runs" its command line (exit N); subtasks hold their
// lease until the task's lease is gone (the heartbeat's stop list).
func miAgent(ctx context.Context, s *Service, node cobalt.NodeRef, coordExit int, seen func(nodeproto.TaskLease)) {
	for ctx.Err() == nil {
		ls, err := s.Lease(ctx, node, 1, 200*time.Millisecond)
		if err != nil {
			return
		}
		for _, l := range ls {
			if seen != nil {
				seen(l)
			}
			report := func(r nodeproto.ReportRequest) bool {
				r.NodeID, r.LeaseID = node.NodeID, l.LeaseID
				if r.Event == nodeproto.EventCoordinated {
					ok, _ := s.ReportInstance(ctx, node, r)
					return ok
				}
				_ = s.Report(ctx, node, r)
				return false
			}
			report(nodeproto.ReportRequest{Event: "started", StartTime: time.Now()})
			code := coordExit
			proceed := report(nodeproto.ReportRequest{Event: nodeproto.EventCoordinated, ExitCode: &code})
			if code != 0 {
				if l.MultiInstance.SubtaskID == 0 {
					report(nodeproto.ReportRequest{Event: "completed", ExitCode: &code})
				}
				continue
			}
			if l.MultiInstance.SubtaskID > 0 {
				for ctx.Err() == nil {
					stop, _ := s.Reconcile(ctx, node, []string{l.LeaseID})
					if len(stop) > 0 {
						break
					}
					time.Sleep(5 * time.Millisecond)
				}
				continue
			}
			for !proceed && ctx.Err() == nil {
				time.Sleep(5 * time.Millisecond)
				proceed = report(nodeproto.ReportRequest{Event: nodeproto.EventCoordinated, ExitCode: &code})
			}
			exit := 0
			fmt.Sscanf(l.CommandLine, "exit %d", &exit)
			report(nodeproto.ReportRequest{Event: "completed", ExitCode: &exit})
		}
	}
}

func miTask(id string, n int, cmd string) cobalt.TaskSpec {
	return cobalt.TaskSpec{ID: id, CommandLine: cmd, MultiInstanceSettings: &cobalt.MultiInstanceSettings{NumberOfInstances: &n, CoordinationCommandLine: "coord"}}
}

func TestMultiInstanceRunsOnDistinctNodes(t *testing.T) {
	t.Parallel()
	s := newService(t, newSQLite(t), Config{PollInterval: 10 * time.Millisecond, LostLeaseAge: time.Hour, Pools: interNodePool{true}})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	mustJob(t, s, cobalt.JobSpec{ID: "j"})
	var mu sync.Mutex
	byTask := map[string][]nodeproto.TaskLease{}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			miAgent(ctx, s, cobalt.NodeRef{AccountID: acct, PoolID: "pool1", NodeID: fmt.Sprintf("tvm-1_%d-x", i+1)}, 0, func(l nodeproto.TaskLease) {
				mu.Lock()
				byTask[l.TaskID] = append(byTask[l.TaskID], l)
				mu.Unlock()
			})
		}()
	}
	// Two gangs of three on four nodes: they cannot run at once, and
	// neither may hold part of the nodes while waiting for the rest.
	if _, err := s.AddTaskCollection(ctx, acct, "j", []cobalt.TaskSpec{miTask("a", 3, "exit 0"), miTask("b", 3, "exit 3"), miTask("c", 2, "exit 0")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "all tasks completed", func() bool {
		for _, id := range []string{"a", "b", "c"} {
			if tk, err := s.GetTask(ctx, acct, "j", id); err != nil || tk.State != cobalt.TaskCompleted {
				return false
			}
		}
		return true
	})
	cancel()
	wg.Wait()
	for id, want := range map[string]int{"a": 3, "b": 3, "c": 2} {
		ls := byTask[id]
		if len(ls) != want {
			t.Fatalf("task %s ran %d instances, want %d", id, len(ls), want)
		}
		nodes := map[string]bool{}
		for _, l := range ls {
			nodes[l.MultiInstance.Nodes[l.MultiInstance.SubtaskID]] = true
			if len(l.MultiInstance.Nodes) != want {
				t.Fatalf("task %s lease lists nodes %v", id, l.MultiInstance.Nodes)
			}
		}
		if len(nodes) != want {
			t.Fatalf("task %s instances shared nodes: %v", id, ls)
		}
		subs, err := s.ListSubtasks(t.Context(), acct, "j", id)
		if err != nil || len(subs) != want-1 {
			t.Fatalf("subtasks of %s: %+v %v", id, subs, err)
		}
		for _, st := range subs {
			if st.State != cobalt.SubtaskCompleted || st.Result != cobalt.TaskSuccess || st.NodeInfo == nil || st.StartTime == nil || st.EndTime == nil {
				t.Fatalf("subtask of %s: %+v", id, st)
			}
		}
	}
	// The task's exit code is the primary's.
	b, _ := s.GetTask(t.Context(), acct, "j", "b")
	if b.ExecutionInfo.ExitCode == nil || *b.ExecutionInfo.ExitCode != 3 || b.ExecutionInfo.Result != cobalt.TaskFailure {
		t.Fatalf("task b: %+v", b.ExecutionInfo)
	}
}

func TestMultiInstanceSubtaskFailureFailsTask(t *testing.T) {
	t.Parallel()
	s := newService(t, newSQLite(t), Config{PollInterval: 10 * time.Millisecond, LostLeaseAge: time.Hour, Pools: interNodePool{true}})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	mustJob(t, s, cobalt.JobSpec{ID: "j"})
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The coordination command fails everywhere.
			miAgent(ctx, s, cobalt.NodeRef{AccountID: acct, PoolID: "pool1", NodeID: fmt.Sprintf("tvm-1_%d-x", i+1)}, 7, nil)
		}()
	}
	if _, err := s.AddTask(ctx, acct, "j", miTask("t", 2, "exit 0")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the task completed", func() bool {
		tk, err := s.GetTask(ctx, acct, "j", "t")
		return err == nil && tk.State == cobalt.TaskCompleted
	})
	cancel()
	wg.Wait()
	tk, _ := s.GetTask(t.Context(), acct, "j", "t")
	if tk.ExecutionInfo.Result != cobalt.TaskFailure || tk.ExecutionInfo.ExitCode == nil || *tk.ExecutionInfo.ExitCode != 7 {
		t.Fatalf("task: %+v", tk.ExecutionInfo)
	}
}

func TestMultiInstanceStaysActiveWithoutInterNode(t *testing.T) {
	t.Parallel()
	s := newService(t, newSQLite(t), Config{PollInterval: 10 * time.Millisecond, Pools: interNodePool{false}})
	mustJob(t, s, cobalt.JobSpec{ID: "j"})
	if _, err := s.AddTask(t.Context(), acct, "j", miTask("t", 2, "exit 0")); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	got := make([]int, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ls, _ := s.Lease(t.Context(), cobalt.NodeRef{AccountID: acct, PoolID: "pool1", NodeID: fmt.Sprintf("n%d", i)}, 1, 300*time.Millisecond)
			got[i] = len(ls)
		}()
	}
	wg.Wait()
	tk, _ := s.GetTask(t.Context(), acct, "j", "t")
	if got[0]+got[1] != 0 || tk.State != cobalt.TaskActive {
		t.Fatalf("leases %v, state %s", got, tk.State)
	}
}

func TestMultiInstanceValidation(t *testing.T) {
	t.Parallel()
	s := newService(t, newSQLite(t), Config{})
	mustJob(t, s, cobalt.JobSpec{ID: "j"})
	zero, two := 0, 2
	for _, tt := range []struct {
		spec   cobalt.TaskSpec
		target string
	}{
		{cobalt.TaskSpec{ID: "a", CommandLine: "x", MultiInstanceSettings: &cobalt.MultiInstanceSettings{}}, "multiInstanceSettings.coordinationCommandLine"},
		{cobalt.TaskSpec{ID: "b", CommandLine: "x", MultiInstanceSettings: &cobalt.MultiInstanceSettings{CoordinationCommandLine: "c", NumberOfInstances: &zero}}, "multiInstanceSettings.numberOfInstances"},
		{cobalt.TaskSpec{ID: "c", CommandLine: "x", RequiredSlots: &two, MultiInstanceSettings: &cobalt.MultiInstanceSettings{CoordinationCommandLine: "c"}}, "requiredSlots"},
	} {
		_, err := s.AddTask(t.Context(), acct, "j", tt.spec)
		var ce *cobalt.Error
		if !cobalt.IsCode(err, cobalt.EInvalid) || !asError(err, &ce) || ce.Target != tt.target {
			t.Errorf("task %s: %v, want EInvalid at %s", tt.spec.ID, err, tt.target)
		}
	}
	tk, err := s.AddTask(t.Context(), acct, "j", miTask("ok", 3, "x"))
	if err != nil || tk.MultiInstanceSettings == nil || tk.MultiInstanceSettings.Instances() != 3 {
		t.Fatalf("add: %+v %v", tk.MultiInstanceSettings, err)
	}
}

func TestMultiInstanceDoesNotBlockQueue(t *testing.T) {
	t.Parallel()
	s := newService(t, newSQLite(t), Config{PollInterval: 10 * time.Millisecond, Pools: interNodePool{true}})
	mustJob(t, s, cobalt.JobSpec{ID: "j"})
	// A gang of three on a pool with one waiting node stays queued; the
	// ordinary task behind it runs.
	if _, err := s.AddTaskCollection(t.Context(), acct, "j", []cobalt.TaskSpec{miTask("gang", 3, "x"), {ID: "plain", CommandLine: "x"}}); err != nil {
		t.Fatal(err)
	}
	ls, err := s.Lease(t.Context(), cobalt.NodeRef{AccountID: acct, PoolID: "pool1", NodeID: "tvm-1_1-x"}, 1, 2*time.Second)
	if err != nil || len(ls) != 1 || ls[0].TaskID != "plain" {
		t.Fatalf("lease: %+v %v", ls, err)
	}
}

func FuzzSplitLease(f *testing.F) {
	f.Add("0123abcd.1")
	f.Add("x.-1")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, id string) {
		base, i, ok := splitLease(id)
		if ok && (i < 0 || (i > 0) != isSubtaskLease(id) || len(base) > len(id)) {
			t.Fatalf("splitLease(%q) = %q %d %v", id, base, i, ok)
		}
	})
}

func TestMultiInstanceSubtaskNodeLostRequeues(t *testing.T) {
	t.Parallel()
	s := newService(t, newSQLite(t), Config{PollInterval: 10 * time.Millisecond, LostLeaseAge: time.Hour, Pools: interNodePool{true}})
	mustJob(t, s, cobalt.JobSpec{ID: "j"})
	if _, err := s.AddTask(t.Context(), acct, "j", miTask("t", 2, "x")); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	got := make([][]nodeproto.TaskLease, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], _ = s.Lease(t.Context(), cobalt.NodeRef{AccountID: acct, PoolID: "pool1", NodeID: fmt.Sprintf("tvm-1_%d-x", i+1)}, 1, 5*time.Second)
		}()
	}
	wg.Wait()
	var sub cobalt.NodeRef
	for i, ls := range got {
		if len(ls) != 1 {
			t.Fatalf("node %d got %d leases", i, len(ls))
		}
		if ls[0].MultiInstance.SubtaskID == 1 {
			sub = cobalt.NodeRef{AccountID: acct, PoolID: "pool1", NodeID: fmt.Sprintf("tvm-1_%d-x", i+1)}
		}
	}
	if err := s.NodeLost(t.Context(), sub); err != nil {
		t.Fatal(err)
	}
	tk, _ := s.GetTask(t.Context(), acct, "j", "t")
	if tk.State != cobalt.TaskActive || tk.ExecutionInfo.RequeueCount != 1 {
		t.Fatalf("after the subtask's node was lost: %s requeues %d", tk.State, tk.ExecutionInfo.RequeueCount)
	}
}
