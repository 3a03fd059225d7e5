package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/batch/azbatch"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/msi/armmsi"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/storage/armstorage"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/google/uuid"
)

// TestBlobMountOnNode: a pool created with @azure/arm-batch whose
// mountConfiguration mounts a blob container with the pool identity
// (Storage Blob Data Contributor on that container): its node mounts it at
// $AZ_BATCH_NODE_MOUNTS_DIR/data before it is idle; a task reads a file the
// host wrote through the SDK and writes one the SDK then reads. A pool whose
// identity may not read its mount's container gets an unusable node with
// the mount error.
func TestBlobMountOnNode(t *testing.T) {
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
	shared, _ := azblob.NewSharedKeyCredential(s.storage, *keys.Keys[0].Value)
	bl, err := azblob.NewClientWithSharedKeyCredential(*acct.Properties.PrimaryEndpoints.Blob, shared, &azblob.ClientOptions{ClientOptions: e.ClientOptions()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bl.CreateContainer(c, "mounted", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := bl.UploadBuffer(c, "mounted", "in/from-host.txt", []byte("written by the host"), nil); err != nil {
		t.Fatal(err)
	}
	ras, err := armauthorization.NewRoleAssignmentsClient(e.EP.SubscriptionID, e.Admin(), e.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ras.Create(c, *acct.ID+"/blobServices/default/containers/mounted", uuid.NewString(), armauthorization.RoleAssignmentCreateParameters{
		Properties: &armauthorization.RoleAssignmentProperties{
			RoleDefinitionID: to.Ptr("/providers/Microsoft.Authorization/roleDefinitions/" + roleStorageBlobDataContributor),
			PrincipalID:      to.Ptr(s.principalID), PrincipalType: to.Ptr(armauthorization.PrincipalTypeServicePrincipal)}}, nil); err != nil {
		t.Fatal(err)
	}
	poolBody := func(container, identity string) map[string]any {
		return map[string]any{
			"identity": map[string]any{"type": "UserAssigned", "userAssignedIdentities": map[string]any{identity: map[string]any{}}},
			"vmSize":   "STANDARD_D2S_V3",
			"deploymentConfiguration": map[string]any{"virtualMachineConfiguration": map[string]any{
				"imageReference": map[string]any{"publisher": "canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "latest"},
				"nodeAgentSkuId": "batch.node.ubuntu 24.04"}},
			"scaleSettings": map[string]any{"fixedScale": map[string]any{"targetDedicatedNodes": 1}},
			"mountConfiguration": []any{map[string]any{"azureBlobFileSystemConfiguration": map[string]any{
				"accountName": s.storage, "containerName": container, "relativeMountPath": "data",
				"identityReference": map[string]any{"resourceId": identity}}}},
		}
	}
	e.node("batchpool.js", map[string]any{"resourceGroup": s.rg, "account": s.account, "pool": "mountpool", "skipAccount": true,
		"poolBody": poolBody("mounted", s.identityID)}, nil)
	bc := e.batchClient(t, s.endpoint)
	e.waitIdleNode(t, c, bc, "mountpool")
	if _, err := bc.CreateJob(c, azbatch.CreateJobContent{ID: to.Ptr("mount"), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr("mountpool")}}, nil); err != nil {
		t.Fatal(err)
	}
	cmd := `/bin/sh -c "cat $AZ_BATCH_NODE_MOUNTS_DIR/data/in/from-host.txt && mkdir -p $AZ_BATCH_NODE_MOUNTS_DIR/data/out && echo written in the node > $AZ_BATCH_NODE_MOUNTS_DIR/data/out/from-node.txt && ls $AZ_BATCH_NODE_MOUNTS_DIR/data"`
	if _, err := bc.CreateTask(c, "mount", azbatch.CreateTaskContent{ID: to.Ptr("rw"), CommandLine: to.Ptr(cmd)}, nil); err != nil {
		t.Fatal(err)
	}
	task := e.waitTask(t, c, bc, "mount", "rw")
	out := e.taskFile(t, c, bc, "mount", "rw", "stdout.txt")
	if *task.ExecutionInfo.ExitCode != 0 || !strings.HasPrefix(out, "written by the host") || !strings.Contains(out, "in\nout") {
		t.Errorf("task: exit %d\nstdout: %q\nstderr: %q", *task.ExecutionInfo.ExitCode, out, e.taskFile(t, c, bc, "mount", "rw", "stderr.txt"))
	}
	if got := download(t, c, bl, "mounted", "out/from-node.txt"); got != "written in the node\n" {
		t.Errorf("the SDK reads %q from the blob the node wrote", got)
	}

	// A mount its identity may not list: the node is unusable, with the error.
	ids, err := armmsi.NewUserAssignedIdentitiesClient(e.EP.SubscriptionID, e.Admin(), e.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	noRole, err := ids.CreateOrUpdate(c, s.rg, "no-storage-role", armmsi.Identity{Location: to.Ptr(e.EP.Location)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.node("batchpool.js", map[string]any{"resourceGroup": s.rg, "account": s.account, "pool": "deniedpool", "skipAccount": true,
		"poolBody": poolBody("mounted", *noRole.ID)}, nil)
	var node azbatch.Node
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the denied pool's node never became unusable: %+v", node)
		}
		page, err := bc.NewListNodesPager("deniedpool", nil).NextPage(c)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Value) == 0 {
			continue
		}
		node = page.Value[0]
		if *node.State == azbatch.NodeStateIdle {
			t.Fatal("a node whose identity may not read its mount's container became idle")
		}
		if *node.State == azbatch.NodeStateUnusable {
			break
		}
	}
	if len(node.Errors) != 1 || *node.Errors[0].Code != "MountConfigurationError" ||
		!strings.Contains(*node.Errors[0].Message, s.storage+"/mounted") || !strings.Contains(*node.Errors[0].Message, "403") {
		var got []string
		for _, ne := range node.Errors {
			got = append(got, deref(ne.Code)+": "+deref(ne.Message))
		}
		t.Errorf("unusable node's errors: %q, want one MountConfigurationError naming %s/mounted and 403", got, s.storage)
	}
}
