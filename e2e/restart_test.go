package e2e

import (
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/batch/azbatch"
	"github.com/cobaltbatch/cobalt/internal/server"
)

// TestRestartKeepsPoolsWorking restarts Cobalt on the same data directory: the
// Batch account answers on the same endpoint, the pool gets working nodes
// again, and a task submitted after the restart runs and can use the pool's
// identity.
func TestRestartKeepsPoolsWorking(t *testing.T) {
	dir := t.TempDir()
	e := startWith(t, server.Options{DataDir: dir, Isolation: "process"})
	c := ctx(t)
	s := e.seedResources(t, c)
	bc := e.batchClient(t, s.endpoint)
	e.waitIdleNode(t, c, bc, s.pool)
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}

	e2 := startWith(t, server.Options{DataDir: dir, Isolation: "process"})
	bc = e2.batchClient(t, s.endpoint)
	e2.waitIdleNode(t, c, bc, s.pool)
	if _, err := bc.CreateJob(c, azbatch.CreateJobContent{ID: to.Ptr("after"), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr(s.pool)}}, nil); err != nil {
		t.Fatal(err)
	}
	url := "$IDENTITY_ENDPOINT?api-version=2019-08-01&resource=https://storage.azure.com/"
	cmd := "/bin/sh -c " + shellQuote(`curl -sS "`+url+`" -H "X-IDENTITY-HEADER: $IDENTITY_HEADER"`)
	if _, err := bc.CreateTask(c, "after", azbatch.CreateTaskContent{ID: to.Ptr("t"), CommandLine: to.Ptr(cmd)}, nil); err != nil {
		t.Fatal(err)
	}
	e2.waitTask(t, c, bc, "after", "t")
	if out := e2.taskFile(t, c, bc, "after", "t", "stdout.txt"); !strings.Contains(out, "access_token") {
		t.Fatalf("after the restart the node's identity endpoint answered:\n%s", out)
	}
}
