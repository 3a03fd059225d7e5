package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/batch/azbatch"
	"github.com/cobaltbatch/cobalt/internal/batch"
	"github.com/cobaltbatch/cobalt/internal/server"
)

// TestAutoScaleOnPendingTasks runs a whole Cobalt with real nodes: a pool
// whose formula reads $PendingTasks grows while tasks added through azbatch
// wait, runs them, and shrinks to zero after. The installation samples
// every 200 ms and evaluates formulas every second (server.Options), not
// every 30 s and 5 minutes.
func TestAutoScaleOnPendingTasks(t *testing.T) {
	e := startWith(t, server.Options{Isolation: "process",
		AutoScale: batch.AutoScaleOptions{SamplePeriod: 200 * time.Millisecond, EvaluationInterval: time.Second}})
	c := ctx(t)
	bc := e.batchClient(t, e.emptyAccount(t, c, "auto", "autoacct"))
	formula := "$TargetDedicatedNodes = min(2, max(0, $PendingTasks.GetSample(1)));\n$NodeDeallocationOption = taskcompletion"
	if _, err := bc.CreatePool(c, azbatch.CreatePoolContent{
		ID: to.Ptr("grow"), VMSize: to.Ptr("STANDARD_D2S_V3"), EnableAutoScale: to.Ptr(true), AutoScaleFormula: to.Ptr(formula),
		AutoScaleEvaluationInterval: to.Ptr("PT5M"),
		VirtualMachineConfiguration: &azbatch.VirtualMachineConfiguration{
			ImageReference: &azbatch.ImageReference{Publisher: to.Ptr("canonical"), Offer: to.Ptr("ubuntu-24_04-lts"), SKU: to.Ptr("server")},
			NodeAgentSKUID: to.Ptr("batch.node.ubuntu 24.04")},
	}, nil); err != nil {
		t.Fatalf("create pool: %v", err)
	}
	if _, err := bc.CreateJob(c, azbatch.CreateJobContent{ID: to.Ptr("load"), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr("grow")}}, nil); err != nil {
		t.Fatal(err)
	}
	var specs []azbatch.CreateTaskContent
	for i := range 4 {
		specs = append(specs, azbatch.CreateTaskContent{ID: to.Ptr(fmt.Sprint("t", i)), CommandLine: to.Ptr("/bin/sh -c 'sleep 1'")})
	}
	if _, err := bc.CreateTaskCollection(c, "load", azbatch.TaskGroup{Value: specs}, nil); err != nil {
		t.Fatal(err)
	}
	maxNodes := int32(0)
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		p, err := bc.GetPool(c, "grow", nil)
		if err != nil {
			t.Fatal(err)
		}
		maxNodes = max(maxNodes, deref(p.CurrentDedicatedNodes))
		counts := taskCounts(t, c, bc, "load")
		run := p.AutoScaleRun
		if deref(counts.Succeeded) == 4 && deref(p.CurrentDedicatedNodes) == 0 && run != nil && run.Results != nil &&
			strings.HasPrefix(*run.Results, "$TargetDedicatedNodes=0;") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pool %d nodes (at most %d), run %+v, tasks %+v", deref(p.CurrentDedicatedNodes), maxNodes, run, counts)
		}
	}
	if maxNodes != 2 {
		t.Errorf("the pool grew to %d nodes, want the formula's cap of 2", maxNodes)
	}
}
