package e2e

import (
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/batch/azbatch"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/storage/armstorage"
	"github.com/cobaltbatch/cobalt/internal/server"
)

// TestAutoStorageResourceFile: a Batch account linked to a storage account
// (autoStorage) lets tasks name resource files by container alone; Batch
// authorizes the download itself, with no identity and no SAS from the user.
func TestAutoStorageResourceFile(t *testing.T) {
	e := startWith(t, server.Options{Isolation: "process"})
	c := ctx(t)
	s := e.seedResources(t, c)
	sa, err := armstorage.NewAccountsClient(e.EP.SubscriptionID, e.Admin(), e.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	acct, err := sa.GetProperties(c, s.rg, s.storage, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Account struct {
			AccountEndpoint string `json:"accountEndpoint"`
		} `json:"account"`
	}
	e.node("batchpool.js", map[string]any{
		"resourceGroup": s.rg, "account": "autostore" + s.account[len(s.account)-6:], "pool": "plain", "location": e.EP.Location,
		"autoStorage": map[string]any{"storageAccountId": *acct.ID},
		"poolBody": map[string]any{
			"vmSize": "STANDARD_D2S_V3",
			"deploymentConfiguration": map[string]any{"virtualMachineConfiguration": map[string]any{
				"imageReference": map[string]any{"publisher": "canonical", "offer": "ubuntu-24_04-lts", "sku": "server"},
				"nodeAgentSkuId": "batch.node.ubuntu 24.04"}},
			"scaleSettings": map[string]any{"fixedScale": map[string]any{"targetDedicatedNodes": 1}},
		}}, &out)
	bc := e.batchClient(t, out.Account.AccountEndpoint)
	e.waitIdleNode(t, c, bc, "plain")
	if _, err := bc.CreateJob(c, azbatch.CreateJobContent{ID: to.Ptr("j"), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr("plain")}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := bc.CreateTask(c, "j", azbatch.CreateTaskContent{ID: to.Ptr("t"), CommandLine: to.Ptr("/bin/cat data/hello.txt"),
		ResourceFiles: []azbatch.ResourceFile{{AutoStorageContainerName: to.Ptr(s.container), BlobPrefix: to.Ptr("data/")}}}, nil); err != nil {
		t.Fatal(err)
	}
	task := e.waitTask(t, c, bc, "j", "t")
	if out := e.taskFile(t, c, bc, "j", "t", "stdout.txt"); out != "hello from blob storage" {
		t.Fatalf("task %+v printed %q", task.ExecutionInfo.FailureInfo, out)
	}
}
