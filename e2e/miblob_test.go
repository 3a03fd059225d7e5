package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/batch/azbatch"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/cobaltbatch/cobalt/internal/server"
	"github.com/cobaltbatch/cobalt/internal/testenv"
	"github.com/google/uuid"
)

const roleStorageBlobDataContributor = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"

// TestManagedIdentityBlobClients: tasks on a node use the official blob
// clients, Go azblob and Node @azure/storage-blob, with ManagedIdentityCredential
// and the pool's identity (Storage Blob Data Contributor on the account): no
// secret anywhere, every operation checked by the blob service's RBAC.
func TestManagedIdentityBlobClients(t *testing.T) {
	e := startWith(t, server.Options{Isolation: "process"})
	c := ctx(t)
	s := e.seedResources(t, c)
	ras, err := armauthorization.NewRoleAssignmentsClient(e.EP.SubscriptionID, e.Admin(), e.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	storageID := "/subscriptions/" + e.EP.SubscriptionID + "/resourceGroups/" + s.rg + "/providers/Microsoft.Storage/storageAccounts/" + s.storage
	if _, err := ras.Create(c, storageID, uuid.NewString(), armauthorization.RoleAssignmentCreateParameters{
		Properties: &armauthorization.RoleAssignmentProperties{
			RoleDefinitionID: to.Ptr("/providers/Microsoft.Authorization/roleDefinitions/" + roleStorageBlobDataContributor),
			PrincipalID:      to.Ptr(s.principalID), PrincipalType: to.Ptr(armauthorization.PrincipalTypeServicePrincipal)}}, nil); err != nil {
		t.Fatal(err)
	}
	accountURL := strings.TrimSuffix(s.blobURL, s.container+"/data/hello.txt")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	testenv.Require(t, testenv.NodeModule("@azure/identity"), testenv.NodeModule("@azure/storage-blob"))
	nodeDir := testenv.NodeDir()
	bc := e.batchClient(t, s.endpoint)
	e.waitIdleNode(t, c, bc, s.pool)
	if _, err := bc.CreateJob(c, azbatch.CreateJobContent{ID: to.Ptr("mi"), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr(s.pool)}}, nil); err != nil {
		t.Fatal(err)
	}
	// The test binary and the Node scripts live under the build's and the
	// checkout's directories: the tasks run as the pool's admin user to reach them.
	admin := &azbatch.UserIdentity{AutoUser: &azbatch.AutoUserSpecification{ElevationLevel: to.Ptr(azbatch.ElevationLevelAdmin)}}
	for _, task := range []azbatch.CreateTaskContent{
		{ID: to.Ptr("go"), CommandLine: to.Ptr(self), UserIdentity: admin, EnvironmentSettings: []azbatch.EnvironmentSetting{
			{Name: to.Ptr(taskModeEnv), Value: to.Ptr("mi-blob")}, {Name: to.Ptr("ACCOUNT_URL"), Value: to.Ptr(accountURL)},
			{Name: to.Ptr("CONTAINER"), Value: to.Ptr("go-mi")}}},
		{ID: to.Ptr("node"), CommandLine: to.Ptr("/bin/sh -c " + shellQuote("cd "+nodeDir+" && node e2e/miblob.js")), UserIdentity: admin,
			EnvironmentSettings: []azbatch.EnvironmentSetting{{Name: to.Ptr("ACCOUNT_URL"), Value: to.Ptr(accountURL)},
				{Name: to.Ptr("CONTAINER"), Value: to.Ptr("node-mi")}}},
	} {
		if _, err := bc.CreateTask(c, "mi", task, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"go", "node"} {
		task := e.waitTask(t, c, bc, "mi", id)
		out := e.taskFile(t, c, bc, "mi", id, "stdout.txt")
		if *task.ExecutionInfo.ExitCode != 0 || !strings.Contains(out, id+" blob ok") {
			t.Errorf("task %s: exit %d\nstdout:\n%s\nstderr:\n%s", id, *task.ExecutionInfo.ExitCode, out, e.taskFile(t, c, bc, "mi", id, "stderr.txt"))
		}
	}
}

// taskModeEnv makes the test binary act as a task program instead of running tests.
const taskModeEnv = "COBALT_E2E_TASK"

// runTaskMode runs the program a task asked for and exits, when this binary
// was started by a node as a task.
func runTaskMode() {
	if os.Getenv(taskModeEnv) != "mi-blob" {
		return
	}
	if err := miBlobGo(context.Background(), os.Getenv("ACCOUNT_URL"), os.Getenv("CONTAINER")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("go blob ok")
	os.Exit(0)
}

// miBlobGo is the Go half: azblob with ManagedIdentityCredential from the
// node's environment (IDENTITY_ENDPOINT on a process node).
func miBlobGo(ctx context.Context, accountURL, cont string) error {
	cred, err := azidentity.NewManagedIdentityCredential(nil)
	if err != nil {
		return err
	}
	c, err := azblob.NewClient(accountURL, cred, nil)
	if err != nil {
		return err
	}
	if _, err := c.CreateContainer(ctx, cont, nil); err != nil {
		return fmt.Errorf("create container: %w", err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 6<<16) // 6 MiB, staged as blocks
	if _, err := c.UploadBuffer(ctx, cont, "dir/small.txt", []byte("go says hi"), nil); err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	if _, err := c.UploadStream(ctx, cont, "dir/big.bin", bytes.NewReader(big), &azblob.UploadStreamOptions{BlockSize: 1 << 20}); err != nil {
		return fmt.Errorf("upload stream: %w", err)
	}
	r, err := c.DownloadStream(ctx, cont, "dir/big.bin", nil)
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	got, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil || !bytes.Equal(got, big) {
		return fmt.Errorf("download differs (%d bytes): %v", len(got), err)
	}
	rr, err := c.DownloadStream(ctx, cont, "dir/small.txt", &azblob.DownloadStreamOptions{Range: blob.HTTPRange{Offset: 3, Count: 4}})
	if err != nil {
		return fmt.Errorf("range: %w", err)
	}
	part, _ := io.ReadAll(rr.Body)
	rr.Body.Close()
	if string(part) != "says" {
		return fmt.Errorf("range read %q", part)
	}
	page, err := c.ServiceClient().NewContainerClient(cont).NewListBlobsHierarchyPager("/", &container.ListBlobsHierarchyOptions{}).NextPage(ctx)
	if err != nil || len(page.Segment.BlobPrefixes) != 1 || *page.Segment.BlobPrefixes[0].Name != "dir/" {
		return fmt.Errorf("hierarchical list: %v %+v", err, page.Segment)
	}
	flat, err := c.NewListBlobsFlatPager(cont, &azblob.ListBlobsFlatOptions{Prefix: to.Ptr("dir/")}).NextPage(ctx)
	if err != nil || len(flat.Segment.BlobItems) != 2 {
		return fmt.Errorf("flat list: %v", err)
	}
	if _, err := c.DeleteBlob(ctx, cont, "dir/small.txt", nil); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if _, err := c.DeleteContainer(ctx, cont, nil); err != nil {
		return fmt.Errorf("delete container: %w", err)
	}
	return nil
}
