package e2e

import (
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/batch/azbatch"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/msi/armmsi"
)

// TestIdentityBoundaries: a node of one pool cannot get a token for another
// pool's identity, and a resource file fetched with an identity that has no
// role on the storage account fails the task with Batch's failure info, the
// URL and the HTTP status, instead of hanging.
func TestIdentityBoundaries(t *testing.T) {
	e := startIsolated(t)
	c := ctx(t)
	s := e.seedResources(t, c)
	bc := e.batchClient(t, s.endpoint)

	ids, err := armmsi.NewUserAssignedIdentitiesClient(e.EP.SubscriptionID, e.Admin(), e.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	other, err := ids.CreateOrUpdate(c, s.rg, "no-role-identity", armmsi.Identity{Location: to.Ptr(e.EP.Location)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.node("batchpool.js", map[string]any{"resourceGroup": s.rg, "account": s.account, "pool": "otherpool", "skipAccount": true,
		"poolBody": map[string]any{
			"identity": map[string]any{"type": "UserAssigned", "userAssignedIdentities": map[string]any{*other.ID: map[string]any{}}},
			"vmSize":   "STANDARD_D2S_V3",
			"deploymentConfiguration": map[string]any{"virtualMachineConfiguration": map[string]any{
				"imageReference": map[string]any{"publisher": "canonical", "offer": "ubuntu-24_04-lts", "sku": "server"},
				"nodeAgentSkuId": "batch.node.ubuntu 24.04"}},
			"scaleSettings": map[string]any{"fixedScale": map[string]any{"targetDedicatedNodes": 1}},
		}}, nil)
	e.waitIdleNode(t, c, bc, s.pool)
	e.waitIdleNode(t, c, bc, "otherpool")

	// From the seed pool's node, the other pool's identity does not exist.
	if _, err := bc.CreateJob(c, azbatch.CreateJobContent{ID: to.Ptr("a"), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr(s.pool)}}, nil); err != nil {
		t.Fatal(err)
	}
	if out := e.runIMDS(t, c, bc, "a", "steal", *other.Properties.ClientID); !strings.Contains(out, "Identity not found") {
		t.Errorf("a node got a token for another pool's identity:\n%s", out)
	}

	// On the other pool, a resource file read with an identity that has no role is denied.
	if _, err := bc.CreateJob(c, azbatch.CreateJobContent{ID: to.Ptr("b"), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr("otherpool")}}, nil); err != nil {
		t.Fatal(err)
	}
	container := strings.TrimSuffix(s.blobURL, "/data/hello.txt")
	if _, err := bc.CreateTask(c, "b", azbatch.CreateTaskContent{ID: to.Ptr("denied"), CommandLine: to.Ptr("/bin/true"),
		ResourceFiles: []azbatch.ResourceFile{{StorageContainerURL: to.Ptr(container), BlobPrefix: to.Ptr("data/"),
			IdentityReference: &azbatch.NodeIdentityReference{ResourceID: other.ID}}}}, nil); err != nil {
		t.Fatal(err)
	}
	task := e.waitTask(t, c, bc, "b", "denied")
	fi := task.ExecutionInfo.FailureInfo
	if fi == nil || *task.ExecutionInfo.Result != azbatch.TaskExecutionResultFailure {
		t.Fatalf("a denied download did not fail the task: %+v", task.ExecutionInfo)
	}
	if *fi.Category != azbatch.ErrorCategoryUserError || !strings.Contains(deref(fi.Message), "403") || !strings.Contains(deref(fi.Message), container) {
		t.Errorf("failure info %s %s %q does not name the URL and the status", deref(fi.Category), deref(fi.Code), deref(fi.Message))
	}
}
