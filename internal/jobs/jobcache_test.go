package jobs

import (
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
	"github.com/cobaltbatch/cobalt/internal/store"
)

func cacheRecord(id string, version int64, spec string) store.JobRecord {
	t := time.Date(2026, 12, 5, 14, 0, 0, 0, time.UTC)
	return store.JobRecord{AccountKey: "acct", ID: id, Key: "job", State: "active", Spec: []byte(spec),
		Version: version, CreatedAt: t, UpdatedAt: t.Add(time.Duration(version) * time.Second)}
}

// The decoded-job cache serves only a record equal to the one it decoded:
// any change of the job (version, spec, state, ID's case, a new job under
// the same key) decodes again, and what it returns is what jobFromRecord
// returns.
func TestDecodedJobsServeOnlyTheSameRecord(t *testing.T) {
	c := newJobDecodes()
	decode := func(r store.JobRecord) (*cobalt.Job, error) { return c.Get(r.AccountKey+"\x00"+r.Key, r) }
	r := cacheRecord("Job", 1, `{"onAllTasksComplete":"noaction","state":"active"}`)
	a, err := decode(r)
	if err != nil {
		t.Fatal(err)
	}
	if a.OnAllTasksComplete != cobalt.OnAllTasksCompleteNoAction || a.ID != "Job" {
		t.Fatalf("decoded %+v", a)
	}
	if b, _ := decode(r); b != a {
		t.Fatal("the same record decoded again")
	}
	changes := []func(*store.JobRecord){
		func(r *store.JobRecord) { r.Version = 2 },
		func(r *store.JobRecord) { r.Spec = []byte(`{"onAllTasksComplete":"terminatejob","state":"active"}`) },
		func(r *store.JobRecord) { r.State = "disabled" },
		func(r *store.JobRecord) { r.ID = "JOB" },
		func(r *store.JobRecord) { r.CreatedAt = r.CreatedAt.Add(time.Nanosecond) },
		func(r *store.JobRecord) { r.UpdatedAt = r.UpdatedAt.Add(time.Nanosecond) },
	}
	for i, change := range changes {
		r2 := r
		change(&r2)
		got, err := decode(r2)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := jobFromRecord(r2)
		if got == a || got.ID != want.ID || got.State != want.State || got.ETag != want.ETag ||
			got.OnAllTasksComplete != want.OnAllTasksComplete || !got.CreationTime.Equal(want.CreationTime) ||
			!got.LastModified.Equal(want.LastModified) {
			t.Errorf("change %d: got %+v, want %+v", i, got, want)
		}
		a, _ = decode(r) // back to the original record
	}
	if _, err := decode(cacheRecord("Job", 3, `{`)); err == nil {
		t.Error("a malformed spec decoded")
	}
}

// Two replicas on one store: a job update made through one is obeyed at
// once by the other's claims and completions, whose decodings of the job
// came from the record before the update (the cache never skips the read).
func TestJobUpdateThroughAnotherReplicaIsSeenAtOnce(t *testing.T) {
	t.Parallel()
	st := newSQLite(t)
	a, b := newService(t, st, Config{}), newService(t, st, Config{})
	ctx := t.Context()
	mustJob(t, a, cobalt.JobSpec{ID: "j"})
	if _, err := a.AddTaskCollection(ctx, acct, "j", []cobalt.TaskSpec{{ID: "t1", CommandLine: "x"}, {ID: "t2", CommandLine: "x"}, {ID: "t3", CommandLine: "x"}}); err != nil {
		t.Fatal(err)
	}
	n := cobalt.NodeRef{AccountID: acct, PoolID: "pool1", NodeID: "n"}
	complete := func(l nodeproto.TaskLease) {
		t.Helper()
		code := 0
		if err := a.Report(ctx, n, nodeproto.ReportRequest{LeaseID: l.LeaseID, Event: "completed", ExitCode: &code}); err != nil {
			t.Fatal(err)
		}
	}
	// A decodes the job (claim and completion) while it has no limit and no action.
	ls, err := a.Lease(ctx, n, 1, 0)
	if err != nil || len(ls) != 1 {
		t.Fatalf("leased %+v %v", ls, err)
	}
	complete(ls[0])
	// Through B: at most one task at a time, and terminate when all complete.
	if _, err := b.PatchJob(ctx, acct, "j", JobPatch{MaxParallelTasks: ptr(1), OnAllTasksComplete: cobalt.OnAllTasksCompleteTerminateJob}, Conditions{}); err != nil {
		t.Fatal(err)
	}
	if ls, err = a.Lease(ctx, n, 4, 0); err != nil || len(ls) != 1 {
		t.Fatalf("with maxParallelTasks 1 set through the other replica, leased %d tasks (%v)", len(ls), err)
	}
	complete(ls[0])
	if ls, err = a.Lease(ctx, n, 4, 0); err != nil || len(ls) != 1 {
		t.Fatalf("the last task: leased %d (%v)", len(ls), err)
	}
	complete(ls[0])
	j, err := b.GetJob(ctx, acct, "j")
	if err != nil || j.State != cobalt.JobCompleted || j.ExecutionInfo.TerminateReason != "AllTasksComplete" {
		t.Fatalf("job after its last task: %v %+v %v", j.State, j.ExecutionInfo, err)
	}
}
