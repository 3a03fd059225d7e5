package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/batch/azbatch"
	"github.com/cobaltbatch/cobalt/internal/server"
)

// TestDiamondOfAThousandTasks runs a job of 1,000 tasks in a diamond on
// real nodes: one root, 998 middle tasks that depend on it by taskIds, and a
// sink that depends on the range of middle tasks. The sink is added first
// and the root last, in add collections of 100 through azbatch. Every task
// must complete successfully and start after each of its dependencies ended,
// as the nodes reported the times.
func TestDiamondOfAThousandTasks(t *testing.T) {
	e := startWith(t, server.Options{Isolation: "process"})
	c := ctx(t)
	bc := e.batchClient(t, e.emptyAccount(t, c, "deps", "depsacct"))
	if _, err := bc.CreatePool(c, azbatch.CreatePoolContent{
		ID: to.Ptr("dag"), VMSize: to.Ptr("STANDARD_D2S_V3"), TargetDedicatedNodes: to.Ptr[int32](2), TaskSlotsPerNode: to.Ptr[int32](8),
		VirtualMachineConfiguration: &azbatch.VirtualMachineConfiguration{
			ImageReference: &azbatch.ImageReference{Publisher: to.Ptr("canonical"), Offer: to.Ptr("ubuntu-24_04-lts"), SKU: to.Ptr("server")},
			NodeAgentSKUID: to.Ptr("batch.node.ubuntu 24.04")},
	}, nil); err != nil {
		t.Fatalf("create pool: %v", err)
	}
	if _, err := bc.CreateJob(c, azbatch.CreateJobContent{ID: to.Ptr("diamond"), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr("dag")},
		UsesTaskDependencies: to.Ptr(true), OnAllTasksComplete: to.Ptr(azbatch.OnAllTasksCompleteTerminateJob)}, nil); err != nil {
		t.Fatal(err)
	}
	const middle = 998
	specs := []azbatch.CreateTaskContent{{ID: to.Ptr("sink"), CommandLine: to.Ptr("/bin/true"),
		DependsOn: &azbatch.TaskDependencies{TaskIDRanges: []azbatch.TaskIDRange{{Start: to.Ptr[int32](1), End: to.Ptr[int32](middle)}}}}}
	for i := 1; i <= middle; i++ {
		specs = append(specs, azbatch.CreateTaskContent{ID: to.Ptr(fmt.Sprint(i)), CommandLine: to.Ptr("/bin/true"),
			DependsOn: &azbatch.TaskDependencies{TaskIDs: []string{"root"}}})
	}
	specs = append(specs, azbatch.CreateTaskContent{ID: to.Ptr("root"), CommandLine: to.Ptr("/bin/true")})
	for len(specs) > 0 {
		n := min(len(specs), 100)
		res, err := bc.CreateTaskCollection(c, "diamond", azbatch.TaskGroup{Value: specs[:n]}, nil)
		if err != nil {
			t.Fatalf("add collection: %v", err)
		}
		for _, r := range res.Value {
			if deref(r.Status) != azbatch.TaskAddStatusSuccess {
				t.Fatalf("add %s: %+v", deref(r.TaskID), r.Error)
			}
		}
		specs = specs[n:]
	}
	for deadline := time.Now().Add(10 * time.Minute); ; time.Sleep(time.Second) {
		j, err := bc.GetJob(c, "diamond", nil)
		if err != nil {
			t.Fatal(err)
		}
		if *j.State == azbatch.JobStateCompleted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job did not complete: %+v", taskCounts(t, c, bc, "diamond"))
		}
	}
	tasks := map[string]azbatch.Task{}
	for pg := bc.NewListTasksPager("diamond", nil); pg.More(); {
		page, err := pg.NextPage(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range page.Value {
			tasks[*tk.ID] = tk
		}
	}
	if len(tasks) != middle+2 {
		t.Fatalf("%d tasks", len(tasks))
	}
	for id, tk := range tasks {
		if ei := tk.ExecutionInfo; ei == nil || deref(ei.Result) != azbatch.TaskExecutionResultSuccess || ei.StartTime == nil || ei.EndTime == nil {
			t.Fatalf("task %s: %+v", id, tk.ExecutionInfo)
		}
	}
	after := func(id, dep string) {
		if s, e := *tasks[id].ExecutionInfo.StartTime, *tasks[dep].ExecutionInfo.EndTime; s.Before(e) {
			t.Fatalf("task %s started at %v, before its dependency %s ended at %v", id, s, dep, e)
		}
	}
	nodes := map[string]bool{}
	for i := 1; i <= middle; i++ {
		after(fmt.Sprint(i), "root")
		after("sink", fmt.Sprint(i))
		nodes[deref(tasks[fmt.Sprint(i)].NodeInfo.NodeID)] = true
	}
	if len(nodes) != 2 {
		t.Errorf("the middle tasks ran on %d nodes, want both", len(nodes))
	}
}
