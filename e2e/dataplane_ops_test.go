package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/batch/azbatch"
	"github.com/cobaltbatch/cobalt/internal/server"
)

// TestAutoScaleAndNodeScheduling drives, with azbatch, a data-plane pool that
// scales by formula (create with enableAutoScale, evaluate a formula) and
// disables then enables task scheduling on its node.
func TestAutoScaleAndNodeScheduling(t *testing.T) {
	e := startWith(t, server.Options{Isolation: "process"})
	c := ctx(t)
	bc := e.batchClient(t, e.emptyAccount(t, c, "ops", "opsacct"))
	if _, err := bc.CreatePool(c, azbatch.CreatePoolContent{
		ID: to.Ptr("auto"), VMSize: to.Ptr("STANDARD_D2S_V3"),
		VirtualMachineConfiguration: &azbatch.VirtualMachineConfiguration{
			ImageReference: &azbatch.ImageReference{Publisher: to.Ptr("canonical"), Offer: to.Ptr("ubuntu-24_04-lts"), SKU: to.Ptr("server")},
			NodeAgentSKUID: to.Ptr("batch.node.ubuntu 24.04")},
		EnableAutoScale: to.Ptr(true), AutoScaleFormula: to.Ptr("$TargetDedicatedNodes = 1;"),
		AutoScaleEvaluationInterval: to.Ptr("PT5M"),
	}, nil); err != nil {
		t.Fatalf("create autoscale pool: %v", err)
	}
	run, err := bc.EvaluatePoolAutoScale(c, "auto", azbatch.EvaluatePoolAutoScaleContent{AutoScaleFormula: to.Ptr("$TargetDedicatedNodes = 2 * 3;")}, nil)
	if err != nil {
		t.Fatalf("evaluate: %v", err)
	}
	if run.Error != nil || !strings.Contains(deref(run.Results), "$TargetDedicatedNodes=6") {
		t.Fatalf("evaluation: results %q, error %+v", deref(run.Results), run.Error)
	}
	node := e.waitIdleNode(t, c, bc, "auto")

	if _, err := bc.DisableNodeScheduling(c, "auto", *node.ID, nil); err != nil {
		t.Fatalf("disable scheduling: %v", err)
	}
	n, err := bc.GetNode(c, "auto", *node.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *n.SchedulingState != azbatch.SchedulingStateDisabled || *n.State != azbatch.NodeStateOffline {
		t.Fatalf("after disable: scheduling %s, state %s", *n.SchedulingState, *n.State)
	}
	// A task added now waits: the only node takes no work. The node's lease
	// request that was already waiting re-reads the node every half second
	// (nodeapi's schedulableCheckInterval) and then ends empty; this wait
	// outlasts that bound, it does not stand in for an assertion.
	time.Sleep(time.Second)
	if _, err := bc.CreateJob(c, azbatch.CreateJobContent{ID: to.Ptr("j"), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr("auto")}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := bc.CreateTask(c, "j", azbatch.CreateTaskContent{ID: to.Ptr("t"), CommandLine: to.Ptr("/bin/true")}, nil); err != nil {
		t.Fatal(err)
	}
	if r, err := bc.GetTask(c, "j", "t", nil); err != nil || *r.State != azbatch.TaskStateActive {
		t.Fatalf("task on a pool without schedulable nodes: %v %v", err, r.State)
	}
	// Rather than waiting a while for nothing to happen: the task must not
	// start before scheduling is enabled again, however long that takes, so
	// its start time (the server's clock, on this host) follows the enable.
	enabledAt := time.Now().Truncate(time.Microsecond) // bodies carry 100 ns
	if _, err := bc.EnableNodeScheduling(c, "auto", *node.ID, nil); err != nil {
		t.Fatalf("enable scheduling: %v", err)
	}
	task := e.waitTask(t, c, bc, "j", "t")
	if deref(task.ExecutionInfo.ExitCode) != 0 {
		t.Fatalf("task after enabling scheduling: %+v", task.ExecutionInfo)
	}
	if start := task.ExecutionInfo.StartTime; start == nil || start.Before(enabledAt) || deref(task.ExecutionInfo.RetryCount) != 0 {
		t.Fatalf("the task started at %v (retries %d), before scheduling was enabled at %v", start, deref(task.ExecutionInfo.RetryCount), enabledAt)
	}
}
