package sdktest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/batch/azbatch"

	"github.com/cobaltbatch/cobalt/internal/rbac"
)

// goClient returns an azbatch client authenticating as p with azidentity's
// ClientSecretCredential against the login service.
func (e *env) goClient(p principal) (*azbatch.Client, azcore.TokenCredential) {
	e.t.Helper()
	opts := azcore.ClientOptions{Transport: e.client, Retry: policy.RetryOptions{MaxRetries: -1}}
	credOpts := opts
	credOpts.Cloud = cloud.Configuration{ActiveDirectoryAuthorityHost: e.loginURL + "/"}
	cred, err := azidentity.NewClientSecretCredential(tenantID, p.ClientID, p.secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: credOpts, DisableInstanceDiscovery: true})
	if err != nil {
		e.t.Fatal(err)
	}
	c, err := azbatch.NewClient("https://"+e.endpoint, cred, &azbatch.ClientOptions{ClientOptions: opts})
	if err != nil {
		e.t.Fatal(err)
	}
	return c, cred
}

func respCode(err error) (int, string) {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode, re.ErrorCode
	}
	return 0, ""
}

func testPool(id string, nodes int32) azbatch.CreatePoolContent {
	return azbatch.CreatePoolContent{
		ID: to.Ptr(id), VMSize: to.Ptr("STANDARD_D2S_V3"), TargetDedicatedNodes: to.Ptr(nodes),
		VirtualMachineConfiguration: &azbatch.VirtualMachineConfiguration{
			ImageReference: &azbatch.ImageReference{Publisher: to.Ptr("canonical"), Offer: to.Ptr("ubuntu-24_04-lts"), SKU: to.Ptr("server")},
			NodeAgentSKUID: to.Ptr("batch.node.ubuntu 24.04"),
		},
	}
}

// TestGoSDK drives the data plane with azbatch v0.1.0 and Entra tokens from
// azidentity: pools, jobs, tasks, an add collection, paging, task files
// (content, range, properties, recursive list) and RBAC denials.
func TestGoSDK(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c, cred := e.goClient(e.newPrincipal(rbac.RoleBatchDataContributor))

	// Pools.
	if _, err := c.CreatePool(ctx, testPool("pool1", 1), nil); err != nil {
		t.Fatalf("CreatePool: %v", err)
	}
	if _, err := c.CreatePool(ctx, testPool("POOL1", 0), nil); err == nil {
		t.Fatal("CreatePool of an existing id succeeded")
	} else if s, code := respCode(err); s != 409 || code != "PoolExists" {
		t.Fatalf("CreatePool duplicate: %d %s", s, code)
	}
	gp, err := c.GetPool(ctx, "pool1", nil)
	if err != nil {
		t.Fatalf("GetPool: %v", err)
	}
	if gp.ID == nil || *gp.ID != "pool1" || gp.CreationTime == nil || gp.ETag == nil || gp.LastModified == nil {
		t.Fatalf("GetPool: %+v", gp.Pool)
	}
	if ex, err := c.PoolExists(ctx, "pool1", nil); err != nil || ex.ETag == nil {
		t.Fatalf("PoolExists: %+v %v", ex, err)
	}
	if ex, err := c.PoolExists(ctx, "nope", nil); err != nil || ex.ETag != nil {
		t.Fatalf("PoolExists(nope): %+v %v", ex, err)
	}
	npools := 0
	for pg := c.NewListPoolsPager(nil); pg.More(); {
		page, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListPools: %v", err)
		}
		npools += len(page.Value)
	}
	if npools != 1 {
		t.Fatalf("ListPools: %d pools", npools)
	}

	// The data-plane pool add with an identity is refused.
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://batch.core.windows.net//.default"}})
	if err != nil {
		t.Fatal(err)
	}
	body := `{"id":"idpool","vmSize":"STANDARD_D2S_V3","virtualMachineConfiguration":{"imageReference":{"publisher":"canonical","offer":"ubuntu-24_04-lts","sku":"server"},"nodeAgentSKUId":"batch.node.ubuntu 24.04"},` +
		`"identity":{"type":"UserAssigned","userAssignedIdentities":[{"resourceId":"/subscriptions/` + subID + `/resourceGroups/rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1"}]}}`
	req, _ := http.NewRequest("POST", "https://"+e.endpoint+"/pools?api-version=2024-07-01.20.0", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	req.Header.Set("Content-Type", "application/json; odata=minimalmetadata")
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !bytes.Contains(rb, []byte("management plane")) {
		t.Fatalf("pool add with identity: %d %s", resp.StatusCode, rb)
	}

	// Jobs and tasks.
	if _, err := c.CreateJob(ctx, azbatch.CreateJobContent{ID: to.Ptr("job1"), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr("pool1")},
		OnAllTasksComplete: to.Ptr(azbatch.OnAllTasksCompleteNoAction)}, nil); err != nil {
		t.Fatalf("CreateJob: %v", err)
	}
	if _, err := c.CreateTask(ctx, "job1", azbatch.CreateTaskContent{ID: to.Ptr("task1"), CommandLine: to.Ptr("/bin/sh -c 'echo hi'")}, nil); err != nil {
		t.Fatalf("CreateTask: %v", err)
	}
	group := azbatch.TaskGroup{}
	for _, id := range []string{"c1", "c2", "c3", "task1"} {
		group.Value = append(group.Value, azbatch.CreateTaskContent{ID: to.Ptr(id), CommandLine: to.Ptr("/bin/true")})
	}
	col, err := c.CreateTaskCollection(ctx, "job1", group, nil)
	if err != nil {
		t.Fatalf("CreateTaskCollection: %v", err)
	}
	statuses := map[string]azbatch.TaskAddStatus{}
	for _, r := range col.Value {
		statuses[*r.TaskID] = *r.Status
	}
	if statuses["c1"] != azbatch.TaskAddStatusSuccess || statuses["task1"] != azbatch.TaskAddStatusClientError {
		t.Fatalf("CreateTaskCollection results: %v", statuses)
	}

	// A fake node runs them.
	nodeID := e.waitNode("pool1")
	nctx, ncancel := context.WithCancel(ctx)
	defer ncancel()
	go e.fakeNode(nctx, "pool1", nodeID)
	deadline := time.Now().Add(30 * time.Second)
	for {
		counts, err := c.GetJobTaskCounts(ctx, "job1", nil)
		if err != nil {
			t.Fatalf("GetJobTaskCounts: %v", err)
		}
		if *counts.TaskCounts.Completed == 4 {
			if *counts.TaskCounts.Succeeded != 4 {
				t.Fatalf("task counts %+v", counts.TaskCounts)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tasks did not complete: %+v", counts.TaskCounts)
		}
		time.Sleep(200 * time.Millisecond)
	}
	gt, err := c.GetTask(ctx, "job1", "task1", nil)
	if err != nil {
		t.Fatalf("GetTask: %v", err)
	}
	if *gt.State != azbatch.TaskStateCompleted || gt.ExecutionInfo == nil || *gt.ExecutionInfo.ExitCode != 0 ||
		gt.NodeInfo == nil || *gt.NodeInfo.NodeID != nodeID {
		t.Fatalf("GetTask: %+v %+v", gt.Task, gt.ExecutionInfo)
	}

	// Paging with a filter: 4 completed tasks, 3 per page.
	var ids []string
	for pg := c.NewListTasksPager("job1", &azbatch.ListTasksOptions{Filter: to.Ptr("state eq 'completed'"), MaxResults: to.Ptr[int32](3)}); pg.More(); {
		page, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListTasks: %v", err)
		}
		for _, tk := range page.Value {
			ids = append(ids, *tk.ID)
		}
	}
	if len(ids) != 4 {
		t.Fatalf("ListTasks: %v", ids)
	}
	if _, err := c.NewListTasksPager("job1", &azbatch.ListTasksOptions{Filter: to.Ptr("commandLine eq 'x'")}).NextPage(ctx); err == nil {
		t.Fatal("an unsupported $filter was accepted")
	} else if s, code := respCode(err); s != 400 || code != "InvalidQueryParameterValue" {
		t.Fatalf("unsupported $filter: %d %s", s, code)
	}

	// Task files.
	f, err := c.GetTaskFile(ctx, "job1", "task1", "stdout.txt", nil)
	if err != nil {
		t.Fatalf("GetTaskFile: %v", err)
	}
	out, _ := io.ReadAll(f.Body)
	f.Body.Close()
	if string(out) != "hi\n" {
		t.Fatalf("stdout.txt = %q", out)
	}
	f, err = c.GetTaskFile(ctx, "job1", "task1", "wd/out.txt", &azbatch.GetTaskFileOptions{OCPRange: to.Ptr("bytes=2-5")})
	if err != nil {
		t.Fatalf("GetTaskFile range: %v", err)
	}
	out, _ = io.ReadAll(f.Body)
	f.Body.Close()
	if string(out) != "2345" {
		t.Fatalf("wd/out.txt bytes 2-5 = %q", out)
	}
	props, err := c.GetTaskFileProperties(ctx, "job1", "task1", "wd/out.txt", nil)
	if err != nil {
		t.Fatalf("GetTaskFileProperties: %v", err)
	}
	if *props.ContentLength != 10 || *props.OCPBatchFileIsDirectory || *props.OCPBatchFileMode != "0640" || props.OCPCreationTime == nil {
		t.Fatalf("GetTaskFileProperties: %+v", props)
	}
	if _, err := c.GetTaskFile(ctx, "job1", "task1", "../../../../etc/passwd", nil); err == nil {
		t.Fatal("path traversal succeeded")
	}
	names := map[string]bool{}
	for pg := c.NewListTaskFilesPager("job1", "task1", &azbatch.ListTaskFilesOptions{Recursive: to.Ptr(true)}); pg.More(); {
		page, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListTaskFiles: %v", err)
		}
		for _, nf := range page.Value {
			names[*nf.Name] = *nf.IsDirectory
		}
	}
	if len(names) != 4 || !names["wd"] || names["wd/out.txt"] {
		t.Fatalf("ListTaskFiles: %v", names)
	}

	// Nodes show their state and identity set.
	node, err := c.GetNode(ctx, "pool1", nodeID, nil)
	if err != nil || *node.ID != nodeID {
		t.Fatalf("GetNode: %v", err)
	}

	// RBAC: a Job Submitter cannot add pools; a principal without a role cannot read jobs.
	sub, _ := e.goClient(e.newPrincipal(rbac.RoleBatchJobSubmitter))
	if _, err := sub.CreatePool(ctx, testPool("pool2", 0), nil); err == nil {
		t.Fatal("a Job Submitter added a pool")
	} else if s, code := respCode(err); s != 403 || code != "AuthorizationFailure" {
		t.Fatalf("Job Submitter CreatePool: %d %s", s, code)
	}
	if _, err := sub.GetJob(ctx, "job1", nil); err != nil {
		t.Fatalf("Job Submitter GetJob: %v", err)
	}
	none, _ := e.goClient(e.newPrincipal(""))
	if _, err := none.GetJob(ctx, "job1", nil); err == nil {
		t.Fatal("a principal without a role read a job")
	} else if s, code := respCode(err); s != 403 || code != "AuthorizationFailure" {
		t.Fatalf("no role GetJob: %d %s", s, code)
	}
	owner, _ := e.goClient(e.newPrincipal(rbac.RoleOwner))
	if _, err := owner.GetJob(ctx, "job1", nil); err != nil {
		t.Fatalf("Owner GetJob (listKeys/action grants every operation): %v", err)
	}

	// Delete.
	if _, err := c.DeleteJob(ctx, "job1", nil); err != nil {
		t.Fatalf("DeleteJob: %v", err)
	}
	if _, err := c.GetJob(ctx, "job1", nil); err == nil {
		t.Fatal("job still there")
	} else if s, code := respCode(err); s != 404 || code != "JobNotFound" {
		t.Fatalf("GetJob after delete: %d %s", s, code)
	}
}

func policyTokenOptions() policy.TokenRequestOptions {
	return policy.TokenRequestOptions{Scopes: []string{"https://batch.core.windows.net//.default"}}
}
