package sdktest

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/batch/azbatch"

	"github.com/cobaltbatch/cobalt/internal/rbac"
)

// TestGoSDKOperations calls the remaining pool, node, job and task
// operations through azbatch, which accepts only each operation's exact
// success status, and checks conditional requests and Batch's limits.
func TestGoSDKOperations(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c, _ := e.goClient(e.newPrincipal(rbac.RoleBatchAccountContributor))
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	wantErr := func(what string, err error, status int, code string) {
		t.Helper()
		if s, cd := respCode(err); s != status || cd != code {
			t.Fatalf("%s: got %d %s (%v), want %d %s", what, s, cd, err, status, code)
		}
	}

	// Pools.
	_, err := c.CreatePool(ctx, testPool("p1", 1), nil)
	must("CreatePool", err)
	nodeID := e.waitNode("p1")
	_, err = c.UpdatePool(ctx, "p1", azbatch.UpdatePoolContent{DisplayName: to.Ptr("renamed"),
		Metadata: []azbatch.MetadataItem{{Name: to.Ptr("k"), Value: to.Ptr("v")}}}, nil)
	must("UpdatePool", err)
	gp, err := c.GetPool(ctx, "p1", &azbatch.GetPoolOptions{SelectParam: []string{"id", "displayName"}})
	must("GetPool $select", err)
	if *gp.DisplayName != "renamed" || gp.VMSize != nil {
		t.Fatalf("GetPool $select: %+v", gp.Pool)
	}
	_, err = c.ReplacePoolProperties(ctx, "p1", azbatch.ReplacePoolContent{CertificateReferences: []azbatch.CertificateReference{},
		ApplicationPackageReferences: []azbatch.ApplicationPackageReference{}, Metadata: []azbatch.MetadataItem{}}, nil)
	must("ReplacePoolProperties", err)
	_, err = c.UpdatePool(ctx, "p1", azbatch.UpdatePoolContent{DisplayName: to.Ptr("x")}, &azbatch.UpdatePoolOptions{IfMatch: to.Ptr(azcore.ETag("0xdead"))})
	wantErr("UpdatePool If-Match", err, 412, "ConditionNotMet")
	_, err = c.UpdatePool(ctx, "p1", azbatch.UpdatePoolContent{DisplayName: to.Ptr("x")},
		&azbatch.UpdatePoolOptions{IfUnmodifiedSince: to.Ptr(time.Now().Add(-time.Hour))})
	wantErr("UpdatePool If-Unmodified-Since", err, 412, "ConditionNotMet")
	for deadline := time.Now().Add(30 * time.Second); ; {
		p, err := c.GetPool(ctx, "p1", nil)
		must("GetPool", err)
		if *p.AllocationState == azbatch.AllocationStateSteady {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pool p1 not steady: %s", *p.AllocationState)
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, err = c.ResizePool(ctx, "p1", azbatch.ResizePoolContent{TargetDedicatedNodes: to.Ptr[int32](2)}, nil)
	must("ResizePool", err)
	_, err = c.StopPoolResize(ctx, "p1", nil)
	must("StopPoolResize", err)
	_, err = c.DisablePoolAutoScale(ctx, "p1", nil)
	must("DisablePoolAutoScale", err)
	_, err = c.EvaluatePoolAutoScale(ctx, "p1", azbatch.EvaluatePoolAutoScaleContent{AutoScaleFormula: to.Ptr("$TargetDedicatedNodes=1")}, nil)
	wantErr("EvaluatePoolAutoScale", err, 409, "AutoScalingNotEnabled") // the pool scales by fixed counts
	_, err = c.RebootNode(ctx, "p1", nodeID, nil)
	must("RebootNode", err)
	n, err := c.GetNode(ctx, "p1", nodeID, nil)
	must("GetNode", err)
	if *n.State != azbatch.NodeStateRebooting {
		t.Fatalf("node state after reboot: %s", *n.State)
	}
	nodes := 0
	for pg := c.NewListNodesPager("p1", &azbatch.ListNodesOptions{Filter: to.Ptr("state eq 'rebooting'")}); pg.More(); {
		page, err := pg.NextPage(ctx)
		must("ListNodes", err)
		nodes += len(page.Value)
	}
	if nodes != 1 {
		t.Fatalf("ListNodes rebooting: %d", nodes)
	}
	counts, err := c.NewListPoolNodeCountsPager(nil).NextPage(ctx)
	must("ListPoolNodeCounts", err)
	if len(counts.Value) != 1 || *counts.Value[0].PoolID != "p1" || *counts.Value[0].Dedicated.Total < 1 {
		t.Fatalf("ListPoolNodeCounts: %+v", counts.Value)
	}
	images, err := c.NewListSupportedImagesPager(nil).NextPage(ctx)
	must("ListSupportedImages", err)
	if len(images.Value) == 0 || images.Value[0].NodeAgentSKUID == nil {
		t.Fatalf("ListSupportedImages: %+v", images.Value)
	}
	_, err = c.RemoveNodes(ctx, "p1", azbatch.RemoveNodeContent{NodeList: []string{"tvm-nope"}}, nil)
	if s, _ := respCode(err); s != 404 && s != 409 {
		t.Fatalf("RemoveNodes of an unknown node: %v", err)
	}

	// Jobs.
	_, err = c.CreateJob(ctx, azbatch.CreateJobContent{ID: to.Ptr("j1"), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr("p1")}}, nil)
	must("CreateJob", err)
	_, err = c.CreateJob(ctx, azbatch.CreateJobContent{ID: to.Ptr("J1"), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr("p1")}}, nil)
	wantErr("CreateJob duplicate", err, 409, "JobExists")
	_, err = c.UpdateJob(ctx, "j1", azbatch.UpdateJobContent{Priority: to.Ptr[int32](100)}, nil)
	must("UpdateJob", err)
	_, err = c.UpdateJob(ctx, "j1", azbatch.UpdateJobContent{Priority: to.Ptr[int32](5000)}, nil)
	wantErr("UpdateJob priority out of range", err, 400, "InvalidPropertyValue")
	_, err = c.ReplaceJob(ctx, "j1", azbatch.Job{PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr("p1")}, Priority: to.Ptr[int32](7)}, nil)
	must("ReplaceJob", err)
	j, err := c.GetJob(ctx, "j1", nil)
	must("GetJob", err)
	if *j.Priority != 7 {
		t.Fatalf("priority after replace: %d", *j.Priority)
	}
	_, err = c.GetJob(ctx, "j1", &azbatch.GetJobOptions{IfNoneMatch: j.ETag})
	if s, _ := respCode(err); s != http.StatusNotModified {
		t.Fatalf("GetJob If-None-Match: %v", err)
	}
	_, err = c.UpdateJob(ctx, "j1", azbatch.UpdateJobContent{Priority: to.Ptr[int32](8)}, &azbatch.UpdateJobOptions{IfMatch: to.Ptr(azcore.ETag("0xdead"))})
	wantErr("UpdateJob If-Match", err, 412, "ConditionNotMet")
	_, err = c.UpdateJob(ctx, "j1", azbatch.UpdateJobContent{Priority: to.Ptr[int32](7)}, &azbatch.UpdateJobOptions{IfMatch: j.ETag})
	must("UpdateJob with the current ETag", err)
	_, err = c.DisableJob(ctx, "j1", azbatch.DisableJobContent{DisableTasks: to.Ptr(azbatch.DisableJobOptionRequeue)}, nil)
	must("DisableJob", err)
	_, err = c.EnableJob(ctx, "j1", nil)
	must("EnableJob", err)
	jobsSeen := 0
	for pg := c.NewListJobsPager(&azbatch.ListJobsOptions{Filter: to.Ptr("state eq 'active' and startswith(id,'j')")}); pg.More(); {
		page, err := pg.NextPage(ctx)
		must("ListJobs", err)
		jobsSeen += len(page.Value)
	}
	if jobsSeen != 1 {
		t.Fatalf("ListJobs: %d", jobsSeen)
	}

	// Tasks (no node runs them: they stay active).
	_, err = c.CreateTask(ctx, "j1", azbatch.CreateTaskContent{ID: to.Ptr("t1"), CommandLine: to.Ptr("/bin/true")}, nil)
	must("CreateTask", err)
	_, err = c.CreateTask(ctx, "j1", azbatch.CreateTaskContent{ID: to.Ptr("t2")}, nil)
	wantErr("CreateTask without commandLine", err, 400, "MissingRequiredProperty")
	_, err = c.ReplaceTask(ctx, "j1", "t1", azbatch.Task{Constraints: &azbatch.TaskConstraints{MaxTaskRetryCount: to.Ptr[int32](3)}}, nil)
	must("ReplaceTask", err)
	tk, err := c.GetTask(ctx, "j1", "t1", nil)
	must("GetTask", err)
	if *tk.Constraints.MaxTaskRetryCount != 3 {
		t.Fatalf("maxTaskRetryCount after replace: %d", *tk.Constraints.MaxTaskRetryCount)
	}
	_, err = c.NewListSubTasksPager("j1", "t1", nil).NextPage(ctx)
	must("ListSubTasks", err)
	_, err = c.TerminateTask(ctx, "j1", "t1", nil)
	must("TerminateTask", err)
	_, err = c.ReactivateTask(ctx, "j1", "t1", nil)
	must("ReactivateTask", err)
	_, err = c.GetTaskFile(ctx, "j1", "t1", "stdout.txt", nil)
	wantErr("GetTaskFile of a task that never ran", err, 409, "TaskFilesUnavailable")
	_, err = c.DeleteTask(ctx, "j1", "t1", nil)
	must("DeleteTask", err)
	_, err = c.GetTask(ctx, "j1", "t1", nil)
	wantErr("GetTask after delete", err, 404, "TaskNotFound")

	// Add collection limits: more than 100 tasks, or 1 MB, is 413.
	big := azbatch.TaskGroup{}
	for i := range 101 {
		big.Value = append(big.Value, azbatch.CreateTaskContent{ID: to.Ptr(fmt.Sprintf("b%d", i)), CommandLine: to.Ptr("/bin/true")})
	}
	_, err = c.CreateTaskCollection(ctx, "j1", big, nil)
	wantErr("CreateTaskCollection of 101 tasks", err, 413, "RequestBodyTooLarge")
	huge := azbatch.TaskGroup{Value: big.Value[:2]}
	huge.Value[0].CommandLine = to.Ptr("/bin/echo " + strings.Repeat("x", 1<<20))
	_, err = c.CreateTaskCollection(ctx, "j1", huge, nil)
	wantErr("CreateTaskCollection of 1 MB", err, 413, "RequestBodyTooLarge")

	_, err = c.TerminateJob(ctx, "j1", nil)
	must("TerminateJob", err)
	_, err = c.DeleteJob(ctx, "j1", nil)
	must("DeleteJob", err)
	_, err = c.DeletePool(ctx, "p1", nil)
	must("DeletePool", err)
	p, err := c.GetPool(ctx, "p1", nil)
	if err == nil && *p.State != azbatch.PoolStateDeleting {
		t.Fatalf("pool state after delete: %s", *p.State)
	}
}
