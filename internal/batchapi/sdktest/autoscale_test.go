package sdktest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/batch/azbatch"
	"github.com/cobaltbatch/cobalt/internal/batch"
	"github.com/cobaltbatch/cobalt/internal/rbac"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// TestGoSDKAutoScaleOnPendingTasks drives autoscale with azbatch: a pool
// whose formula reads $PendingTasks grows while tasks added through the SDK
// wait, and shrinks to zero once fake nodes have run them. Samples are
// taken every 100 ms and formulas evaluated every 500 ms (an installation
// option) instead of Batch's 30 s and 5 min.
func TestGoSDKAutoScaleOnPendingTasks(t *testing.T) {
	e := newEnvWith(t, func(c *batch.Config) {
		c.PollInterval = 50 * time.Millisecond
		c.AutoScale = batch.AutoScaleOptions{SamplePeriod: 100 * time.Millisecond, EvaluationInterval: 500 * time.Millisecond}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, _ := e.goClient(e.newPrincipal(rbac.RoleBatchDataContributor))

	formula := "pending = max($PendingTasks.GetSample(1));\n$TargetDedicatedNodes = min(3, pending);\n$NodeDeallocationOption = taskcompletion"
	pool := testPool("auto", 0)
	pool.TargetDedicatedNodes = nil
	pool.EnableAutoScale, pool.AutoScaleFormula, pool.AutoScaleEvaluationInterval = to.Ptr(true), to.Ptr(formula), to.Ptr("PT5M")
	if _, err := c.CreatePool(ctx, pool, nil); err != nil {
		t.Fatalf("CreatePool: %v", err)
	}
	// At creation the pool has no sample yet: the run reports Batch's error.
	gp, err := c.GetPool(ctx, "auto", nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := gp.AutoScaleRun; r == nil || r.Error == nil || *r.Error.Code != batch.CodeInsufficientSampleData ||
		len(r.Error.Values) != 1 || !strings.Contains(*r.Error.Values[0].Value, "Insufficient data from data set: $PendingTasks") {
		t.Fatalf("first autoScaleRun: %+v %+v", gp.AutoScaleRun, gp.AutoScaleRun.Error)
	}

	if _, err := c.CreateJob(ctx, azbatch.CreateJobContent{ID: to.Ptr("load"), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr("auto")}}, nil); err != nil {
		t.Fatalf("CreateJob: %v", err)
	}
	group := azbatch.TaskGroup{}
	for _, id := range []string{"t1", "t2", "t3", "t4", "t5", "t6"} {
		group.Value = append(group.Value, azbatch.CreateTaskContent{ID: to.Ptr(id), CommandLine: to.Ptr("/bin/true")})
	}
	if _, err := c.CreateTaskCollection(ctx, "load", group, nil); err != nil {
		t.Fatalf("CreateTaskCollection: %v", err)
	}

	// Six pending tasks: the pool grows to the formula's cap of three.
	waitPool := func(what string, ok func(azbatch.Pool) bool) azbatch.Pool {
		t.Helper()
		for ctx.Err() == nil {
			gp, err := c.GetPool(ctx, "auto", nil)
			if err != nil {
				t.Fatal(err)
			}
			if ok(gp.Pool) {
				return gp.Pool
			}
			time.Sleep(50 * time.Millisecond)
		}
		gp, _ := c.GetPool(context.Background(), "auto", nil)
		t.Fatalf("pool never %s: current %d run %+v", what, i32(gp.CurrentDedicatedNodes), gp.AutoScaleRun)
		return azbatch.Pool{}
	}
	grown := waitPool("grew", func(p azbatch.Pool) bool { return i32(p.CurrentDedicatedNodes) == 3 })
	if r := grown.AutoScaleRun; r == nil || r.Error != nil || !strings.Contains(*r.Results, "$TargetDedicatedNodes=3;") ||
		!strings.Contains(*r.Results, "pending=6") {
		t.Fatalf("autoScaleRun while growing: %+v", grown.AutoScaleRun)
	}

	// Fake nodes run the tasks; with nothing pending the pool shrinks to zero.
	nodes, _, err := e.pools.NodeList(ctx, strings.ToLower(e.accountID), "auto", store.Page{Limit: 10})
	if err != nil || len(nodes) != 3 {
		t.Fatalf("nodes: %d %v", len(nodes), err)
	}
	nctx, ncancel := context.WithCancel(ctx)
	defer ncancel()
	for _, n := range nodes {
		go e.fakeNode(nctx, "auto", n.ID)
	}
	shrunk := waitPool("shrank", func(p azbatch.Pool) bool {
		return i32(p.CurrentDedicatedNodes) == 0 && p.AutoScaleRun != nil && p.AutoScaleRun.Results != nil && strings.Contains(*p.AutoScaleRun.Results, "$TargetDedicatedNodes=0;")
	})
	if !strings.Contains(*shrunk.AutoScaleRun.Results, "pending=0") {
		t.Fatalf("autoScaleRun after the load: %+v", shrunk.AutoScaleRun)
	}
	counts, err := c.GetJobTaskCounts(ctx, "load", nil)
	if err != nil || *counts.TaskCounts.Succeeded != 6 {
		t.Fatalf("task counts: %+v %v", counts, err)
	}

	// evaluateautoscale with metric formulas: the completions of the last
	// hour are the six tasks; resource metrics are not measured.
	ev, err := c.EvaluatePoolAutoScale(ctx, "auto", azbatch.EvaluatePoolAutoScaleContent{AutoScaleFormula: to.Ptr(
		"done = sum($SucceededTasks.GetSample(TimeInterval_Hour)); failed = sum($FailedTasks.GetSample(TimeInterval_Hour)); $TargetDedicatedNodes = done")}, nil)
	if err != nil || ev.Error != nil || !strings.Contains(*ev.Results, "$TargetDedicatedNodes=6;") || !strings.Contains(*ev.Results, "done=6") ||
		!strings.Contains(*ev.Results, "failed=0") {
		t.Fatalf("EvaluatePoolAutoScale: %+v %v", ev.AutoScaleRun, err)
	}
	ev, err = c.EvaluatePoolAutoScale(ctx, "auto", azbatch.EvaluatePoolAutoScaleContent{AutoScaleFormula: to.Ptr(
		"$TargetDedicatedNodes = avg($CPUPercent.GetSample(TimeInterval_Minute * 5))")}, nil)
	if err != nil || ev.Error == nil || *ev.Error.Code != "AutoScalingFormulaEvaluationError" || !strings.Contains(*ev.Error.Message, "$CPUPercent") {
		t.Fatalf("EvaluatePoolAutoScale($CPUPercent): %+v %v", ev.AutoScaleRun, err)
	}
}

func i32(p *int32) int32 {
	if p == nil {
		return -1
	}
	return *p
}
