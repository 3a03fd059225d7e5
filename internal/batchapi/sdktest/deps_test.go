package sdktest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/batch/azbatch"

	"github.com/cobaltbatch/cobalt/internal/rbac"
	"github.com/cobaltbatch/cobalt/internal/testenv"
)

// TestGoSDKTaskDependencies adds a job with usesTaskDependencies and a
// diamond of tasks with dependsOn (taskIds and taskIdRanges, the sink added
// before the tasks it depends on) through azbatch, runs them on a node, and
// checks that each task started after its dependencies ended; a dependsOn on
// a job without dependencies gets Batch's TaskDependenciesNotSpecifiedOnJob.
func TestGoSDKTaskDependencies(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c, _ := e.goClient(e.newPrincipal(rbac.RoleBatchDataContributor))
	if _, err := c.CreatePool(ctx, testPool("dpool", 1), nil); err != nil {
		t.Fatalf("CreatePool: %v", err)
	}

	if _, err := c.CreateJob(ctx, azbatch.CreateJobContent{ID: to.Ptr("plain"), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr("dpool")}}, nil); err != nil {
		t.Fatalf("CreateJob: %v", err)
	}
	_, err := c.CreateTask(ctx, "plain", azbatch.CreateTaskContent{ID: to.Ptr("t"), CommandLine: to.Ptr("/bin/true"),
		DependsOn: &azbatch.TaskDependencies{TaskIDs: []string{"a"}}}, nil)
	if s, code := respCode(err); s != 400 || code != "TaskDependenciesNotSpecifiedOnJob" {
		t.Fatalf("dependsOn on a job without dependencies: %d %s (%v)", s, code, err)
	}

	if _, err := c.CreateJob(ctx, azbatch.CreateJobContent{ID: to.Ptr("dag"), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr("dpool")},
		UsesTaskDependencies: to.Ptr(true), OnAllTasksComplete: to.Ptr(azbatch.OnAllTasksCompleteTerminateJob)}, nil); err != nil {
		t.Fatalf("CreateJob: %v", err)
	}
	j, err := c.GetJob(ctx, "dag", nil)
	if err != nil || j.UsesTaskDependencies == nil || !*j.UsesTaskDependencies {
		t.Fatalf("GetJob: %+v %v", j.Job, err)
	}
	const middle = 60
	group := azbatch.TaskGroup{Value: []azbatch.CreateTaskContent{{ID: to.Ptr("sink"), CommandLine: to.Ptr("/bin/true"),
		DependsOn: &azbatch.TaskDependencies{TaskIDRanges: []azbatch.TaskIDRange{{Start: to.Ptr[int32](1), End: to.Ptr[int32](middle)}}}}}}
	for i := 1; i <= middle; i++ {
		group.Value = append(group.Value, azbatch.CreateTaskContent{ID: to.Ptr(fmt.Sprint(i)), CommandLine: to.Ptr("/bin/true"),
			DependsOn:      &azbatch.TaskDependencies{TaskIDs: []string{"root"}},
			ExitConditions: &azbatch.ExitConditions{Default: &azbatch.ExitOptions{DependencyAction: to.Ptr(azbatch.DependencyActionBlock)}}})
	}
	col, err := c.CreateTaskCollection(ctx, "dag", group, nil)
	if err != nil {
		t.Fatalf("CreateTaskCollection: %v", err)
	}
	for _, r := range col.Value {
		if r.Status == nil || *r.Status != azbatch.TaskAddStatusSuccess {
			t.Fatalf("add %s: %+v", *r.TaskID, r.Error)
		}
	}
	sink, err := c.GetTask(ctx, "dag", "sink", nil)
	if err != nil || *sink.State != azbatch.TaskStateActive || sink.DependsOn == nil || len(sink.DependsOn.TaskIDRanges) != 1 ||
		*sink.DependsOn.TaskIDRanges[0].End != middle {
		t.Fatalf("GetTask(sink): %+v %v", sink.Task, err)
	}
	mid, err := c.GetTask(ctx, "dag", "7", nil)
	if err != nil || len(mid.DependsOn.TaskIDs) != 1 || mid.DependsOn.TaskIDs[0] != "root" ||
		*mid.ExitConditions.Default.DependencyAction != azbatch.DependencyActionBlock {
		t.Fatalf("GetTask(7): %+v %v", mid.Task, err)
	}
	// Nothing runs before the root exists.
	nodeCtx, stopNode := context.WithCancel(ctx)
	defer stopNode()
	go e.fakeNode(nodeCtx, "dpool", e.waitNode("dpool"))
	if _, err := c.CreateTask(ctx, "dag", azbatch.CreateTaskContent{ID: to.Ptr("root"), CommandLine: to.Ptr("/bin/true")}, nil); err != nil {
		t.Fatalf("CreateTask(root): %v", err)
	}
	for {
		j, err := c.GetJob(ctx, "dag", nil)
		if err != nil {
			t.Fatalf("GetJob: %v", err)
		}
		if *j.State == azbatch.JobStateCompleted {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the job did not complete")
		case <-time.After(100 * time.Millisecond):
		}
	}
	tasks := map[string]azbatch.Task{}
	for pg := c.NewListTasksPager("dag", nil); pg.More(); {
		page, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListTasks: %v", err)
		}
		for _, tk := range page.Value {
			tasks[*tk.ID] = tk
		}
	}
	if len(tasks) != middle+2 {
		t.Fatalf("%d tasks", len(tasks))
	}
	after := func(id, dep string) {
		a, b := tasks[id].ExecutionInfo, tasks[dep].ExecutionInfo
		if a == nil || b == nil || a.StartTime == nil || b.EndTime == nil || a.StartTime.Before(*b.EndTime) {
			t.Fatalf("%s did not start after %s ended: %+v %+v", id, dep, a, b)
		}
	}
	for i := 1; i <= middle; i++ {
		after(fmt.Sprint(i), "root")
		after("sink", fmt.Sprint(i))
	}
}

// TestNodeSDKTaskDependencies runs test/node/batch/deps.js (@azure/batch
// with SharedKey) against a pool with a node.
func TestNodeSDKTaskDependencies(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c, _ := e.goClient(e.newPrincipal(rbac.RoleBatchDataContributor))
	if _, err := c.CreatePool(ctx, testPool("npool", 1), nil); err != nil {
		t.Fatalf("CreatePool: %v", err)
	}
	go e.fakeNode(ctx, "npool", e.waitNode("npool"))
	var got struct {
		Plain struct {
			StatusCode int    `json:"statusCode"`
			Code       string `json:"code"`
		} `json:"plain"`
		UsesTaskDependencies bool   `json:"usesTaskDependencies"`
		Added                int    `json:"added"`
		SinkState            string `json:"sinkState"`
		SinkDependsOn        struct {
			TaskIDRanges []struct{ Start, End int } `json:"taskIdRanges"`
		} `json:"sinkDependsOn"`
		Completed  int      `json:"completed"`
		Violations []string `json:"violations"`
	}
	testenv.RunNodeJSON(ctx, t, testenv.NodeRun{Script: "batch/deps.js", Modules: []string{batchModule}, CAFile: e.ca.CAFile(),
		Env: map[string]string{"BATCH_URL": "https://" + e.endpoint, "BATCH_ACCOUNT": e.account, "BATCH_KEY": e.key, "POOL_ID": "npool"}}, &got)
	if got.Plain.StatusCode != 400 || got.Plain.Code != "TaskDependenciesNotSpecifiedOnJob" {
		t.Errorf("dependsOn on a plain job: %+v", got.Plain)
	}
	if !got.UsesTaskDependencies || got.Added != 31 || got.SinkState != "active" || len(got.SinkDependsOn.TaskIDRanges) != 1 ||
		got.SinkDependsOn.TaskIDRanges[0].End != 30 {
		t.Errorf("job and tasks as added: %+v", got)
	}
	if got.Completed != 32 || len(got.Violations) != 0 {
		t.Errorf("completed %d, order violations %v", got.Completed, got.Violations)
	}
}
