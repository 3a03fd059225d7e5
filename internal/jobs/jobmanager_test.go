package jobs

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// TestJobManagerTask: the job manager is the job's first task, asks for a
// whole node when exclusive, and completes the job when it completes
// (killJobOnCompletion), ending the tasks still running.
func TestJobManagerTask(t *testing.T) {
	s := newService(t, newSQLite(t), Config{PollInterval: 10 * time.Millisecond, Pools: poolInfo{TaskSlotsPerNode: 4, NodeFillType: FillSpread}})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if _, err := s.AddJob(ctx, acct, cobalt.JobSpec{ID: "bad", PoolInfo: &cobalt.PoolInformation{PoolID: "pool1"},
		JobManagerTask: &cobalt.JobManagerTask{TaskSpec: cobalt.TaskSpec{ID: "m"}}}); reason(err) != "MissingProperty" {
		t.Fatalf("a job manager without commandLine: %v", err)
	}
	if _, err := s.GetJob(ctx, acct, "bad"); reason(err) != "JobNotFound" {
		t.Fatalf("the refused job exists: %v", err)
	}
	j, err := s.AddJob(ctx, acct, cobalt.JobSpec{ID: "j", PoolInfo: &cobalt.PoolInformation{PoolID: "pool1"},
		JobManagerTask: &cobalt.JobManagerTask{TaskSpec: cobalt.TaskSpec{ID: "manager", CommandLine: "wait"}}})
	if err != nil {
		t.Fatal(err)
	}
	if m := j.JobManagerTask; m == nil || !*m.KillJobOnCompletion || !*m.RunExclusive {
		t.Fatalf("job manager defaults: %+v", m)
	}
	mt, err := s.GetTask(ctx, acct, "j", "manager")
	if err != nil || *mt.RequiredSlots != 4 || mt.CommandLine != "wait" {
		t.Fatalf("the job manager's task: %+v %v", mt, err)
	}
	if _, err := s.AddTask(ctx, acct, "j", cobalt.TaskSpec{ID: "worker", CommandLine: "wait"}); err != nil {
		t.Fatal(err)
	}
	// A node with 4 slots: the manager takes all of them, the worker waits.
	node := cobalt.NodeRef{AccountID: acct, PoolID: "pool1", NodeID: "n1"}
	release := make(chan struct{})
	var mu sync.Mutex
	var order []string
	go runAgent(ctx, s, node, 4, func(l nodeproto.TaskLease) nodeproto.ReportRequest {
		mu.Lock()
		order = append(order, l.TaskID)
		mu.Unlock()
		if l.TaskID == "manager" {
			<-release
		}
		code := 0
		end := time.Now()
		return nodeproto.ReportRequest{LeaseID: l.LeaseID, Event: "completed", StartTime: end, EndTime: &end, ExitCode: &code}
	})
	waitFor(t, "the manager to run", func() bool {
		tk, _ := s.GetTask(ctx, acct, "j", "manager")
		return tk.State == cobalt.TaskRunning
	})
	if w, _ := s.GetTask(ctx, acct, "j", "worker"); w.State != cobalt.TaskActive {
		t.Fatalf("the worker is %s while an exclusive manager runs", w.State)
	}
	close(release)
	waitFor(t, "the job to complete", func() bool {
		j, _ := s.GetJob(ctx, acct, "j")
		return j.State == cobalt.JobCompleted
	})
	j, _ = s.GetJob(ctx, acct, "j")
	if j.ExecutionInfo.TerminateReason != "JMComplete" {
		t.Fatalf("terminateReason %q", j.ExecutionInfo.TerminateReason)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(order) == 0 || order[0] != "manager" {
		t.Fatalf("run order %v", order)
	}
}
