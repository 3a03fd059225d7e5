package jobs

import (
	"testing"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// TestJobActionFor follows Batch's order for exitConditions' jobAction: a
// listed exit code or range, then fileUploadError or preProcessingError,
// then default; unset is terminate for a failure.
func TestJobActionFor(t *testing.T) {
	t.Parallel()
	opt := func(a string) *cobalt.ExitOptions { return &cobalt.ExitOptions{JobAction: a} }
	ec := &cobalt.ExitConditions{
		ExitCodes:          []cobalt.ExitCodeMapping{{Code: 3, ExitOptions: cobalt.ExitOptions{JobAction: "none"}}},
		ExitCodeRanges:     []cobalt.ExitCodeRangeMapping{{Start: 10, End: 20, ExitOptions: cobalt.ExitOptions{JobAction: "disable"}}},
		PreProcessingError: opt("none"), FileUploadError: opt("disable"), Default: opt("terminate"),
	}
	upload := &cobalt.TaskFailureInfo{Code: "FileUploadMiscError"}
	download := &cobalt.TaskFailureInfo{Code: "BlobDownloadMiscError"}
	for _, tt := range []struct {
		ec   *cobalt.ExitConditions
		code *int
		fi   *cobalt.TaskFailureInfo
		want string
	}{
		{ec, ptr(3), nil, "none"},
		{ec, ptr(3), upload, "none"}, // the exit code's options take precedence
		{ec, ptr(15), nil, "disable"},
		{ec, ptr(1), upload, "disable"},
		{ec, ptr(1), nil, "terminate"},
		{ec, nil, download, "none"},
		{nil, ptr(1), nil, "terminate"},
		{&cobalt.ExitConditions{ExitCodes: []cobalt.ExitCodeMapping{{Code: 1}}}, ptr(1), nil, "terminate"},
	} {
		tk := cobalt.Task{TaskSpec: cobalt.TaskSpec{ExitConditions: tt.ec}, ExecutionInfo: cobalt.TaskExecutionInfo{ExitCode: tt.code, FailureInfo: tt.fi}}
		if got := jobActionFor(tk); got != tt.want {
			t.Errorf("exit %v failure %+v: %s, want %s", tt.code, tt.fi, got, tt.want)
		}
	}
}

// TestJobActionDisableRequeues: a failed task whose jobAction is disable
// disables its job as "disable job" with requeue does, putting the job's
// running tasks back in the queue.
func TestJobActionDisableRequeues(t *testing.T) {
	t.Parallel()
	s := newService(t, newSQLite(t), Config{})
	ctx := t.Context()
	mustJob(t, s, cobalt.JobSpec{ID: "j", OnTaskFailure: cobalt.OnTaskFailurePerformExitOptionsJobAction})
	for _, spec := range []cobalt.TaskSpec{
		{ID: "fails", CommandLine: "x", ExitConditions: &cobalt.ExitConditions{Default: &cobalt.ExitOptions{JobAction: "disable"}}},
		{ID: "runs", CommandLine: "y"},
	} {
		if _, err := s.AddTask(ctx, acct, "j", spec); err != nil {
			t.Fatal(err)
		}
	}
	node := cobalt.NodeRef{AccountID: acct, PoolID: "pool1", NodeID: "n1"}
	ls, err := s.Lease(ctx, node, 2, 0)
	if err != nil || len(ls) != 2 {
		t.Fatalf("lease: %v %v", ls, err)
	}
	for _, l := range ls {
		if l.TaskID == "fails" {
			code := 1
			if err := s.Report(ctx, node, nodeproto.ReportRequest{NodeID: "n1", LeaseID: l.LeaseID, Event: "completed", ExitCode: &code}); err != nil {
				t.Fatal(err)
			}
		}
	}
	j, _ := s.GetJob(ctx, acct, "j")
	tk, _ := s.GetTask(ctx, acct, "j", "runs")
	if j.State != cobalt.JobDisabled || tk.State != cobalt.TaskActive || tk.ExecutionInfo.RequeueCount != 1 {
		t.Fatalf("job %s, running task %s requeued %d times", j.State, tk.State, tk.ExecutionInfo.RequeueCount)
	}
}
