package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
	"github.com/cobaltbatch/cobalt/internal/store"
)

func TestTaskDependenciesRefused(t *testing.T) {
	t.Parallel()
	s := newService(t, newSQLite(t), Config{})
	ctx := t.Context()
	mustJob(t, s, cobalt.JobSpec{ID: "plain"})
	mustJob(t, s, cobalt.JobSpec{ID: "dag", UsesTaskDependencies: ptr(true)})
	long := make([]string, 0, 1200)
	for i := range 1200 {
		long = append(long, fmt.Sprintf("%058d", i))
	}
	for _, c := range []struct {
		job  string
		spec cobalt.TaskSpec
		want string
	}{
		{"plain", cobalt.TaskSpec{DependsOn: &cobalt.TaskDependencies{TaskIDs: []string{"a"}}}, "TaskDependenciesNotSpecifiedOnJob"},
		{"plain", cobalt.TaskSpec{DependsOn: &cobalt.TaskDependencies{}}, "TaskDependenciesNotSpecifiedOnJob"},
		{"dag", cobalt.TaskSpec{DependsOn: &cobalt.TaskDependencies{TaskIDs: long}}, "TaskDependencyListTooLong"},
		{"dag", cobalt.TaskSpec{DependsOn: &cobalt.TaskDependencies{TaskIDRanges: []cobalt.TaskIDRange{{Start: 5, End: 4}}}}, "Invalid"},
		{"dag", cobalt.TaskSpec{ExitConditions: &cobalt.ExitConditions{Default: &cobalt.ExitOptions{DependencyAction: "cancel"}}}, "Invalid"},
	} {
		c.spec.ID, c.spec.CommandLine = "t", "x"
		_, err := s.AddTask(ctx, acct, c.job, c.spec)
		got := reason(err)
		switch {
		case errorsIs(err, ErrDependenciesNotOnJob):
			got = "TaskDependenciesNotSpecifiedOnJob"
		case errorsIs(err, ErrDependencyListTooLong):
			got = "TaskDependencyListTooLong"
		}
		if got != c.want || !cobalt.IsCode(err, cobalt.EInvalid) {
			t.Errorf("%s, case %s: %v (%s)", c.job, c.want, err, got)
		}
	}
	// A dependency on a task not added yet is accepted: the task waits.
	if _, err := s.AddTask(ctx, acct, "dag", cobalt.TaskSpec{ID: "later", CommandLine: "x", DependsOn: &cobalt.TaskDependencies{TaskIDs: []string{"nope"}}}); err != nil {
		t.Fatal(err)
	}
}

// depRun records when each task of a dependency test started and ended on
// its in-process agent.
type depRun struct {
	mu         sync.Mutex
	start, end map[string]time.Time
	order      []string
}

func (r *depRun) agent(ctx context.Context, s *Service, node cobalt.NodeRef, slots int) {
	runAgent(ctx, s, node, slots, func(l nodeproto.TaskLease) nodeproto.ReportRequest {
		r.mu.Lock()
		r.start[l.TaskID] = time.Now()
		r.order = append(r.order, l.TaskID)
		r.mu.Unlock()
		code := 0
		if n, ok := strings.CutPrefix(l.CommandLine, "exit "); ok {
			fmt.Sscan(n, &code)
		}
		end := time.Now()
		r.mu.Lock()
		r.end[l.TaskID] = end
		r.mu.Unlock()
		return nodeproto.ReportRequest{LeaseID: l.LeaseID, Event: "completed", StartTime: end, EndTime: &end, ExitCode: &code}
	})
}

// TestDiamondOfAThousand runs 1 root, 998 middle tasks that depend on it and
// a sink that depends on the range of middle tasks on three agents, adding
// the sink first and the root last, and checks that every task started after
// each of its dependencies ended.
func TestDiamondOfAThousand(t *testing.T) {
	t.Parallel()
	st := newSQLite(t)
	s := newService(t, st, Config{PollInterval: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	mustJob(t, s, cobalt.JobSpec{ID: "diamond", UsesTaskDependencies: ptr(true), OnAllTasksComplete: cobalt.OnAllTasksCompleteTerminateJob})
	specs := []cobalt.TaskSpec{{ID: "sink", CommandLine: "exit 0", DependsOn: &cobalt.TaskDependencies{TaskIDRanges: []cobalt.TaskIDRange{{Start: 1, End: 998}}}}}
	for i := 1; i <= 998; i++ {
		specs = append(specs, cobalt.TaskSpec{ID: fmt.Sprint(i), CommandLine: "exit 0", DependsOn: &cobalt.TaskDependencies{TaskIDs: []string{"root"}}})
	}
	specs = append(specs, cobalt.TaskSpec{ID: "root", CommandLine: "exit 0"})
	for len(specs) > 0 {
		n := min(len(specs), MaxTaskCollection)
		res, err := s.AddTaskCollection(ctx, acct, "diamond", specs[:n])
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Status != AddSuccess {
				t.Fatalf("add %s: %v", r.TaskID, r.Err)
			}
		}
		specs = specs[n:]
	}
	r := &depRun{start: map[string]time.Time{}, end: map[string]time.Time{}}
	for i := range 3 {
		go r.agent(ctx, s, cobalt.NodeRef{AccountID: acct, PoolID: "pool1", NodeID: fmt.Sprint("n", i)}, 8)
	}
	waitFor(t, "the job to complete", func() bool { j, _ := s.GetJob(ctx, acct, "diamond"); return j.State == cobalt.JobCompleted })
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.order) != 1000 || r.order[0] != "root" || r.order[999] != "sink" {
		t.Fatalf("ran %d tasks, first %v", len(r.order), r.order[:min(3, len(r.order))])
	}
	for i := 1; i <= 998; i++ {
		if id := fmt.Sprint(i); r.start[id].Before(r.end["root"]) {
			t.Fatalf("task %s started before root ended", id)
		}
		if id := fmt.Sprint(i); r.start["sink"].Before(r.end[id]) {
			t.Fatalf("sink started before %s ended", id)
		}
	}
	c, _ := s.JobTaskCounts(ctx, acct, "diamond")
	if c.TaskCounts != (TaskCounts{Completed: 1000, Succeeded: 1000}) {
		t.Fatalf("counts %+v", c)
	}
}

// TestFailedDependencyBlocks checks Batch's dependency actions: a failure
// blocks its dependents (they stay active, never leased) unless its exit
// conditions say satisfy; reactivating the failed task lets them run once
// it succeeds.
func TestFailedDependencyBlocks(t *testing.T) {
	t.Parallel()
	st := newSQLite(t)
	s := newService(t, st, Config{PollInterval: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	mustJob(t, s, cobalt.JobSpec{ID: "j", UsesTaskDependencies: ptr(true)})
	satisfy := &cobalt.ExitConditions{ExitCodes: []cobalt.ExitCodeMapping{{Code: 3, ExitOptions: cobalt.ExitOptions{DependencyAction: "satisfy"}}}}
	dep := func(ids ...string) *cobalt.TaskDependencies { return &cobalt.TaskDependencies{TaskIDs: ids} }
	if _, err := s.AddTaskCollection(ctx, acct, "j", []cobalt.TaskSpec{
		{ID: "fails", CommandLine: "exit 3"},
		{ID: "failsButSatisfies", CommandLine: "exit 3", ExitConditions: satisfy},
		{ID: "blocked", CommandLine: "exit 0", DependsOn: dep("fails")},
		{ID: "blockedToo", CommandLine: "exit 0", DependsOn: dep("failsButSatisfies", "fails")},
		{ID: "runs", CommandLine: "exit 0", DependsOn: dep("failsButSatisfies")},
	}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	leased := map[string]int{}
	go runAgent(ctx, s, cobalt.NodeRef{AccountID: acct, PoolID: "pool1", NodeID: "n1"}, 4, func(l nodeproto.TaskLease) nodeproto.ReportRequest {
		mu.Lock()
		leased[l.TaskID]++
		code := 3
		if l.TaskID == "fails" && leased[l.TaskID] > 1 || !strings.HasPrefix(l.TaskID, "fails") {
			code = 0
		}
		mu.Unlock()
		end := time.Now()
		return nodeproto.ReportRequest{LeaseID: l.LeaseID, Event: "completed", StartTime: end, EndTime: &end, ExitCode: &code}
	})
	state := func(id string) cobalt.TaskState { tk, _ := s.GetTask(ctx, acct, "j", id); return tk.State }
	waitFor(t, "runs to complete", func() bool { return state("runs") == cobalt.TaskCompleted && state("fails") == cobalt.TaskCompleted })
	// The blocked tasks are active and flagged waiting: the claim query never offers them.
	for _, id := range []string{"blocked", "blockedToo"} {
		r, err := st.TaskGet(ctx, acct, "j", id)
		if err != nil || r.State != taskActive || !r.Waiting {
			t.Fatalf("%s: %+v %v", id, r, err)
		}
	}
	if err := s.ReactivateTask(ctx, acct, "j", "fails", Conditions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the blocked tasks to run after the reactivated task succeeded", func() bool {
		return state("blocked") == cobalt.TaskCompleted && state("blockedToo") == cobalt.TaskCompleted
	})
	mu.Lock()
	defer mu.Unlock()
	if leased["blocked"] != 1 || leased["blockedToo"] != 1 || leased["fails"] != 2 {
		t.Fatalf("leases %v", leased)
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

// TestSweepWaitingReleasesMissedDependents completes a dependency behind the
// service's back, as a replica that stopped before releasing its dependents
// leaves it, and checks that SweepWaiting queues the dependent and leaves a
// task that still waits untouched.
func TestSweepWaitingReleasesMissedDependents(t *testing.T) {
	t.Parallel()
	st := newSQLite(t)
	s := newService(t, st, Config{})
	ctx := t.Context()
	mustJob(t, s, cobalt.JobSpec{ID: "j", UsesTaskDependencies: ptr(true)})
	if _, err := s.AddTaskCollection(ctx, acct, "j", []cobalt.TaskSpec{{ID: "a", CommandLine: "x"}, {ID: "b", CommandLine: "x"},
		{ID: "afterA", CommandLine: "x", DependsOn: &cobalt.TaskDependencies{TaskIDs: []string{"a"}}},
		{ID: "afterB", CommandLine: "x", DependsOn: &cobalt.TaskDependencies{TaskIDs: []string{"b"}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.TaskUpdate(ctx, acct, "j", "a", func(r *store.TaskRecord) error { return s.completeRecord(r, ptr(0), nil, nil) }); err != nil {
		t.Fatal(err)
	}
	before, _ := st.TaskGet(ctx, acct, "j", "afterB")
	if err := s.SweepWaiting(ctx); err != nil {
		t.Fatal(err)
	}
	if r, _ := st.TaskGet(ctx, acct, "j", "afterA"); r.Waiting {
		t.Fatalf("afterA still waits: %s", r.Exec)
	}
	if r, _ := st.TaskGet(ctx, acct, "j", "afterB"); !r.Waiting || r.Version != before.Version {
		t.Fatalf("afterB changed: %+v", r)
	}
}

// TestTerminateAndReactivateWaitingTask ends a task that waits on a
// dependency: it completes and leaves the waiting set; reactivated, it waits
// for its dependency again rather than running.
func TestTerminateAndReactivateWaitingTask(t *testing.T) {
	t.Parallel()
	st := newSQLite(t)
	s := newService(t, st, Config{})
	ctx := t.Context()
	mustJob(t, s, cobalt.JobSpec{ID: "j", UsesTaskDependencies: ptr(true)})
	if _, err := s.AddTaskCollection(ctx, acct, "j", []cobalt.TaskSpec{{ID: "dep", CommandLine: "x"},
		{ID: "w", CommandLine: "x", DependsOn: &cobalt.TaskDependencies{TaskIDs: []string{"dep"}}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.TerminateTask(ctx, acct, "j", "w", Conditions{}); err != nil {
		t.Fatal(err)
	}
	if r, _ := st.TaskGet(ctx, acct, "j", "w"); r.Waiting || r.State != taskCompleted || r.Result != resultFailure {
		t.Fatalf("terminated: %+v", r)
	}
	if err := s.ReactivateTask(ctx, acct, "j", "w", Conditions{}); err != nil {
		t.Fatal(err)
	}
	if r, _ := st.TaskGet(ctx, acct, "j", "w"); !r.Waiting || r.State != taskActive {
		t.Fatalf("reactivated: %+v", r)
	}
	// Once the dependency succeeded, a reactivated dependent is queued at once.
	if _, err := st.TaskUpdate(ctx, acct, "j", "dep", func(r *store.TaskRecord) error { return s.completeRecord(r, ptr(0), nil, nil) }); err != nil {
		t.Fatal(err)
	}
	if err := s.TerminateTask(ctx, acct, "j", "w", Conditions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.ReactivateTask(ctx, acct, "j", "w", Conditions{}); err != nil {
		t.Fatal(err)
	}
	if r, _ := st.TaskGet(ctx, acct, "j", "w"); r.Waiting || r.State != taskActive {
		t.Fatalf("reactivated after its dependency: %+v", r)
	}
}
