package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/batch/azbatch"
	"github.com/cobaltbatch/cobalt/internal/server"
)

// prepStatus lists a job's preparation and release task status by node.
func prepStatus(t *testing.T, c context.Context, bc *azbatch.Client, job string) map[string]azbatch.JobPreparationAndReleaseTaskStatus {
	t.Helper()
	out := map[string]azbatch.JobPreparationAndReleaseTaskStatus{}
	opts := &azbatch.ListJobPreparationAndReleaseTaskStatusOptions{MaxResults: to.Ptr[int32](1)}
	for pg := bc.NewListJobPreparationAndReleaseTaskStatusPager(job, opts); pg.More(); {
		page, err := pg.NextPage(c)
		if err != nil {
			t.Fatalf("list preparation and release task status of %s: %v", job, err)
		}
		for _, s := range page.Value {
			out[deref(s.NodeID)] = s
		}
	}
	return out
}

// batchCode is the Batch error code of err ("" when it is no response error).
func batchCode(err error) (int, string) {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode, re.ErrorCode
	}
	return 0, ""
}

// TestJobPreparationAndRelease runs, on two real nodes through azbatch, a
// job whose preparation task marks its node: every task finds the mark
// written exactly once on its node, the status list shows the preparation
// task completed on each node that ran a task, and terminating the job runs
// the release task on each of them. A second job's preparation task fails
// (with one retry) on every node: its task stays active with no node, and
// the status shows the failure. Batch's errors for the misuses come back.
func TestJobPreparationAndRelease(t *testing.T) {
	e := startWith(t, server.Options{Isolation: "process"})
	c := ctx(t)
	endpoint := e.emptyAccount(t, c, "prep", "prepacct")
	bc := e.batchClient(t, endpoint)
	if _, err := bc.CreatePool(c, azbatch.CreatePoolContent{
		ID: to.Ptr("prep"), VMSize: to.Ptr("STANDARD_D2S_V3"), TargetDedicatedNodes: to.Ptr[int32](2), TaskSlotsPerNode: to.Ptr[int32](2),
		VirtualMachineConfiguration: &azbatch.VirtualMachineConfiguration{
			ImageReference: &azbatch.ImageReference{Publisher: to.Ptr("canonical"), Offer: to.Ptr("ubuntu-24_04-lts"), SKU: to.Ptr("server")},
			NodeAgentSKUID: to.Ptr("batch.node.ubuntu 24.04")},
	}, nil); err != nil {
		t.Fatalf("create pool: %v", err)
	}

	// Misuses first: Batch's codes.
	_, err := bc.CreateJob(c, azbatch.CreateJobContent{ID: to.Ptr("norelease"), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr("prep")},
		JobReleaseTask: &azbatch.JobReleaseTask{CommandLine: to.Ptr("/bin/true")}}, nil)
	if st, code := batchCode(err); st != 400 || code != "InvalidPropertyValue" {
		t.Errorf("a release task without a preparation task: %d %s", st, code)
	}
	_, err = bc.CreateJob(c, azbatch.CreateJobContent{ID: to.Ptr("longrelease"), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr("prep")},
		JobPreparationTask: &azbatch.JobPreparationTask{CommandLine: to.Ptr("/bin/true")},
		JobReleaseTask:     &azbatch.JobReleaseTask{CommandLine: to.Ptr("/bin/true"), MaxWallClockTime: to.Ptr("PT16M")}}, nil)
	if st, code := batchCode(err); st != 400 || code != "InvalidPropertyValue" {
		t.Errorf("a release task of more than 15 minutes: %d %s", st, code)
	}
	if _, err := bc.CreateJob(c, azbatch.CreateJobContent{ID: to.Ptr("plain"), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr("prep")}}, nil); err != nil {
		t.Fatal(err)
	}
	_, err = bc.NewListJobPreparationAndReleaseTaskStatusPager("plain", nil).NextPage(c)
	if st, code := batchCode(err); st != 409 || code != "JobPreparationTaskOrReleaseTaskNotSpecified" {
		t.Errorf("status of a job without preparation task: %d %s", st, code)
	}

	prep := `/bin/sh -c 'echo once >> "$AZ_BATCH_NODE_SHARED_DIR/prepared-$AZ_BATCH_JOB_ID"; sleep 1'`
	if _, err := bc.CreateJob(c, azbatch.CreateJobContent{ID: to.Ptr("prepjob"), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr("prep")},
		JobPreparationTask: &azbatch.JobPreparationTask{CommandLine: to.Ptr(prep),
			EnvironmentSettings: []azbatch.EnvironmentSetting{{Name: to.Ptr("PREP"), Value: to.Ptr("1")}}},
		JobReleaseTask: &azbatch.JobReleaseTask{CommandLine: to.Ptr(`/bin/sh -c 'rm "$AZ_BATCH_NODE_SHARED_DIR/prepared-$AZ_BATCH_JOB_ID"'`)},
	}, nil); err != nil {
		t.Fatalf("create job: %v", err)
	}
	j, err := bc.GetJob(c, "prepjob", nil)
	if err != nil || j.JobPreparationTask == nil || deref(j.JobPreparationTask.ID) != "jobpreparation" || !deref(j.JobPreparationTask.WaitForSuccess) ||
		!deref(j.JobPreparationTask.RerunOnNodeRebootAfterSuccess) || j.JobReleaseTask == nil || deref(j.JobReleaseTask.ID) != "jobrelease" ||
		deref(j.JobReleaseTask.MaxWallClockTime) != "PT15M" {
		t.Fatalf("get job: %+v %+v %v", j.JobPreparationTask, j.JobReleaseTask, err)
	}
	_, err = bc.CreateTask(c, "prepjob", azbatch.CreateTaskContent{ID: to.Ptr("jobpreparation"), CommandLine: to.Ptr("/bin/true")}, nil)
	if st, code := batchCode(err); st != 400 || code != "TaskIdSameAsJobPreparationTask" {
		t.Errorf("a task with the preparation task's ID: %d %s", st, code)
	}
	const n = 8
	var specs []azbatch.CreateTaskContent
	for i := range n {
		specs = append(specs, azbatch.CreateTaskContent{ID: to.Ptr(fmt.Sprint("t", i)),
			CommandLine: to.Ptr(`/bin/sh -c 'cat "$AZ_BATCH_NODE_SHARED_DIR/prepared-$AZ_BATCH_JOB_ID"; test -f "$AZ_BATCH_JOB_PREP_WORKING_DIR/../stdout.txt" && sleep 1'`)})
	}
	if _, err := bc.CreateTaskCollection(c, "prepjob", azbatch.TaskGroup{Value: specs}, nil); err != nil {
		t.Fatal(err)
	}
	nodes := map[string]bool{}
	for i := range n {
		id := fmt.Sprint("t", i)
		tk := e.waitTask(t, c, bc, "prepjob", id)
		if deref(tk.ExecutionInfo.Result) != azbatch.TaskExecutionResultSuccess {
			t.Fatalf("task %s: %+v; stderr %q", id, tk.ExecutionInfo, e.taskFile(t, c, bc, "prepjob", id, "stderr.txt"))
		}
		if got := e.taskFile(t, c, bc, "prepjob", id, "stdout.txt"); got != "once\n" {
			t.Errorf("task %s found the mark %q, want the preparation task's one line", id, got)
		}
		nodes[deref(tk.NodeInfo.NodeID)] = true
	}
	st := prepStatus(t, c, bc, "prepjob")
	if len(st) != len(nodes) {
		t.Fatalf("status on %d nodes, tasks ran on %d", len(st), len(nodes))
	}
	for node, s := range st {
		p := s.JobPreparationTaskExecutionInfo
		if !nodes[node] || deref(s.PoolID) != "prep" || !strings.Contains(deref(s.NodeURL), "/pools/prep/nodes/"+node) || p == nil ||
			deref(p.State) != azbatch.JobPreparationTaskStateCompleted || deref(p.Result) != azbatch.TaskExecutionResultSuccess ||
			deref(p.ExitCode) != 0 || deref(p.RetryCount) != 0 || deref(p.TaskRootDirectory) != "workitems/prepjob/job-1/jobpreparation" ||
			s.JobReleaseTaskExecutionInfo != nil {
			t.Fatalf("status on %s: %+v prep %+v", node, s, p)
		}
	}

	// Terminating the job runs the release task on each of those nodes.
	if _, err := bc.TerminateJob(c, "prepjob", nil); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(500 * time.Millisecond) {
		st = prepStatus(t, c, bc, "prepjob")
		done := 0
		for _, s := range st {
			if r := s.JobReleaseTaskExecutionInfo; r != nil && deref(r.State) == azbatch.JobReleaseTaskStateCompleted {
				if deref(r.Result) != azbatch.TaskExecutionResultSuccess || deref(r.TaskRootDirectory) != "workitems/prepjob/job-1/jobrelease" {
					t.Fatalf("release: %+v %+v", r, r.FailureInfo)
				}
				done++
			}
		}
		if done == len(nodes) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the release tasks did not complete: %d of %d", done, len(nodes))
		}
	}

	// The same through @azure/batch with SharedKey.
	var got struct {
		Plain struct {
			StatusCode int    `json:"statusCode"`
			Code       string `json:"code"`
		} `json:"plain"`
		Prep struct {
			ID             string `json:"id"`
			WaitForSuccess bool   `json:"waitForSuccess"`
		} `json:"prep"`
		Release struct {
			ID               string `json:"id"`
			MaxWallClockTime string `json:"maxWallClockTime"`
		} `json:"release"`
		Succeeded int `json:"succeeded"`
		Nodes     int `json:"nodes"`
		Statuses  []struct {
			NodeID, State, Result, Dir string
			ExitCode                   int
		} `json:"statuses"`
		Released int `json:"released"`
	}
	e.node("jobprep.js", map[string]any{"resourceGroup": "prep", "account": "prepacct", "accountEndpoint": endpoint,
		"pool": "prep"}, &got)
	if got.Plain.StatusCode != 409 || got.Plain.Code != "JobPreparationTaskOrReleaseTaskNotSpecified" {
		t.Errorf("node: status of a plain job: %+v", got.Plain)
	}
	if got.Prep.ID != "prep" || !got.Prep.WaitForSuccess || got.Release.ID != "jobrelease" || got.Release.MaxWallClockTime != "PT5M" {
		t.Errorf("node: the job's tasks as stored: %+v %+v", got.Prep, got.Release)
	}
	if got.Succeeded != 4 || len(got.Statuses) != got.Nodes || got.Released != got.Nodes {
		t.Errorf("node: %d succeeded on %d nodes, %d statuses, %d released", got.Succeeded, got.Nodes, len(got.Statuses), got.Released)
	}
	for _, s := range got.Statuses {
		if s.State != "completed" || s.Result != "success" || s.ExitCode != 0 || s.Dir != "workitems/nodeprep/job-1/prep" {
			t.Errorf("node: status %+v", s)
		}
	}

	// A preparation task that fails keeps the job's tasks off the nodes.
	if _, err := bc.CreateJob(c, azbatch.CreateJobContent{ID: to.Ptr("badprep"), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr("prep")},
		JobPreparationTask: &azbatch.JobPreparationTask{CommandLine: to.Ptr("/bin/sh -c 'exit 3'"),
			Constraints: &azbatch.TaskConstraints{MaxTaskRetryCount: to.Ptr[int32](1)}}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := bc.CreateTask(c, "badprep", azbatch.CreateTaskContent{ID: to.Ptr("never"), CommandLine: to.Ptr("/bin/true")}, nil); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(500 * time.Millisecond) {
		st = prepStatus(t, c, bc, "badprep")
		failed := 0
		for node, s := range st {
			p := s.JobPreparationTaskExecutionInfo
			if deref(p.State) != azbatch.JobPreparationTaskStateCompleted {
				continue
			}
			if deref(p.Result) != azbatch.TaskExecutionResultFailure || deref(p.ExitCode) != 3 || deref(p.RetryCount) != 1 ||
				p.LastRetryTime == nil || p.FailureInfo == nil || deref(p.FailureInfo.Code) != "FailureExitCode" {
				t.Fatalf("failed preparation on %s: %+v", node, p)
			}
			failed++
		}
		if failed == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the preparation task did not fail on both nodes: %+v", st)
		}
	}
	tk, err := bc.GetTask(c, "badprep", "never", nil)
	if err != nil || deref(tk.State) != azbatch.TaskStateActive || tk.NodeInfo != nil {
		t.Fatalf("the task of a job whose preparation failed everywhere: %v %+v %v", tk.State, tk.NodeInfo, err)
	}
}
