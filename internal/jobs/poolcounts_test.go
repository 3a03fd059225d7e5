package jobs

import (
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// TestPoolTaskCounts checks the counts the autoscale samples read: by pool
// across jobs, queued tasks waiting on dependencies not active, and
// completions by result; and the job statistics from the same tasks.
func TestPoolTaskCounts(t *testing.T) {
	t.Parallel()
	s := newService(t, newSQLite(t), Config{})
	ctx := t.Context()
	mustJob(t, s, cobalt.JobSpec{ID: "a", UsesTaskDependencies: ptr(true)})
	mustJob(t, s, cobalt.JobSpec{ID: "b"})
	mustJob(t, s, cobalt.JobSpec{ID: "other", PoolInfo: &cobalt.PoolInformation{PoolID: "Pool2"}})
	add := func(job string, specs ...cobalt.TaskSpec) {
		t.Helper()
		res, err := s.AddTaskCollection(ctx, acct, job, specs)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Status != AddSuccess {
				t.Fatalf("add %s: %v", r.TaskID, r.Err)
			}
		}
	}
	add("a", cobalt.TaskSpec{ID: "first", CommandLine: "x"}, cobalt.TaskSpec{ID: "then", CommandLine: "x",
		DependsOn: &cobalt.TaskDependencies{TaskIDs: []string{"first"}}})
	add("b", cobalt.TaskSpec{ID: "ok", CommandLine: "x"}, cobalt.TaskSpec{ID: "bad", CommandLine: "x"}, cobalt.TaskSpec{ID: "queued", CommandLine: "x"})
	add("other", cobalt.TaskSpec{ID: "t", CommandLine: "x"})

	// One node leases the three oldest tasks ("first", "ok", "bad"), starts
	// them all and finishes b's two: one succeeds, one fails.
	node := cobalt.NodeRef{AccountID: acct, PoolID: "pool1", NodeID: "n1"}
	leases, err := s.Lease(ctx, node, 3, time.Second)
	if err != nil || len(leases) != 3 {
		t.Fatalf("lease: %d %v", len(leases), err)
	}
	start := time.Now().UTC().Add(-time.Minute)
	end := start.Add(3 * time.Second)
	done := map[string]int{}
	for _, l := range leases {
		if err := s.Report(ctx, node, nodeproto.ReportRequest{NodeID: "n1", LeaseID: l.LeaseID, Event: "started", StartTime: start}); err != nil {
			t.Fatal(err)
		}
		if l.JobID != "b" {
			continue
		}
		code := len(done) // the first exits 0, the second 1
		done[l.TaskID] = code
		if err := s.Report(ctx, node, nodeproto.ReportRequest{NodeID: "n1", LeaseID: l.LeaseID, Event: "completed",
			StartTime: start, EndTime: &end, ExitCode: &code}); err != nil {
			t.Fatal(err)
		}
	}
	counts, err := s.PoolTaskCounts(ctx, acct)
	if err != nil {
		t.Fatal(err)
	}
	if len(done) != 2 {
		t.Fatalf("leased %+v", leases)
	}
	// pool1: 5 tasks; "queued" is active, "then" waits, "first" runs.
	want := cobalt.PoolTaskCounts{Active: 1, Running: 1, Succeeded: 1, Failed: 1}
	if counts["pool1"] != want || counts["pool2"] != (cobalt.PoolTaskCounts{Active: 1}) {
		t.Fatalf("counts %+v, want pool1 %+v", counts, want)
	}

	st, err := s.JobStats(ctx, acct, "b")
	if err != nil {
		t.Fatal(err)
	}
	if st.NumSucceededTasks != 1 || st.NumFailedTasks != 1 || st.NumTaskRetries != 0 || st.WallClockTime != 6*time.Second {
		t.Fatalf("job stats %+v for %v", st, done)
	}
	if _, err := s.JobStats(ctx, acct, "nope"); reason(err) != "JobNotFound" {
		t.Fatalf("stats of a missing job: %v", err)
	}
	all, err := s.AccountJobStats(ctx, acct)
	if err != nil || all.NumSucceededTasks != st.NumSucceededTasks || all.NumFailedTasks != st.NumFailedTasks {
		t.Fatalf("account stats %+v %v", all, err)
	}
}
