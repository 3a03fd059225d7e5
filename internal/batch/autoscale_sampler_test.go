package batch

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
)

// fakeTaskMetrics returns the counts a test sets.
type fakeTaskMetrics struct {
	mu     sync.Mutex
	counts map[string]cobalt.PoolTaskCounts
}

func (f *fakeTaskMetrics) set(pool string, c cobalt.PoolTaskCounts) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counts[pool] = c
}

func (f *fakeTaskMetrics) PoolTaskCounts(context.Context, string) (map[string]cobalt.PoolTaskCounts, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]cobalt.PoolTaskCounts{}
	for k, v := range f.counts {
		out[k] = v
	}
	return out, nil
}

// TestPoolSampler checks the samples the pool service takes: one per
// sample period by its clock, task counts from TaskMetrics, completions as
// the growth of the totals between samples, and a bounded history.
func TestPoolSampler(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.AutoScale.History = 5 * time.Minute })
	metrics := &fakeTaskMetrics{counts: map[string]cobalt.PoolTaskCounts{}}
	e.svc.UseTaskMetrics(metrics)
	ctx := context.Background()
	spec := armPool(0)
	spec.Pool.EnableAutoScale, spec.Pool.AutoScaleFormula, spec.Pool.AutoScaleEvaluationInterval = true, "$TargetDedicatedNodes=1", 5*time.Minute
	if _, w := e.put("Auto", spec); w != "" {
		t.Fatal(w)
	}
	e.settle("Auto")
	eval := func(f string) string {
		t.Helper()
		run, err := e.svc.PoolEvaluateAutoScale(ctx, e.acct.Key(), "auto", f)
		if err != nil {
			t.Fatal(err)
		}
		if run.Error != nil {
			return run.Error.Code + ": " + run.Error.Message
		}
		return run.Results
	}

	metrics.set("auto", cobalt.PoolTaskCounts{Active: 4, Running: 1, Succeeded: 10})
	e.svc.sampleIfDue(ctx)
	e.advance(30 * time.Second)
	metrics.set("auto", cobalt.PoolTaskCounts{Active: 1, Running: 2, Succeeded: 13, Failed: 1})
	e.svc.sampleIfDue(ctx)
	e.advance(10 * time.Second)
	e.svc.sampleIfDue(ctx) // not due: the period is 30 s
	got := eval("$TargetDedicatedNodes = len($PendingTasks.GetSample(TimeInterval_Hour)); s = sum($SucceededTasks.GetSample(TimeInterval_Hour)); " +
		"f = sum($FailedTasks.GetSample(TimeInterval_Hour)); p = $PendingTasks.GetSample(2); n = max($CurrentDedicatedNodes.GetSample(1))")
	for _, want := range []string{"$TargetDedicatedNodes=2;", "s=3", "f=1", "p=[5,3]", "n=1"} {
		if !strings.Contains(got, want) {
			t.Errorf("results %q lack %q", got, want)
		}
	}
	// The history keeps 5 minutes: 11 samples 30 s apart.
	for range 12 {
		e.advance(30 * time.Second)
		e.svc.sampleIfDue(ctx)
	}
	if got := eval("$TargetDedicatedNodes = $ActiveTasks.Count()"); !strings.Contains(got, "$TargetDedicatedNodes=11;") {
		t.Errorf("after 6 minutes: %q", got)
	}
	// A deleted pool's history goes at the next sample.
	if _, err := e.svc.PoolDelete(ctx, e.acct.Key(), "auto", Conditions{}); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Reconcile(ctx, "test"); err != nil {
		t.Fatal(err)
	}
	e.advance(30 * time.Second)
	e.svc.sampleIfDue(ctx)
	if h, _ := e.svc.samples.history(e.acct.Key(), "auto"); len(h) != 0 {
		t.Errorf("a deleted pool kept %d samples", len(h))
	}
}

// TestPoolSamplerWithoutTaskMetrics: without a jobs service the task
// variables cannot be read, while the node counts can.
func TestPoolSamplerWithoutTaskMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	spec := armPool(0)
	spec.Pool.EnableAutoScale, spec.Pool.AutoScaleFormula, spec.Pool.AutoScaleEvaluationInterval = true, "$TargetDedicatedNodes=2", 5*time.Minute
	if _, w := e.put("auto", spec); w != "" {
		t.Fatal(w)
	}
	e.settle("auto")
	e.svc.sampleIfDue(context.Background())
	run, err := e.svc.PoolEvaluateAutoScale(context.Background(), e.acct.Key(), "auto", "$TargetDedicatedNodes = max($SampleNodeCount.GetSample(1))")
	if err != nil || run.Error != nil || !strings.HasPrefix(run.Results, "$TargetDedicatedNodes=2;") {
		t.Fatalf("node count: %+v %v", run, err)
	}
	run, err = e.svc.PoolEvaluateAutoScale(context.Background(), e.acct.Key(), "auto", "$TargetDedicatedNodes = max($PendingTasks.GetSample(1))")
	if err != nil || run.Error == nil || !strings.Contains(run.Error.Message, "no task counts") {
		t.Fatalf("task count without metrics: %+v %v", run, err)
	}
}
