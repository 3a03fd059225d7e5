package sdktest

import (
	"context"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/batch/azbatch"

	"github.com/cobaltbatch/cobalt/internal/rbac"
)

// TestGoSDKJobManagerTask adds through azbatch a job with a job manager
// task and a job schedule whose jobs have one: the manager is the job's
// task, runs on a node, and its completion completes the job
// (killJobOnCompletion, terminateReason JMComplete).
func TestGoSDKJobManagerTask(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c, _ := e.goClient(e.newPrincipal(rbac.RoleBatchDataContributor))
	if _, err := c.CreatePool(ctx, testPool("mpool", 1), nil); err != nil {
		t.Fatalf("CreatePool: %v", err)
	}
	manager := &azbatch.JobManagerTask{ID: to.Ptr("jm"), CommandLine: to.Ptr("/bin/true"), DisplayName: to.Ptr("Manager"),
		EnvironmentSettings: []azbatch.EnvironmentSetting{{Name: to.Ptr("A"), Value: to.Ptr("1")}}}
	if _, err := c.CreateJob(ctx, azbatch.CreateJobContent{ID: to.Ptr("managed"), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr("mpool")},
		JobManagerTask: manager}, nil); err != nil {
		t.Fatalf("CreateJob: %v", err)
	}
	j, err := c.GetJob(ctx, "managed", nil)
	if err != nil || j.JobManagerTask == nil || *j.JobManagerTask.ID != "jm" || !*j.JobManagerTask.KillJobOnCompletion ||
		!*j.JobManagerTask.RunExclusive || len(j.JobManagerTask.EnvironmentSettings) != 1 {
		t.Fatalf("GetJob: %+v %v", j.JobManagerTask, err)
	}
	tk, err := c.GetTask(ctx, "managed", "jm", nil)
	if err != nil || *tk.CommandLine != "/bin/true" || *tk.DisplayName != "Manager" {
		t.Fatalf("GetTask(jm): %+v %v", tk.Task, err)
	}
	if _, err := c.CreateJobSchedule(ctx, azbatch.CreateJobScheduleContent{ID: to.Ptr("managedsched"),
		Schedule: &azbatch.JobScheduleConfiguration{},
		JobSpecification: &azbatch.JobSpecification{PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr("mpool")},
			JobManagerTask: &azbatch.JobManagerTask{ID: to.Ptr("sm"), CommandLine: to.Ptr("/bin/true"), KillJobOnCompletion: to.Ptr(true)}}}, nil); err != nil {
		t.Fatalf("CreateJobSchedule: %v", err)
	}
	if err := e.jobs.FireDueSchedules(ctx); err != nil {
		t.Fatal(err)
	}
	go e.fakeNode(ctx, "mpool", e.waitNode("mpool"))
	for _, id := range []string{"managed", "managedsched:job-1"} {
		for {
			j, err := c.GetJob(ctx, id, nil)
			if err != nil {
				t.Fatalf("GetJob(%s): %v", id, err)
			}
			if *j.State == azbatch.JobStateCompleted {
				if j.ExecutionInfo.TerminationReason == nil || *j.ExecutionInfo.TerminationReason != "JMComplete" {
					t.Fatalf("%s: terminateReason %v", id, j.ExecutionInfo.TerminationReason)
				}
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("%s did not complete", id)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	// The schedule made one job and completes with it.
	if err := e.jobs.FireDueSchedules(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := c.GetJobSchedule(ctx, "managedsched", nil)
	if err != nil || *s.State != azbatch.JobScheduleStateCompleted {
		t.Fatalf("the one-job schedule: %v %v", s.State, err)
	}
}
