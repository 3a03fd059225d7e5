package e2e

import (
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/batch/azbatch"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/storage/armstorage"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/google/uuid"
)

// TestOutputFilesWithIdentity: a task's outputFiles go to a blob container
// from inside the node with the pool identity's token (Storage Blob Data
// Contributor on that container only), by pattern (*, **) and as a literal
// file renamed by path, with upload headers, per upload condition; the
// files land where the SDK reads them, and fileuploadout.txt says so. The
// same upload to a container the identity may only read fails the task with
// FileUploadMiscError naming the container and the status, and
// fileuploaderr.txt tells why.
func TestOutputFilesWithIdentity(t *testing.T) {
	e := startIsolated(t)
	c := ctx(t)
	s := e.seedResources(t, c)
	sa, err := armstorage.NewAccountsClient(e.EP.SubscriptionID, e.Admin(), e.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	keys, err := sa.ListKeys(c, s.rg, s.storage, nil)
	if err != nil {
		t.Fatal(err)
	}
	acct, err := sa.GetProperties(c, s.rg, s.storage, nil)
	if err != nil {
		t.Fatal(err)
	}
	blobEndpoint := strings.TrimSuffix(*acct.Properties.PrimaryEndpoints.Blob, "/")
	shared, _ := azblob.NewSharedKeyCredential(s.storage, *keys.Keys[0].Value)
	bl, err := azblob.NewClientWithSharedKeyCredential(blobEndpoint+"/", shared, &azblob.ClientOptions{ClientOptions: e.ClientOptions()})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"outputs", "readonly"} {
		if _, err := bl.CreateContainer(c, name, nil); err != nil {
			t.Fatal(err)
		}
	}
	ras, err := armauthorization.NewRoleAssignmentsClient(e.EP.SubscriptionID, e.Admin(), e.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	scope := *acct.ID + "/blobServices/default/containers/outputs"
	if _, err := ras.Create(c, scope, uuid.NewString(), armauthorization.RoleAssignmentCreateParameters{
		Properties: &armauthorization.RoleAssignmentProperties{
			RoleDefinitionID: to.Ptr("/providers/Microsoft.Authorization/roleDefinitions/" + roleStorageBlobDataContributor),
			PrincipalID:      to.Ptr(s.principalID), PrincipalType: to.Ptr(armauthorization.PrincipalTypeServicePrincipal)}}, nil); err != nil {
		t.Fatal(err)
	}

	bc := e.batchClient(t, s.endpoint)
	e.waitIdleNode(t, c, bc, s.pool)
	if _, err := bc.CreateJob(c, azbatch.CreateJobContent{ID: to.Ptr("out"), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr(s.pool)}}, nil); err != nil {
		t.Fatal(err)
	}
	id := &azbatch.NodeIdentityReference{ResourceID: to.Ptr(s.identityID)}
	dest := func(cont, path string) *azbatch.OutputFileDestination {
		return &azbatch.OutputFileDestination{Container: &azbatch.OutputFileBlobContainerDestination{
			ContainerURL: to.Ptr(blobEndpoint + "/" + cont), Path: to.Ptr(path), IdentityReference: id,
			UploadHeaders: []azbatch.HTTPHeader{{Name: to.Ptr("x-ms-blob-content-type"), Value: to.Ptr("text/csv")}}}}
	}
	on := func(cond azbatch.OutputFileUploadCondition) *azbatch.OutputFileUploadConfig {
		return &azbatch.OutputFileUploadConfig{UploadCondition: to.Ptr(cond)}
	}
	cmd := `/bin/sh -c "mkdir -p res/sub && echo one > res/a.csv && echo two > res/sub/b.csv && echo skip > res/c.tmp && echo done"`
	if _, err := bc.CreateTask(c, "out", azbatch.CreateTaskContent{ID: to.Ptr("ok"), CommandLine: to.Ptr(cmd), OutputFiles: []azbatch.OutputFile{
		{FilePattern: to.Ptr("res/**/*.csv"), Destination: dest("outputs", "results"), UploadOptions: on(azbatch.OutputFileUploadConditionTaskSuccess)},
		{FilePattern: to.Ptr("../stdout.txt"), Destination: dest("outputs", "logs/ok-stdout.txt"), UploadOptions: on(azbatch.OutputFileUploadConditionTaskCompletion)},
		{FilePattern: to.Ptr("res/a.csv"), Destination: dest("outputs", "never.csv"), UploadOptions: on(azbatch.OutputFileUploadConditionTaskFailure)},
	}}, nil); err != nil {
		t.Fatal(err)
	}
	task := e.waitTask(t, c, bc, "out", "ok")
	if *task.ExecutionInfo.Result != azbatch.TaskExecutionResultSuccess {
		t.Fatalf("task ok: %+v\nfileuploaderr.txt: %s", task.ExecutionInfo.FailureInfo, e.taskFile(t, c, bc, "out", "ok", "fileuploaderr.txt"))
	}
	var names []string
	pager := bl.NewListBlobsFlatPager("outputs", nil)
	for pager.More() {
		page, err := pager.NextPage(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range page.Segment.BlobItems {
			names = append(names, *b.Name)
		}
	}
	if strings.Join(names, ",") != "logs/ok-stdout.txt,results/a.csv,results/sub/b.csv" {
		t.Errorf("blobs in outputs: %q", names)
	}
	if got := download(t, c, bl, "outputs", "results/sub/b.csv"); got != "two\n" {
		t.Errorf("results/sub/b.csv = %q", got)
	}
	if got := download(t, c, bl, "outputs", "logs/ok-stdout.txt"); got != "done\n" {
		t.Errorf("logs/ok-stdout.txt = %q", got)
	}
	props, err := bl.ServiceClient().NewContainerClient("outputs").NewBlobClient("results/a.csv").GetProperties(c, nil)
	if err != nil || props.ContentType == nil || *props.ContentType != "text/csv" {
		t.Errorf("upload header: content type %v (%v)", props.ContentType, err)
	}
	if log := e.taskFile(t, c, bc, "out", "ok", "fileuploadout.txt"); !strings.Contains(log, "results/sub/b.csv") {
		t.Errorf("fileuploadout.txt: %q", log)
	}

	// The identity may only read "readonly": the task fails with Batch's code.
	if _, err := bc.CreateTask(c, "out", azbatch.CreateTaskContent{ID: to.Ptr("denied"), CommandLine: to.Ptr(`/bin/sh -c "echo x > r.txt"`),
		OutputFiles: []azbatch.OutputFile{{FilePattern: to.Ptr("r.txt"), Destination: dest("readonly", ""), UploadOptions: on(azbatch.OutputFileUploadConditionTaskCompletion)}}}, nil); err != nil {
		t.Fatal(err)
	}
	task = e.waitTask(t, c, bc, "out", "denied")
	fi := task.ExecutionInfo.FailureInfo
	if *task.ExecutionInfo.Result != azbatch.TaskExecutionResultFailure || fi == nil || *fi.Code != "FileUploadMiscError" ||
		*fi.Category != azbatch.ErrorCategoryUserError || !strings.Contains(*fi.Message, "/readonly") || !strings.Contains(*fi.Message, "403") {
		t.Errorf("denied upload: result %v failure %+v", task.ExecutionInfo.Result, fi)
	}
	if *task.ExecutionInfo.ExitCode != 0 {
		t.Errorf("denied upload: exit code %d, want the process's 0", *task.ExecutionInfo.ExitCode)
	}
	if log := e.taskFile(t, c, bc, "out", "denied", "fileuploaderr.txt"); !strings.Contains(log, "403") {
		t.Errorf("fileuploaderr.txt: %q", log)
	}
}
