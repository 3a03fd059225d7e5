package e2e

import (
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/batch/azbatch"
	"github.com/cobaltbatch/cobalt/internal/server"
)

// TestRestartKeepsPoolsWorking restarts Cobalt on the same data directory: the
// Batch account answers on the same endpoint, the pool's node comes back as a
// rebooted VM (same ID, same identities), and a task submitted after the
// restart runs on it and can use the pool's identity.
func TestRestartKeepsPoolsWorking(t *testing.T) {
	dir := t.TempDir()
	e := startWith(t, server.Options{DataDir: dir, Isolation: "process"})
	c := ctx(t)
	s := e.seedResources(t, c)
	bc := e.batchClient(t, s.endpoint)
	before := e.waitIdleNode(t, c, bc, s.pool)
	if err := e.Server.Close(); err != nil {
		t.Fatal(err)
	}

	e2 := startWith(t, server.Options{DataDir: dir, Isolation: "process"})
	bc = e2.batchClient(t, s.endpoint)
	after := e2.waitIdleNode(t, c, bc, s.pool)
	if *after.ID != *before.ID {
		t.Errorf("the pool's node is %s after the restart, was %s", *after.ID, *before.ID)
	}
	if after.LastBootTime == nil || before.LastBootTime == nil || !after.LastBootTime.After(*before.LastBootTime) {
		t.Errorf("the node's last boot time %v did not advance from %v", after.LastBootTime, before.LastBootTime)
	}
	if _, err := bc.CreateJob(c, azbatch.CreateJobContent{ID: to.Ptr("after"), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr(s.pool)}}, nil); err != nil {
		t.Fatal(err)
	}
	url := "$IDENTITY_ENDPOINT?api-version=2019-08-01&resource=https://storage.azure.com/"
	cmd := "/bin/sh -c " + shellQuote(`curl -sS "`+url+`" -H "X-IDENTITY-HEADER: $IDENTITY_HEADER"`)
	if _, err := bc.CreateTask(c, "after", azbatch.CreateTaskContent{ID: to.Ptr("t"), CommandLine: to.Ptr(cmd)}, nil); err != nil {
		t.Fatal(err)
	}
	e2.waitTask(t, c, bc, "after", "t")
	if tk, err := bc.GetTask(c, "after", "t", nil); err != nil || tk.NodeInfo == nil || deref(tk.NodeInfo.NodeID) != *before.ID {
		t.Errorf("the task did not run on the recovered node %s: %+v %v", *before.ID, tk.NodeInfo, err)
	}
	if out := e2.taskFile(t, c, bc, "after", "t", "stdout.txt"); !strings.Contains(out, "access_token") {
		t.Fatalf("after the restart the node's identity endpoint answered:\n%s", out)
	}
}
