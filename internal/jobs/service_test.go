package jobs

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
	"github.com/cobaltbatch/cobalt/internal/odata"
	"github.com/cobaltbatch/cobalt/internal/store"
	"github.com/cobaltbatch/cobalt/internal/store/sqlite"
)

const acct = "/subscriptions/S/resourceGroups/rg/providers/Microsoft.Batch/batchAccounts/acct"

func newSQLite(t testing.TB) store.JobStore { return newSQLiteAt(t, nil) }

func newSQLiteAt(t testing.TB, now func() time.Time) store.JobStore {
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "cobalt.db"), now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newService(t testing.TB, st store.JobStore, cfg Config) *Service {
	cfg.Store = st
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// reason names err's condition: the Err... it matches, without "Err", else
// its protocol reason (the $filter parser's), else its class.
func reason(err error) string {
	if err == nil {
		return ""
	}
	for _, c := range []struct {
		name string
		cond error
	}{
		{"JobNotFound", ErrJobNotFound}, {"TaskNotFound", ErrTaskNotFound}, {"JobExists", ErrJobExists},
		{"TaskExists", ErrTaskExists}, {"JobCompleted", ErrJobCompleted}, {"TaskCompleted", ErrTaskCompleted},
		{"JobNotActive", ErrJobNotActive}, {"JobNotDisabled", ErrJobNotDisabled},
		{"JobBeingDeleted", ErrJobBeingDeleted}, {"JobBeingTerminated", ErrJobBeingTerminated},
		{"MissingProperty", ErrMissingProperty}, {"Unsupported", ErrUnsupported},
	} {
		if errors.Is(err, c.cond) {
			return c.name
		}
	}
	if r := cobalt.ErrorReason(err); r != "" {
		return r
	}
	return string(cobalt.ErrorCode(err))
}

func mustJob(t *testing.T, s *Service, spec cobalt.JobSpec) cobalt.Job {
	t.Helper()
	if spec.PoolInfo == nil {
		spec.PoolInfo = &cobalt.PoolInformation{PoolID: "pool1"}
	}
	j, err := s.AddJob(t.Context(), acct, spec)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func TestJobLifecycle(t *testing.T) {
	t.Parallel()
	s := newService(t, newSQLite(t), Config{})
	ctx := t.Context()
	j := mustJob(t, s, cobalt.JobSpec{ID: "Job1"})
	if j.State != cobalt.JobActive || *j.Priority != 0 || j.OnAllTasksComplete != "noaction" || j.ETag == "" || j.ExecutionInfo.PoolID != "pool1" ||
		!j.Constraints.MaxWallClockTime.IsUnlimited() {
		t.Fatalf("job %+v", j)
	}
	if b := encodeJob(j); !strings.Contains(string(b), `"maxWallClockTime":"P10675199DT2H48M5.4775807S"`) {
		t.Fatalf("stored %s", b)
	}
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"duplicate", func() error {
			_, err := s.AddJob(ctx, acct, cobalt.JobSpec{ID: "JOB1", PoolInfo: &cobalt.PoolInformation{PoolID: "p"}})
			return err
		}(), "JobExists"},
		{"no pool", func() error { _, err := s.AddJob(ctx, acct, cobalt.JobSpec{ID: "x"}); return err }(), "MissingProperty"},
		{"bad id", func() error {
			_, err := s.AddJob(ctx, acct, cobalt.JobSpec{ID: "a b", PoolInfo: &cobalt.PoolInformation{PoolID: "p"}})
			return err
		}(), "Invalid"},
		{"priority", func() error {
			_, err := s.AddJob(ctx, acct, cobalt.JobSpec{ID: "x", Priority: ptr(5000), PoolInfo: &cobalt.PoolInformation{PoolID: "p"}})
			return err
		}(), "Invalid"},
		{"get missing", func() error { _, err := s.GetJob(ctx, acct, "nope"); return err }(), "JobNotFound"},
		{"enable active", s.EnableJob(ctx, acct, "job1", Conditions{}), "JobNotDisabled"},
		{"if-match", func() error {
			_, err := s.PatchJob(ctx, acct, "job1", JobPatch{}, Conditions{IfMatch: `"0x1"`})
			return err
		}(), "PreconditionFailed"},
	}
	for _, c := range cases {
		if reason(c.err) != c.want {
			t.Errorf("%s: got %v, want %s", c.name, c.err, c.want)
		}
	}
	p, err := s.PatchJob(ctx, acct, "job1", JobPatch{Priority: ptr(100)}, Conditions{IfMatch: j.ETag})
	if err != nil || *p.Priority != 100 || p.ETag == j.ETag {
		t.Fatalf("patch %+v %v", p, err)
	}
	if err := s.DisableJob(ctx, acct, "job1", "", Conditions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.DisableJob(ctx, acct, "job1", "", Conditions{}); reason(err) != "JobNotActive" {
		t.Fatalf("disable twice: %v", err)
	}
	g, _ := s.GetJob(ctx, acct, "job1")
	if g.State != cobalt.JobDisabled || g.PreviousState != cobalt.JobActive {
		t.Fatalf("disabled job %+v", g)
	}
	if err := s.EnableJob(ctx, acct, "job1", Conditions{}); err != nil {
		t.Fatal(err)
	}
	mustJob(t, s, cobalt.JobSpec{ID: "job2"})
	l, _, err := s.ListJobs(ctx, acct, ListOptions{Filter: mustFilter(t, "state eq 'active'")})
	if err != nil || len(l) != 2 {
		t.Fatalf("list %v %v", l, err)
	}
	if err := s.TerminateJob(ctx, acct, "job1", "", Conditions{}); err != nil {
		t.Fatal(err)
	}
	g, _ = s.GetJob(ctx, acct, "job1")
	if g.State != cobalt.JobCompleted || g.ExecutionInfo.TerminateReason != "UserTerminate" || g.ExecutionInfo.EndTime == nil {
		t.Fatalf("terminated %+v", g)
	}
	if err := s.TerminateJob(ctx, acct, "job1", "", Conditions{}); reason(err) != "JobCompleted" {
		t.Fatalf("terminate twice: %v", err)
	}
	if _, err := s.PatchJob(ctx, acct, "job1", JobPatch{Priority: ptr(1)}, Conditions{}); reason(err) != "JobCompleted" {
		t.Fatalf("patch completed: %v", err)
	}
	if _, err := s.AddTask(ctx, acct, "job1", cobalt.TaskSpec{ID: "t", CommandLine: "true"}); reason(err) != "JobCompleted" {
		t.Fatalf("add to completed: %v", err)
	}
	l, _, _ = s.ListJobs(ctx, acct, ListOptions{Filter: mustFilter(t, "state eq 'completed'")})
	if len(l) != 1 || l[0].ID != "Job1" {
		t.Fatalf("completed list %v", l)
	}
	if err := s.DeleteJob(ctx, acct, "job1", Conditions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetJob(ctx, acct, "job1"); reason(err) != "JobNotFound" {
		t.Fatalf("get deleted: %v", err)
	}
	if _, err := s.ReplaceJob(ctx, acct, "job2", JobReplace{}, Conditions{}); reason(err) != "MissingProperty" {
		t.Fatalf("replace without poolInfo: %v", err)
	}
	r, err := s.ReplaceJob(ctx, acct, "job2", JobReplace{PoolInfo: &cobalt.PoolInformation{PoolID: "pool1"}, OnAllTasksComplete: "noaction"}, Conditions{})
	if err != nil || *r.Priority != 0 {
		t.Fatalf("replace %+v %v", r, err)
	}
}

func TestTaskAddCollection(t *testing.T) {
	t.Parallel()
	s := newService(t, newSQLite(t), Config{})
	ctx := t.Context()
	mustJob(t, s, cobalt.JobSpec{ID: "j", Constraints: &cobalt.JobConstraints{MaxTaskRetryCount: ptr(3)}})
	res, err := s.AddTaskCollection(ctx, acct, "j", []cobalt.TaskSpec{
		{ID: "a", CommandLine: "true"},
		{ID: "A", CommandLine: "true"},
		{ID: "b"},
		{ID: "c", CommandLine: "true", ResourceFiles: []cobalt.ResourceFile{{HTTPURL: "https://x/y"}}},
		{ID: "d", CommandLine: "true", RequiredSlots: ptr(2), Constraints: &cobalt.TaskConstraints{MaxTaskRetryCount: ptr(-1)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"success/", "clienterror/TaskExists", "clienterror/MissingProperty", "clienterror/MissingProperty", "success/"}
	for i, r := range res {
		if got := r.Status + "/" + reason(r.Err); got != want[i] {
			t.Errorf("result %d: %s, want %s", i, got, want[i])
		}
	}
	a, err := s.GetTask(ctx, acct, "J", "A")
	if err != nil || a.State != cobalt.TaskActive || *a.Constraints.MaxTaskRetryCount != 3 || time.Duration(*a.Constraints.RetentionTime) != DefaultRetention || *a.RequiredSlots != 1 {
		t.Fatalf("task %+v %v", a, err)
	}
	many := make([]cobalt.TaskSpec, 101)
	if _, err := s.AddTaskCollection(ctx, acct, "j", many); reason(err) != "TooLarge" || !cobalt.IsCode(err, cobalt.ETooLarge) {
		t.Fatalf("101 tasks: %v", err)
	}
	big := []cobalt.TaskSpec{{ID: "big", CommandLine: strings.Repeat("x", MaxTaskCollectionBytes)}}
	if _, err := s.AddTaskCollection(ctx, acct, "j", big); reason(err) != "TooLarge" {
		t.Fatalf("1 MB: %v", err)
	}
	if _, err := s.AddTaskCollection(ctx, acct, "nojob", []cobalt.TaskSpec{{ID: "x", CommandLine: "x"}}); reason(err) != "JobNotFound" {
		t.Fatalf("missing job: %v", err)
	}
	if _, err := s.GetTask(ctx, acct, "j", "zz"); reason(err) != "TaskNotFound" {
		t.Fatalf("missing task: %v", err)
	}
	if _, err := s.GetTask(ctx, acct, "zz", "a"); reason(err) != "JobNotFound" {
		t.Fatalf("task of missing job: %v", err)
	}
	l, _, err := s.ListTasks(ctx, acct, "j", ListOptions{Filter: mustFilter(t, "state eq 'active' and id ne 'a'")})
	if err != nil || len(l) != 1 || l[0].ID != "d" {
		t.Fatalf("list %v %v", l, err)
	}
	// A field the service cannot evaluate narrows nothing; the caller filters exactly.
	l, _, err = s.ListTasks(ctx, acct, "j", ListOptions{Filter: mustFilter(t, "displayName eq 'x' or id eq 'zz'")})
	if err != nil || len(l) != 2 {
		t.Fatalf("list by an unknown field %v %v", l, err)
	}
	u, err := s.ReplaceTask(ctx, acct, "j", "a", cobalt.TaskConstraints{MaxTaskRetryCount: ptr(5)}, Conditions{})
	if err != nil || *u.Constraints.MaxTaskRetryCount != 5 {
		t.Fatalf("replace %+v %v", u, err)
	}
	if err := s.TerminateTask(ctx, acct, "j", "a", Conditions{}); err != nil {
		t.Fatal(err)
	}
	a, _ = s.GetTask(ctx, acct, "j", "a")
	if a.State != cobalt.TaskCompleted || a.ExecutionInfo.Result != cobalt.TaskFailure || a.ExecutionInfo.FailureInfo.Code != "TaskEnded" {
		t.Fatalf("terminated %+v", a)
	}
	if err := s.TerminateTask(ctx, acct, "j", "a", Conditions{}); reason(err) != "TaskCompleted" {
		t.Fatalf("terminate twice: %v", err)
	}
	if err := s.ReactivateTask(ctx, acct, "j", "a", Conditions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.ReactivateTask(ctx, acct, "j", "a", Conditions{}); reason(err) != "Conflict" {
		t.Fatalf("reactivate active: %v", err)
	}
	if err := s.DeleteTask(ctx, acct, "j", "a", Conditions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTask(ctx, acct, "j", "a", Conditions{}); reason(err) != "TaskNotFound" {
		t.Fatalf("delete twice: %v", err)
	}
	c, err := s.JobTaskCounts(ctx, acct, "j")
	if err != nil || c.TaskCounts.Active != 1 || c.TaskSlotCounts.Active != 2 {
		t.Fatalf("counts %+v %v", c, err)
	}
}

// fakeAgent leases for a node and reports each task's exit code as the
// number in its command line "exit N" (0 otherwise), until ctx ends.
func fakeAgent(ctx context.Context, s *Service, node cobalt.NodeRef, slots int, onRun func(nodeproto.TaskLease)) {
	runAgent(ctx, s, node, slots, func(l nodeproto.TaskLease) nodeproto.ReportRequest {
		if onRun != nil {
			onRun(l)
		}
		code := 0
		if n, ok := strings.CutPrefix(l.CommandLine, "exit "); ok {
			code, _ = strconv.Atoi(n)
		}
		end := time.Now()
		return nodeproto.ReportRequest{LeaseID: l.LeaseID, Event: "completed", StartTime: end, EndTime: &end, ExitCode: &code}
	})
}

// runAgent is an in-process node agent loop: it leases for its free slots,
// runs each lease with run, and reports start and completion, until ctx ends.
func runAgent(ctx context.Context, s *Service, node cobalt.NodeRef, slots int, run func(nodeproto.TaskLease) nodeproto.ReportRequest) {
	free := make(chan int, slots)
	for range slots {
		free <- 1
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for ctx.Err() == nil {
		// Wait for at least one free slot, then take every free one.
		n := 0
		select {
		case <-ctx.Done():
			return
		case <-free:
			n = 1
		}
	drain:
		for {
			select {
			case <-free:
				n++
			default:
				break drain
			}
		}
		ls, err := s.Lease(ctx, node, n, 200*time.Millisecond)
		if err != nil {
			return
		}
		used := 0
		for _, l := range ls {
			used += l.RequiredSlots
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = s.Report(ctx, node, nodeproto.ReportRequest{NodeID: node.NodeID, LeaseID: l.LeaseID, Event: "started", StartTime: time.Now()})
				r := run(l)
				r.NodeID = node.NodeID
				_ = s.Report(ctx, node, r)
				for range l.RequiredSlots {
					free <- 1
				}
			}()
		}
		for range n - used {
			free <- 1
		}
	}
}

// waitFor waits for cond, failing after two minutes: a liveness bound, not a
// timing (the replica tests' 600 tasks on PostgreSQL take 20 s on a loaded
// 2-core machine).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDispatchRetriesAndCompletesJob(t *testing.T) {
	t.Parallel()
	s := newService(t, newSQLite(t), Config{PollInterval: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	mustJob(t, s, cobalt.JobSpec{ID: "j", Constraints: &cobalt.JobConstraints{MaxTaskRetryCount: ptr(2)}})
	if _, err := s.AddTaskCollection(ctx, acct, "j", []cobalt.TaskSpec{{ID: "ok", CommandLine: "exit 0"}, {ID: "fail", CommandLine: "exit 3"},
		{ID: "big", CommandLine: "exit 0", RequiredSlots: ptr(2)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PatchJob(ctx, acct, "j", JobPatch{OnAllTasksComplete: cobalt.OnAllTasksCompleteTerminateJob}, Conditions{}); err != nil {
		t.Fatal(err)
	}
	node := cobalt.NodeRef{AccountID: acct, PoolID: "POOL1", NodeID: "n1"}
	go fakeAgent(ctx, s, node, 2, nil)
	waitFor(t, "the job to complete", func() bool { j, _ := s.GetJob(ctx, acct, "j"); return j.State == cobalt.JobCompleted })
	j, _ := s.GetJob(ctx, acct, "j")
	if j.ExecutionInfo.TerminateReason != "AllTasksComplete" {
		t.Fatalf("job %+v", j.ExecutionInfo)
	}
	f, _ := s.GetTask(ctx, acct, "j", "fail")
	ei := f.ExecutionInfo
	if f.State != cobalt.TaskCompleted || ei.Result != cobalt.TaskFailure || ei.RetryCount != 2 || ei.RequeueCount != 0 || *ei.ExitCode != 3 ||
		ei.FailureInfo == nil || ei.FailureInfo.Code != "FailureExitCode" || ei.LastRetryTime == nil || f.NodeInfo == nil || f.NodeInfo.NodeID != "n1" {
		t.Fatalf("failed task %+v %+v", f, ei)
	}
	ok, _ := s.GetTask(ctx, acct, "j", "ok")
	if ok.ExecutionInfo.Result != cobalt.TaskSuccess || ok.ExecutionInfo.StartTime == nil || ok.ExecutionInfo.EndTime == nil || ok.NodeInfo.TaskRootDirectory != "workitems/j/job-1/ok" {
		t.Fatalf("ok task %+v", ok)
	}
	c, _ := s.JobTaskCounts(ctx, acct, "j")
	if c.TaskCounts != (TaskCounts{Completed: 3, Succeeded: 2, Failed: 1}) || c.TaskSlotCounts.Completed != 4 {
		t.Fatalf("counts %+v", c)
	}
}

func TestNodeLostRequeuesWithoutRetry(t *testing.T) {
	t.Parallel()
	s := newService(t, newSQLite(t), Config{})
	ctx := t.Context()
	mustJob(t, s, cobalt.JobSpec{ID: "j"})
	if _, err := s.AddTaskCollection(ctx, acct, "j", []cobalt.TaskSpec{{ID: "a", CommandLine: "x"}, {ID: "b", CommandLine: "x"}}); err != nil {
		t.Fatal(err)
	}
	n1 := cobalt.NodeRef{AccountID: acct, PoolID: "pool1", NodeID: "n1"}
	ls, err := s.Lease(ctx, n1, 4, 0)
	if err != nil || len(ls) != 2 || ls[0].TaskID != "a" || ls[0].Attempt != 1 {
		t.Fatalf("lease %+v %v", ls, err)
	}
	a, _ := s.GetTask(ctx, acct, "j", "a")
	if a.State != cobalt.TaskRunning || a.NodeInfo.NodeID != "n1" {
		t.Fatalf("running %+v", a)
	}
	if err := s.NodeLost(ctx, n1); err != nil {
		t.Fatal(err)
	}
	a, _ = s.GetTask(ctx, acct, "j", "a")
	if a.State != cobalt.TaskActive || a.ExecutionInfo.RequeueCount != 1 || a.ExecutionInfo.RetryCount != 0 || a.ExecutionInfo.LastRequeueTime == nil {
		t.Fatalf("requeued %+v", a.ExecutionInfo)
	}
	// The lost node's late report is ignored.
	code := 0
	if err := s.Report(ctx, n1, nodeproto.ReportRequest{LeaseID: ls[0].LeaseID, Event: "completed", ExitCode: &code}); err != nil {
		t.Fatal(err)
	}
	n2 := cobalt.NodeRef{AccountID: acct, PoolID: "pool1", NodeID: "n2"}
	ls2, err := s.Lease(ctx, n2, 1, 0)
	if err != nil || len(ls2) != 1 || ls2[0].TaskID != "a" || ls2[0].Attempt != 2 {
		t.Fatalf("lease after requeue %+v %v", ls2, err)
	}
	if err := s.Report(ctx, n1, nodeproto.ReportRequest{LeaseID: ls2[0].LeaseID, Event: "completed", ExitCode: &code}); !cobalt.IsCode(err, cobalt.EForbidden) {
		t.Fatalf("report by another node: %v", err)
	}
	// Terminating a running task makes Reconcile stop it.
	if err := s.TerminateTask(ctx, acct, "j", "a", Conditions{}); err != nil {
		t.Fatal(err)
	}
	stop, err := s.Reconcile(ctx, n2, []string{ls2[0].LeaseID})
	if err != nil || len(stop) != 1 || stop[0] != ls2[0].LeaseID {
		t.Fatalf("reconcile %v %v", stop, err)
	}
}

func TestReconcileRequeuesUndeliveredLease(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	s := newService(t, newSQLiteAt(t, c.Now), Config{Now: c.Now, LostLeaseAge: time.Minute})
	ctx := t.Context()
	mustJob(t, s, cobalt.JobSpec{ID: "j"})
	if _, err := s.AddTask(ctx, acct, "j", cobalt.TaskSpec{ID: "a", CommandLine: "x"}); err != nil {
		t.Fatal(err)
	}
	n := cobalt.NodeRef{AccountID: acct, PoolID: "pool1", NodeID: "n"}
	if ls, _ := s.Lease(ctx, n, 1, 0); len(ls) != 1 {
		t.Fatal("no lease")
	}
	if _, err := s.Reconcile(ctx, n, nil); err != nil {
		t.Fatal(err)
	}
	if a, _ := s.GetTask(ctx, acct, "j", "a"); a.State != cobalt.TaskRunning {
		t.Fatalf("requeued too early: %s", a.State)
	}
	c.Add(2 * time.Minute)
	if _, err := s.Reconcile(ctx, n, nil); err != nil {
		t.Fatal(err)
	}
	if a, _ := s.GetTask(ctx, acct, "j", "a"); a.State != cobalt.TaskActive || a.ExecutionInfo.RequeueCount != 1 {
		t.Fatalf("not requeued: %+v", a)
	}
}

func TestWallClockSweep(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	s := newService(t, newSQLiteAt(t, c.Now), Config{Now: c.Now, LeaseGrace: time.Second})
	ctx := t.Context()
	mustJob(t, s, cobalt.JobSpec{ID: "j"})
	if _, err := s.AddTask(ctx, acct, "j", cobalt.TaskSpec{ID: "a", CommandLine: "x", Constraints: &cobalt.TaskConstraints{MaxWallClockTime: ptr(cobalt.Duration(90 * time.Second))}}); err != nil {
		t.Fatal(err)
	}
	ls, _ := s.Lease(ctx, cobalt.NodeRef{AccountID: acct, PoolID: "pool1", NodeID: "n"}, 1, 0)
	if len(ls) != 1 || ls[0].MaxWallClockSeconds != 90 {
		t.Fatalf("lease %+v", ls)
	}
	c.Add(80 * time.Second)
	if err := s.SweepExpiredLeases(ctx); err != nil {
		t.Fatal(err)
	}
	if a, _ := s.GetTask(ctx, acct, "j", "a"); a.State != cobalt.TaskRunning {
		t.Fatalf("ended early: %s", a.State)
	}
	c.Add(20 * time.Second)
	if err := s.SweepExpiredLeases(ctx); err != nil {
		t.Fatal(err)
	}
	a, _ := s.GetTask(ctx, acct, "j", "a")
	if a.State != cobalt.TaskCompleted || a.ExecutionInfo.FailureInfo == nil || a.ExecutionInfo.FailureInfo.Code != "TaskEnded" {
		t.Fatalf("after sweep %+v", a)
	}
}

type autoStorage map[string]string

func (a autoStorage) AutoStorageContainerURL(_ context.Context, _, name string) (string, error) {
	if u, ok := a[name]; ok {
		return u, nil
	}
	return "", cobalt.Errorf(cobalt.ENotFound, "no container")
}

func TestLeaseResolvesResourceFilesAndWakesOnAdd(t *testing.T) {
	t.Parallel()
	s := newService(t, newSQLite(t), Config{PollInterval: time.Hour, AutoStorage: autoStorage{"in": "https://127.0.0.1:1/sa/in"}})
	ctx := t.Context()
	mustJob(t, s, cobalt.JobSpec{ID: "j", CommonEnvironmentSettings: []cobalt.NameValue{{Name: "A", Value: "1"}}})
	n := cobalt.NodeRef{AccountID: acct, PoolID: "pool1", NodeID: "n"}
	got := make(chan []nodeproto.TaskLease, 1)
	go func() {
		ls, _ := s.Lease(ctx, n, 1, time.Minute)
		got <- ls
	}()
	waitFor(t, "the lease to wait", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return len(s.waiters) == 1 })
	_, err := s.AddTask(ctx, acct, "j", cobalt.TaskSpec{ID: "t", CommandLine: "x", EnvironmentSettings: []cobalt.NameValue{{Name: "B", Value: "2"}},
		UserIdentity:  &cobalt.UserIdentity{AutoUser: &cobalt.AutoUser{ElevationLevel: "admin"}},
		ResourceFiles: []cobalt.ResourceFile{{AutoStorageContainerName: "in", BlobPrefix: "x/", IdentityReference: &cobalt.IdentityReference{ResourceID: "/id"}}}})
	if err != nil {
		t.Fatal(err)
	}
	ls := <-got
	if len(ls) != 1 {
		t.Fatalf("leases %+v", ls)
	}
	l := ls[0]
	if fmt.Sprint(l.Environment) != "[{A 1} {B 2}]" || l.UserIdentity.AutoUserElevation != "admin" || l.UserIdentity.AutoUserScope != "pool" ||
		len(l.ResourceFiles) != 1 || l.ResourceFiles[0].StorageContainerURL != "https://127.0.0.1:1/sa/in" || l.ResourceFiles[0].IdentityResourceID != "/id" {
		t.Fatalf("lease %+v", l)
	}
	// An unresolvable auto-storage container fails the task instead of leasing it.
	if _, err := s.AddTask(ctx, acct, "j", cobalt.TaskSpec{ID: "u", CommandLine: "x", ResourceFiles: []cobalt.ResourceFile{{AutoStorageContainerName: "missing"}}}); err != nil {
		t.Fatal(err)
	}
	if ls, _ := s.Lease(ctx, n, 1, 0); len(ls) != 0 {
		t.Fatalf("leased %+v", ls)
	}
	u, _ := s.GetTask(ctx, acct, "j", "u")
	if u.State != cobalt.TaskCompleted || u.ExecutionInfo.FailureInfo == nil || u.ExecutionInfo.FailureInfo.Category != "usererror" {
		t.Fatalf("task u %+v", u)
	}
}

func TestOnTaskFailureTerminatesJob(t *testing.T) {
	t.Parallel()
	s := newService(t, newSQLite(t), Config{})
	ctx := t.Context()
	mustJob(t, s, cobalt.JobSpec{ID: "j", OnTaskFailure: cobalt.OnTaskFailurePerformExitOptionsJobAction})
	if _, err := s.AddTask(ctx, acct, "j", cobalt.TaskSpec{ID: "t", CommandLine: "x"}); err != nil {
		t.Fatal(err)
	}
	n := cobalt.NodeRef{AccountID: acct, PoolID: "pool1", NodeID: "n"}
	ls, _ := s.Lease(ctx, n, 1, 0)
	code := 1
	if err := s.Report(ctx, n, nodeproto.ReportRequest{LeaseID: ls[0].LeaseID, Event: "completed", ExitCode: &code}); err != nil {
		t.Fatal(err)
	}
	j, _ := s.GetJob(ctx, acct, "j")
	if j.State != cobalt.JobCompleted || j.ExecutionInfo.TerminateReason != "TaskFailed" {
		t.Fatalf("job %s %+v", j.State, j.ExecutionInfo)
	}
}

func TestSpreadAcrossWaitingNodes(t *testing.T) {
	t.Parallel()
	s := newService(t, newSQLite(t), Config{PollInterval: 10 * time.Millisecond, Pools: poolInfo{TaskSlotsPerNode: 4, NodeFillType: FillSpread}})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	mustJob(t, s, cobalt.JobSpec{ID: "j"})
	var mu sync.Mutex
	per := map[string]int{}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := cobalt.NodeRef{AccountID: acct, PoolID: "pool1", NodeID: fmt.Sprintf("n%d", i)}
			ls, _ := s.Lease(ctx, n, 4, 10*time.Second)
			mu.Lock()
			per[n.NodeID] += len(ls)
			mu.Unlock()
		}()
	}
	waitFor(t, "four waiting nodes", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return len(s.waiters[poolKey(acct, "pool1")]) == 4 })
	var specs []cobalt.TaskSpec
	for i := range 4 {
		specs = append(specs, cobalt.TaskSpec{ID: fmt.Sprintf("t%d", i), CommandLine: "x"})
	}
	if _, err := s.AddTaskCollection(ctx, acct, "j", specs); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for n, c := range per {
		if c != 1 {
			t.Fatalf("spread gave %v (node %s got %d)", per, n, c)
		}
	}
}

type poolInfo PoolScheduling

func (p poolInfo) Pool(context.Context, string, string) (*cobalt.Pool, error) {
	return &cobalt.Pool{TaskSlotsPerNode: p.TaskSlotsPerNode, TaskSchedulingPolicy: cobalt.TaskSchedulingPolicy{NodeFillType: p.NodeFillType}}, nil
}

// mustFilter parses a $filter over the fields the data plane offers.
func mustFilter(t testing.TB, s string) *odata.Filter {
	t.Helper()
	f, err := odata.ParseFilter(s, odata.Options{Fields: []string{"state", "id", "executionInfo/result", "displayName"}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// FuzzListFilter checks that the service's narrowing never drops an item
// the whole filter keeps, and that the states it sends the store are those
// of a match.
func FuzzListFilter(f *testing.F) {
	for _, s := range []string{"state eq 'active'", "(state eq 'a' or state eq 'b') and not id eq 'x'", "id eq 'it''s'",
		"displayName eq 'd' or state ne 'active'", "state eq 'completed' or state eq 'active'"} {
		f.Add(s, "active", "x", "d")
	}
	f.Fuzz(func(t *testing.T, s, state, id, name string) {
		flt, err := odata.ParseFilter(s, odata.Options{Fields: []string{"state", "id", "displayName"}})
		if err != nil {
			return
		}
		vals := map[string]string{"state": state, "id": id, "displayName": name}
		full := flt.Match(func(f string) (string, bool) { v, ok := vals[f]; return v, ok })
		lf := newListFilter(flt, "state", "id")
		if full && !lf.Match(vals) {
			t.Fatalf("%q: the service dropped an item the filter keeps: %v", s, vals)
		}
		if states := lf.States(); full && states != nil && !slices.Contains(states, strings.ToLower(state)) {
			t.Fatalf("%q: store states %q exclude a match %v", s, states, vals)
		}
	})
}

func TestJobWallClockAndRetentionSweeps(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	var mu sync.Mutex
	var removed []string
	s := newService(t, newSQLiteAt(t, c.Now), Config{Now: c.Now, RemoveTaskFiles: func(_ context.Context, _, node, job, task string) error {
		mu.Lock()
		defer mu.Unlock()
		removed = append(removed, node+"/"+job+"/"+task)
		return nil
	}})
	ctx := t.Context()
	mustJob(t, s, cobalt.JobSpec{ID: "Limited", Constraints: &cobalt.JobConstraints{MaxWallClockTime: ptr(cobalt.Duration(time.Hour))}})
	mustJob(t, s, cobalt.JobSpec{ID: "free"})
	if _, err := s.AddTask(ctx, acct, "free", cobalt.TaskSpec{ID: "T", CommandLine: "x", Constraints: &cobalt.TaskConstraints{RetentionTime: ptr(cobalt.Duration(time.Minute))}}); err != nil {
		t.Fatal(err)
	}
	n := cobalt.NodeRef{AccountID: acct, PoolID: "pool1", NodeID: "n"}
	ls, _ := s.Lease(ctx, n, 1, 0)
	code := 0
	if err := s.Report(ctx, n, nodeproto.ReportRequest{LeaseID: ls[0].LeaseID, Event: "completed", ExitCode: &code}); err != nil {
		t.Fatal(err)
	}
	c.Add(30 * time.Minute)
	if err := s.SweepJobWallClock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.SweepRetention(ctx); err != nil {
		t.Fatal(err)
	}
	if j, _ := s.GetJob(ctx, acct, "limited"); j.State != cobalt.JobActive || len(removed) != 1 || removed[0] != "n/free/T" {
		t.Fatalf("after 30m: job %s, removed %v", j.State, removed)
	}
	if tk, err := s.GetTask(ctx, acct, "free", "T"); err != nil || !tk.FilesRemoved {
		t.Fatalf("the task whose files were removed: %v %v", tk.FilesRemoved, err)
	}
	c.Add(31 * time.Minute)
	if err := s.SweepJobWallClock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.SweepRetention(ctx); err != nil {
		t.Fatal(err)
	}
	j, _ := s.GetJob(ctx, acct, "limited")
	if j.State != cobalt.JobCompleted || j.ExecutionInfo.TerminateReason != "MaxWallClockTimeExpiry" || len(removed) != 1 {
		t.Fatalf("after 61m: job %s %q, removed %v", j.State, j.ExecutionInfo.TerminateReason, removed)
	}
	if f, _ := s.GetJob(ctx, acct, "free"); f.State != cobalt.JobActive {
		t.Fatalf("unlimited job %s", f.State)
	}
}

func TestMaxParallelTasks(t *testing.T) {
	t.Parallel()
	s := newService(t, newSQLite(t), Config{})
	ctx := t.Context()
	mustJob(t, s, cobalt.JobSpec{ID: "j", MaxParallelTasks: ptr(2)})
	mustJob(t, s, cobalt.JobSpec{ID: "k"})
	if _, err := s.AddTaskCollection(ctx, acct, "j", []cobalt.TaskSpec{{ID: "a", CommandLine: "x"}, {ID: "b", CommandLine: "x"}, {ID: "c", CommandLine: "x"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddTask(ctx, acct, "k", cobalt.TaskSpec{ID: "other", CommandLine: "x"}); err != nil {
		t.Fatal(err)
	}
	n := cobalt.NodeRef{AccountID: acct, PoolID: "pool1", NodeID: "n"}
	ls, err := s.Lease(ctx, n, 8, 0)
	var ids []string
	for _, l := range ls {
		ids = append(ids, l.TaskID)
	}
	if err != nil || fmt.Sprint(ids) != "[a b other]" {
		t.Fatalf("leased %v %v", ids, err)
	}
	code := 0
	if err := s.Report(ctx, n, nodeproto.ReportRequest{LeaseID: ls[0].LeaseID, Event: "completed", ExitCode: &code}); err != nil {
		t.Fatal(err)
	}
	if ls, _ := s.Lease(ctx, n, 8, 0); len(ls) != 1 || ls[0].TaskID != "c" {
		t.Fatalf("after one completed: %+v", ls)
	}
}

// claimedTask returns a service whose job "j" has one task, "a", claimed
// by node n1 300 ms ago (by the service's clock) with no report yet, and
// the time of the claim.
func claimedTask(t *testing.T) (*Service, time.Time) {
	t.Helper()
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	s := newService(t, newSQLiteAt(t, c.Now), Config{Now: c.Now})
	mustJob(t, s, cobalt.JobSpec{ID: "j"})
	if _, err := s.AddTask(t.Context(), acct, "j", cobalt.TaskSpec{ID: "a", CommandLine: "x"}); err != nil {
		t.Fatal(err)
	}
	claimed := c.Now()
	n1 := cobalt.NodeRef{AccountID: acct, PoolID: "pool1", NodeID: "n1"}
	if ls, err := s.Lease(t.Context(), n1, 1, 0); err != nil || len(ls) != 1 {
		t.Fatalf("lease %+v %v", ls, err)
	}
	c.Add(300 * time.Millisecond)
	return s, claimed
}

// A running task terminated before its node reported its start (an agent
// reports a start after a second) has the start of its claim.
func TestTerminateBeforeStartReportKeepsStartTime(t *testing.T) {
	t.Parallel()
	s, claimed := claimedTask(t)
	ctx := t.Context()
	if err := s.TerminateTask(ctx, acct, "j", "a", Conditions{}); err != nil {
		t.Fatal(err)
	}
	a, err := s.GetTask(ctx, acct, "j", "a")
	if err != nil {
		t.Fatal(err)
	}
	ei := a.ExecutionInfo
	if a.State != cobalt.TaskCompleted || ei.StartTime == nil || !ei.StartTime.Equal(claimed) || ei.EndTime == nil || ei.EndTime.Before(*ei.StartTime) {
		t.Fatalf("terminated task: state %s, start %v, end %v; want start %v", a.State, ei.StartTime, ei.EndTime, claimed)
	}
}

// TestRunningTaskShowsItsClaimAsStart: a running task whose node has not
// reported its start yet (an agent reports it after a second) shows its
// claim as its start time, and the node's reported start once it arrives.
func TestRunningTaskShowsItsClaimAsStart(t *testing.T) {
	t.Parallel()
	s, claimed := claimedTask(t)
	ctx := t.Context()
	a, err := s.GetTask(ctx, acct, "j", "a")
	if err != nil {
		t.Fatal(err)
	}
	if a.State != cobalt.TaskRunning || a.ExecutionInfo.StartTime == nil || !a.ExecutionInfo.StartTime.Equal(claimed) {
		t.Fatalf("running task before its start report: state %s, start %v; want %v", a.State, a.ExecutionInfo.StartTime, claimed)
	}
}
