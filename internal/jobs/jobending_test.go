package jobs

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// prepOn adds a task to the job, has the node lease it and report the
// job's preparation task done.
func prepOn(t *testing.T, s *Service, node cobalt.NodeRef, jobID string) {
	t.Helper()
	if _, err := s.AddTask(t.Context(), acct, jobID, cobalt.TaskSpec{ID: "t-" + node.NodeID, CommandLine: "x"}); err != nil {
		t.Fatal(err)
	}
	l := leaseOne(t, s, node)
	if err := s.Report(t.Context(), node, prepReport(node, l.JobPreparation, "completed", 0, 0)); err != nil {
		t.Fatal(err)
	}
}

// releaseOf is the release task of jobID the node is sent.
func releaseOf(t *testing.T, s *Service, node cobalt.NodeRef, jobID string) *nodeproto.JobTask {
	t.Helper()
	rs, err := s.JobReleases(t.Context(), node)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rs {
		if rs[i].JobID == jobID {
			return &rs[i]
		}
	}
	t.Fatalf("%s is not sent the release task of %s: %+v", node.NodeID, jobID, rs)
	return nil
}

func jobState(t *testing.T, s *Service, jobID string) (cobalt.Job, string) {
	t.Helper()
	j, err := s.GetJob(t.Context(), acct, jobID)
	if err != nil {
		return j, reason(err)
	}
	return j, string(j.State)
}

// TestJobEndsAfterItsReleaseTasks: a terminated job with a release task is
// terminating, and a deleted one deleting, until every node that ran its
// preparation task reported the release task completed; meanwhile writes
// get Batch's JobBeingTerminated and JobBeingDeleted. Then the terminated
// job completes (endTime set then) and the deleted one is gone with its
// records.
func TestJobEndsAfterItsReleaseTasks(t *testing.T) {
	t.Parallel()
	s := newService(t, newSQLite(t), Config{})
	ctx := t.Context()
	n1 := cobalt.NodeRef{AccountID: acct, PoolID: "pool1", NodeID: "n1"}
	n2 := cobalt.NodeRef{AccountID: acct, PoolID: "pool1", NodeID: "n2"}

	prepJob(t, s, "j", true)
	prepOn(t, s, n1, "j")
	prepOn(t, s, n2, "j")
	if err := s.TerminateJob(ctx, acct, "j", "", Conditions{}); err != nil {
		t.Fatal(err)
	}
	j, st := jobState(t, s, "j")
	if st != "terminating" || j.ExecutionInfo.TerminateReason != "UserTerminate" || j.ExecutionInfo.EndTime != nil {
		t.Fatalf("after terminate: %s %+v", st, j.ExecutionInfo)
	}
	if _, err := s.AddTask(ctx, acct, "j", cobalt.TaskSpec{ID: "late", CommandLine: "x"}); reason(err) != "JobBeingTerminated" {
		t.Errorf("add a task to a terminating job: %v", err)
	}
	if err := s.TerminateJob(ctx, acct, "j", "", Conditions{}); reason(err) != "JobBeingTerminated" {
		t.Errorf("terminate a terminating job: %v", err)
	}
	for i, n := range []cobalt.NodeRef{n1, n2} {
		rel := releaseOf(t, s, n, "j")
		if err := s.Report(ctx, n, prepReport(n, rel, "started", 0, 0)); err != nil {
			t.Fatal(err)
		}
		if err := s.Report(ctx, n, prepReport(n, rel, "completed", 0, 0)); err != nil {
			t.Fatal(err)
		}
		j, st := jobState(t, s, "j")
		if want := []string{"terminating", "completed"}[i]; st != want {
			t.Fatalf("after %s's release: %s, want %s", n.NodeID, st, want)
		}
		if i == 1 && (j.ExecutionInfo.EndTime == nil || j.ExecutionInfo.TerminateReason != "UserTerminate") {
			t.Errorf("completed job %+v", j.ExecutionInfo)
		}
	}

	prepJob(t, s, "k", true)
	prepOn(t, s, n1, "k")
	if err := s.DeleteJob(ctx, acct, "k", Conditions{}); err != nil {
		t.Fatal(err)
	}
	if _, st := jobState(t, s, "k"); st != "deleting" {
		t.Fatalf("after delete: %s", st)
	}
	if task, err := s.GetTask(ctx, acct, "k", "t-n1"); err != nil || task.State != cobalt.TaskCompleted {
		t.Errorf("the deleting job's running task: %+v %v", task.State, err)
	}
	if _, err := s.AddTask(ctx, acct, "k", cobalt.TaskSpec{ID: "late", CommandLine: "x"}); reason(err) != "JobBeingDeleted" {
		t.Errorf("add a task to a deleting job: %v", err)
	}
	if err := s.DeleteJob(ctx, acct, "k", Conditions{}); reason(err) != "JobBeingDeleted" {
		t.Errorf("delete a deleting job: %v", err)
	}
	if err := s.TerminateJob(ctx, acct, "k", "", Conditions{}); reason(err) != "JobBeingDeleted" {
		t.Errorf("terminate a deleting job: %v", err)
	}
	if _, err := s.AddJob(ctx, acct, cobalt.JobSpec{ID: "k", PoolInfo: &cobalt.PoolInformation{PoolID: "pool1"}}); reason(err) != "JobExists" {
		t.Errorf("add a job with a deleting job's ID: %v", err)
	}
	rel := releaseOf(t, s, n1, "k")
	if err := s.Report(ctx, n1, prepReport(n1, rel, "completed", 0, 0)); err != nil {
		t.Fatal(err)
	}
	if _, st := jobState(t, s, "k"); st != "JobNotFound" {
		t.Fatalf("after the release: %s", st)
	}
	if recs, _, _ := s.st.JobPrepList(ctx, store.JobPrepListParams{AccountKey: acct, JobKey: "k"}); len(recs) != 0 {
		t.Errorf("the deleted job's records: %+v", recs)
	}

	// Without a node that ran the preparation task, nothing is waited for.
	prepJob(t, s, "m", true)
	if err := s.TerminateJob(ctx, acct, "m", "", Conditions{}); err != nil {
		t.Fatal(err)
	}
	if j, st := jobState(t, s, "m"); st != "completed" || j.ExecutionInfo.EndTime == nil {
		t.Errorf("a terminated job no node ran: %s", st)
	}
	if err := s.DeleteJob(ctx, acct, "m", Conditions{}); err != nil {
		t.Fatal(err)
	}
	if _, st := jobState(t, s, "m"); st != "JobNotFound" {
		t.Errorf("a deleted job no node ran: %s", st)
	}
}

// TestEndingJobGivesUpOnAGoneNode: a node that never reports the release
// task (it went away) holds the job deleting only until the release task's
// longest run and a margin passed; then the sweep deletes it.
func TestEndingJobGivesUpOnAGoneNode(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := newService(t, newSQLiteAt(t, clk.Now), Config{Now: clk.Now})
	ctx := t.Context()
	n1 := cobalt.NodeRef{AccountID: acct, PoolID: "pool1", NodeID: "n1"}
	prepJob(t, s, "j", true)
	prepOn(t, s, n1, "j")
	if err := s.DeleteJob(ctx, acct, "j", Conditions{}); err != nil {
		t.Fatal(err)
	}
	clk.Add(MaxJobReleaseWallClock)
	if err := s.SweepEndingJobs(ctx); err != nil {
		t.Fatal(err)
	}
	if _, st := jobState(t, s, "j"); st != "deleting" {
		t.Fatalf("within the release's run: %s", st)
	}
	clk.Add(releaseGiveUp - MaxJobReleaseWallClock + time.Second)
	if err := s.SweepEndingJobs(ctx); err != nil {
		t.Fatal(err)
	}
	if _, st := jobState(t, s, "j"); st != "JobNotFound" {
		t.Fatalf("after giving up: %s", st)
	}
}

// TestJobPrepReleaseRetention: a node's preparation task directory goes
// once the task's constraints.retentionTime passed after it completed, its
// release task directory once the release task's retentionTime passed; a
// deleted job's go with it.
func TestJobPrepReleaseRetention(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var mu sync.Mutex
	var removed []string
	s := newService(t, newSQLiteAt(t, clk.Now), Config{Now: clk.Now, RemoveTaskFiles: func(_ context.Context, _, node, job, task string) error {
		mu.Lock()
		defer mu.Unlock()
		removed = append(removed, node+"/"+job+"/"+task)
		return nil
	}})
	got := func() string {
		mu.Lock()
		defer mu.Unlock()
		return strings.Join(removed, " ")
	}
	ctx := t.Context()
	n1 := cobalt.NodeRef{AccountID: acct, PoolID: "pool1", NodeID: "n1"}
	mustJob(t, s, cobalt.JobSpec{ID: "J",
		JobPreparationTask: &cobalt.JobPreparationTask{CommandLine: "prep", Constraints: &cobalt.TaskConstraints{RetentionTime: ptr(cobalt.Duration(time.Hour))}},
		JobReleaseTask:     &cobalt.JobReleaseTask{CommandLine: "release", RetentionTime: ptr(cobalt.Duration(2 * time.Hour))}})
	if _, err := s.AddTask(ctx, acct, "J", cobalt.TaskSpec{ID: "t", CommandLine: "x"}); err != nil {
		t.Fatal(err)
	}
	l := leaseOne(t, s, n1)
	end := clk.Now()
	rep := func(jt *nodeproto.JobTask) nodeproto.ReportRequest {
		code := 0
		return nodeproto.ReportRequest{NodeID: "n1", Event: "completed", JobTask: jt.Kind, JobID: jt.JobID, Instance: jt.Instance,
			StartTime: end, EndTime: &end, ExitCode: &code}
	}
	if err := s.Report(ctx, n1, rep(l.JobPreparation)); err != nil {
		t.Fatal(err)
	}
	if err := s.TerminateJob(ctx, acct, "J", "", Conditions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Report(ctx, n1, rep(releaseOf(t, s, n1, "J"))); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		after time.Duration
		want  string
	}{
		{30 * time.Minute, ""},
		{31 * time.Minute, "n1/J/jobpreparation"},
		{time.Hour, "n1/J/jobpreparation n1/J/jobrelease"},
		{time.Hour, "n1/J/jobpreparation n1/J/jobrelease"},
	} {
		clk.Add(step.after)
		if err := s.SweepRetention(ctx); err != nil {
			t.Fatal(err)
		}
		if got() != step.want {
			t.Fatalf("at %s: removed %q, want %q", clk.Now().Sub(end), got(), step.want)
		}
	}

	// A deleted job's directories go with it.
	prepJob(t, s, "K", true)
	prepOn(t, s, n1, "K")
	if err := s.DeleteJob(ctx, acct, "K", Conditions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Report(ctx, n1, rep(releaseOf(t, s, n1, "K"))); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(got(), "n1/K/jobpreparation n1/K/jobrelease") {
		t.Fatalf("after deleting K: removed %q", got())
	}
}
