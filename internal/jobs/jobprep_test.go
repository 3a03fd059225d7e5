package jobs

import (
	"errors"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
	"github.com/cobaltbatch/cobalt/internal/store"
)

func prepJob(t *testing.T, s *Service, id string, wait bool) cobalt.Job {
	t.Helper()
	return mustJob(t, s, cobalt.JobSpec{ID: id,
		JobPreparationTask: &cobalt.JobPreparationTask{CommandLine: "prep", WaitForSuccess: ptr(wait)},
		JobReleaseTask:     &cobalt.JobReleaseTask{CommandLine: "release"}})
}

// leaseOne leases one task for the node, or fails the test.
func leaseOne(t *testing.T, s *Service, node cobalt.NodeRef) nodeproto.TaskLease {
	t.Helper()
	ls, err := s.Lease(t.Context(), node, 1, 0)
	if err != nil || len(ls) != 1 {
		t.Fatalf("lease on %s: %v %v", node.NodeID, ls, err)
	}
	return ls[0]
}

func prepReport(node cobalt.NodeRef, jt *nodeproto.JobTask, event string, exit int, attempt int) nodeproto.ReportRequest {
	end := time.Now()
	r := nodeproto.ReportRequest{NodeID: node.NodeID, Event: event, JobTask: jt.Kind, JobID: jt.JobID, Instance: jt.Instance,
		RetryCount: attempt, StartTime: end}
	if event == "completed" {
		r.EndTime, r.ExitCode = &end, &exit
	}
	return r
}

// TestJobPrepFailureKeepsTasksOffTheNode: a node whose preparation task
// failed gives its lease back and is never offered the job's tasks again,
// while another node is; without waitForSuccess the failure blocks nothing.
func TestJobPrepFailureKeepsTasksOffTheNode(t *testing.T) {
	t.Parallel()
	s := newService(t, newSQLite(t), Config{})
	ctx := t.Context()
	prepJob(t, s, "j", true)
	if _, err := s.AddTask(ctx, acct, "j", cobalt.TaskSpec{ID: "t", CommandLine: "x"}); err != nil {
		t.Fatal(err)
	}
	n1 := cobalt.NodeRef{AccountID: acct, PoolID: "pool1", NodeID: "n1"}
	n2 := cobalt.NodeRef{AccountID: acct, PoolID: "pool1", NodeID: "n2"}
	l := leaseOne(t, s, n1)
	jp := l.JobPreparation
	if jp == nil || jp.TaskID != DefaultJobPreparationID || !jp.WaitForSuccess || !jp.RerunOnNodeRebootAfterSuccess || jp.Kind != nodeproto.JobTaskPreparation {
		t.Fatalf("the lease's preparation task: %+v", jp)
	}
	for _, r := range []nodeproto.ReportRequest{prepReport(n1, jp, "started", 0, 0), prepReport(n1, jp, "completed", 1, 0),
		{NodeID: "n1", LeaseID: l.LeaseID, Event: "released"}} {
		if err := s.Report(ctx, n1, r); err != nil {
			t.Fatalf("report %+v: %v", r, err)
		}
	}
	if tk, _ := s.GetTask(ctx, acct, "j", "t"); tk.State != cobalt.TaskActive || tk.ExecutionInfo.RetryCount != 0 || tk.NodeInfo != nil {
		t.Fatalf("the given-back task: %+v %+v", tk.State, tk.ExecutionInfo)
	}
	if ls, _ := s.Lease(ctx, n1, 1, 0); len(ls) != 0 {
		t.Fatalf("the node whose preparation failed got %v", ls)
	}
	if l2 := leaseOne(t, s, n2); l2.TaskID != "t" {
		t.Fatalf("the other node got %+v", l2)
	}
	st, _, err := s.PrepReleaseStatus(ctx, acct, "j", ListOptions{})
	if err != nil || len(st) != 1 || st[0].NodeID != "n1" || st[0].Preparation.Result != cobalt.TaskFailure ||
		st[0].Preparation.FailureInfo == nil || st[0].Preparation.FailureInfo.Code != "FailureExitCode" {
		t.Fatalf("status: %+v %v", st, err)
	}

	// Without waitForSuccess a failed preparation task blocks nothing.
	prepJob(t, s, "nowait", false)
	if _, err := s.AddTask(ctx, acct, "nowait", cobalt.TaskSpec{ID: "t", CommandLine: "x"}); err != nil {
		t.Fatal(err)
	}
	n3 := cobalt.NodeRef{AccountID: acct, PoolID: "pool1", NodeID: "n3"}
	l = leaseOne(t, s, n3)
	_ = s.Report(ctx, n3, prepReport(n3, l.JobPreparation, "completed", 1, 0))
	_ = s.Report(ctx, n3, nodeproto.ReportRequest{NodeID: "n3", LeaseID: l.LeaseID, Event: "released"})
	if l := leaseOne(t, s, n3); l.JobID != "nowait" {
		t.Fatalf("got %+v", l)
	}
}

// TestJobPrepReportsAreTheNodesOwn: a node cannot report on a job of
// another pool, run a release where it ran no preparation task, or give
// back another node's lease; a report about an earlier job of the same ID
// is ignored.
func TestJobPrepReportsAreTheNodesOwn(t *testing.T) {
	t.Parallel()
	s := newService(t, newSQLite(t), Config{})
	ctx := t.Context()
	prepJob(t, s, "j", true)
	if _, err := s.AddTask(ctx, acct, "j", cobalt.TaskSpec{ID: "t", CommandLine: "x"}); err != nil {
		t.Fatal(err)
	}
	n1 := cobalt.NodeRef{AccountID: acct, PoolID: "pool1", NodeID: "n1"}
	other := cobalt.NodeRef{AccountID: acct, PoolID: "pool2", NodeID: "x1"}
	l := leaseOne(t, s, n1)
	jp := *l.JobPreparation
	if err := s.Report(ctx, other, prepReport(other, &jp, "completed", 1, 0)); !cobalt.IsCode(err, cobalt.EForbidden) {
		t.Fatalf("a node of another pool reported the preparation: %v", err)
	}
	rel := jp
	rel.Kind = nodeproto.JobTaskRelease
	if err := s.Report(ctx, n1, prepReport(n1, &rel, "completed", 0, 0)); !cobalt.IsCode(err, cobalt.EForbidden) {
		t.Fatalf("a release where no preparation ran: %v", err)
	}
	if err := s.Report(ctx, other, nodeproto.ReportRequest{NodeID: "x1", LeaseID: l.LeaseID, Event: "released"}); !cobalt.IsCode(err, cobalt.EForbidden) {
		t.Fatalf("another node gave the lease back: %v", err)
	}
	stale := jp
	stale.Instance = "old"
	if err := s.Report(ctx, n1, prepReport(n1, &stale, "completed", 1, 0)); err != nil {
		t.Fatal(err)
	}
	if st, _, _ := s.PrepReleaseStatus(ctx, acct, "j", ListOptions{}); len(st) != 0 {
		t.Fatalf("a stale instance's report counted: %+v", st)
	}
	if rs, _ := s.JobReleases(ctx, n1); len(rs) != 0 {
		t.Fatalf("releases before the job ended: %+v", rs)
	}
	// The real report, then the job ends: the node is sent the release
	// task until it reports it started.
	if err := s.Report(ctx, n1, prepReport(n1, &jp, "completed", 0, 0)); err != nil {
		t.Fatal(err)
	}
	if err := s.TerminateJob(ctx, acct, "j", "", Conditions{}); err != nil {
		t.Fatal(err)
	}
	rs, err := s.JobReleases(ctx, n1)
	if err != nil || len(rs) != 1 || rs[0].TaskID != DefaultJobReleaseID || rs[0].MaxWallClockSeconds != 900 || rs[0].Instance != jp.Instance {
		t.Fatalf("releases: %+v %v", rs, err)
	}
	if rs, _ := s.JobReleases(ctx, other); len(rs) != 0 {
		t.Fatalf("another node is sent the release: %+v", rs)
	}
	if err := s.Report(ctx, n1, prepReport(n1, &rs[0], "started", 0, 0)); err != nil {
		t.Fatal(err)
	}
	if rs, _ := s.JobReleases(ctx, n1); len(rs) != 0 {
		t.Fatalf("a started release is sent again: %+v", rs)
	}
	// Deleting the job keeps the record until the release completed.
	if err := s.DeleteJob(ctx, acct, "j", Conditions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Report(ctx, n1, prepReport(n1, &rs[0], "completed", 0, 0)); err != nil {
		t.Fatal(err)
	}
	if recs, _, _ := s.st.JobPrepList(ctx, storeJobPrepAll()); len(recs) != 0 {
		t.Fatalf("a deleted job's records after its release: %+v", recs)
	}
}

// TestJobPrepValidation: Batch's defaults and refusals.
func TestJobPrepValidation(t *testing.T) {
	t.Parallel()
	s := newService(t, newSQLite(t), Config{})
	ctx := t.Context()
	pi := &cobalt.PoolInformation{PoolID: "pool1"}
	for _, tt := range []struct {
		spec   cobalt.JobSpec
		target string
	}{
		{cobalt.JobSpec{ID: "a", PoolInfo: pi, JobReleaseTask: &cobalt.JobReleaseTask{CommandLine: "x"}}, "jobReleaseTask"},
		{cobalt.JobSpec{ID: "b", PoolInfo: pi, JobPreparationTask: &cobalt.JobPreparationTask{}}, "jobPreparationTask.commandLine"},
		{cobalt.JobSpec{ID: "c", PoolInfo: pi, JobPreparationTask: &cobalt.JobPreparationTask{CommandLine: "x"},
			JobReleaseTask: &cobalt.JobReleaseTask{ID: "JOBPREPARATION", CommandLine: "x"}}, "jobReleaseTask.id"},
		{cobalt.JobSpec{ID: "d", PoolInfo: pi, JobPreparationTask: &cobalt.JobPreparationTask{CommandLine: "x"},
			JobReleaseTask: &cobalt.JobReleaseTask{CommandLine: "x", MaxWallClockTime: ptr(cobalt.Duration(16 * time.Minute))}}, "jobReleaseTask.maxWallClockTime"},
	} {
		_, err := s.AddJob(ctx, acct, tt.spec)
		var e *cobalt.Error
		if !cobalt.IsCode(err, cobalt.EInvalid) || !asError(err, &e) || e.Target != tt.target {
			t.Errorf("%s: %v, want EInvalid at %s", tt.spec.ID, err, tt.target)
		}
	}
	prepJob(t, s, "j", true)
	for id, want := range map[string]string{"JobPreparation": ReasonTaskIDSameAsJobPrep, "jobrelease": ReasonTaskIDSameAsJobRelease} {
		if _, err := s.AddTask(ctx, acct, "j", cobalt.TaskSpec{ID: id, CommandLine: "x"}); reason(err) != want {
			t.Errorf("task %s: %v, want %s", id, err, want)
		}
	}
	if _, _, err := s.PrepReleaseStatus(ctx, acct, "j", ListOptions{}); err != nil {
		t.Fatal(err)
	}
	mustJob(t, s, cobalt.JobSpec{ID: "plain"})
	if _, _, err := s.PrepReleaseStatus(ctx, acct, "plain", ListOptions{}); reason(err) != ReasonNoJobPrepOrRelease || !cobalt.IsCode(err, cobalt.EConflict) {
		t.Fatalf("status of a job without them: %v", err)
	}
}

func storeJobPrepAll() store.JobPrepListParams { return store.JobPrepListParams{AccountKey: acct} }

func asError(err error, e **cobalt.Error) bool { return errors.As(err, e) }

// TestJobPrepOnSchedules: a schedule's job template is checked as a job
// is, and the schedule's jobs carry its preparation task.
func TestJobPrepOnSchedules(t *testing.T) {
	t.Parallel()
	s := newService(t, newSQLite(t), Config{})
	ctx := t.Context()
	pi := &cobalt.PoolInformation{PoolID: "pool1"}
	_, err := s.AddJobSchedule(ctx, acct, cobalt.JobScheduleSpec{ID: "bad",
		JobSpecification: cobalt.JobSpec{PoolInfo: pi, JobReleaseTask: &cobalt.JobReleaseTask{CommandLine: "x"}}})
	var e *cobalt.Error
	if !cobalt.IsCode(err, cobalt.EInvalid) || !asError(err, &e) || e.Target != "jobSpecification.jobReleaseTask" {
		t.Fatalf("a template with a release task alone: %v", err)
	}
	if _, err := s.AddJobSchedule(ctx, acct, cobalt.JobScheduleSpec{ID: "good",
		JobSpecification: cobalt.JobSpec{PoolInfo: pi, JobPreparationTask: &cobalt.JobPreparationTask{CommandLine: "p"}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.FireDueSchedules(ctx); err != nil {
		t.Fatal(err)
	}
	j, err := s.GetJob(ctx, acct, "good:job-1")
	if err != nil || j.JobPreparationTask == nil || j.JobPreparationTask.ID != DefaultJobPreparationID || !*j.JobPreparationTask.WaitForSuccess {
		t.Fatalf("the schedule's job: %+v %v", j.JobPreparationTask, err)
	}
}
