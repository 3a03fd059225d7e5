package batch

import (
	"context"
	"github.com/cobaltbatch/cobalt/internal/errwire"
	"strings"
	"testing"
	"time"
)

func TestEvaluateFormula(t *testing.T) {
	t.Parallel()
	in := FormulaInputs{CurrentDedicatedNodes: 2, TargetDedicatedNodes: 2}
	for _, c := range []struct {
		formula   string
		ded, low  int
		dealloc   string
		errCode   string
		errSubstr string
	}{
		{"$TargetDedicatedNodes=1", 1, 0, "requeue", "", ""},
		{"$TargetDedicatedNodes = 3;\n$TargetLowPriorityNodes = 2", 3, 2, "requeue", "", ""},
		{"x = $CurrentDedicatedNodes * 2; $TargetDedicatedNodes = min(x, 3)", 3, 0, "requeue", "", ""},
		{"$TargetDedicatedNodes = $CurrentDedicatedNodes > 1 ? max(1, 0) : 5; $NodeDeallocationOption = taskcompletion", 1, 0, "taskcompletion", "", ""},
		{"$TargetDedicatedNodes = (1 + 2) * 3 - 4 / 2", 7, 0, "requeue", "", ""},
		{"$TargetDedicatedNodes = -5", 0, 0, "requeue", "", ""},
		{"$TargetDedicatedNodes = ceil(avg(1, 2))", 2, 0, "requeue", "", ""},
		{"$TargetDedicatedNodes = !0 && 1 || 0", 1, 0, "requeue", "", ""},
		{"$TargetDedicatedNodes = 2; // keep two", 2, 0, "requeue", "", ""},
		{"$TargetDedicatedNodes = $PendingTasks.GetSample(1)", 0, 0, "", errwire.CodeAutoScalingFormulaEvaluationError, "no task counts"},
		{"$TargetDedicatedNodes = avg($CPUPercent.GetSample(1))", 0, 0, "", errwire.CodeAutoScalingFormulaEvaluationError, "does not measure '$CPUPercent'"},
		{"$TargetDedicatedNodes = y", 0, 0, "", errwire.CodeAutoScalingFormulaEvaluationError, "'y'"},
		{"$TargetDedicatedNodes = 1 +", 0, 0, "", errwire.CodeAutoScalingFormulaSyntaxError, ""},
		{"$TargetDedicatedNodes == 1", 0, 0, "", errwire.CodeAutoScalingFormulaSyntaxError, ""},
		{"1 = 2", 0, 0, "", errwire.CodeAutoScalingFormulaSyntaxError, ""},
		{"$TargetDedicatedNodes = 1/0", 0, 0, "", errwire.CodeAutoScalingFormulaEvaluationError, "zero"},
		{"$NodeDeallocationOption = never", 0, 0, "", errwire.CodeAutoScalingFormulaEvaluationError, "never"},
		{"$TargetDedicatedNodes = " + strings.Repeat("(", 200) + "1" + strings.Repeat(")", 200), 0, 0, "", errwire.CodeAutoScalingFormulaSyntaxError, "deeply"},
	} {
		r, err := EvaluateFormula(c.formula, in)
		if c.errCode != "" {
			fe, ok := err.(*formulaError)
			if !ok || fe.Code != c.errCode || !strings.Contains(fe.Message, c.errSubstr) {
				t.Errorf("%q: error %v, want %s containing %q", c.formula, err, c.errCode, c.errSubstr)
			}
			continue
		}
		if err != nil || r.TargetDedicatedNodes != c.ded || r.TargetLowPriorityNodes != c.low || r.NodeDeallocationOption != c.dealloc {
			t.Errorf("%q: %+v %v", c.formula, r, err)
		}
	}
}

func FuzzEvaluateFormula(f *testing.F) {
	for _, s := range []string{"$TargetDedicatedNodes=1", "a=(1+2)*3;$TargetDedicatedNodes=a>2?a:0", "$x=max(", "$TargetDedicatedNodes=1e308*1e308",
		"$TargetDedicatedNodes = avg($PendingTasks.GetSample(TimeInterval_Minute * 5, 50))",
		"t = time(\"2026-12-05T09:00:00Z\"); $TargetDedicatedNodes = (time() - t) > TimeInterval_Hour ? percentile($ActiveTasks.GetSample(10), 90) : stop()",
		"// c\n$TargetDedicatedNodes = val($RunningTasks.GetSample(TimeInterval_Minute, TimeInterval_Minute * 6, 10), 0) + $CurrentDedicatedNodes.GetSample(1)",
		"$TargetDedicatedNodes = $SucceededTasks.GetSamplePercent(time() - TimeInterval_Hour) + $FailedTasks.Count() + std(1, 2) + norm($ActiveTasks.GetSample(2))",
	} {
		f.Add(s)
	}
	in := FormulaInputs{CurrentDedicatedNodes: 1, Now: sampleNow, History: history(30), TasksMeasured: true}
	f.Fuzz(func(t *testing.T, formula string) {
		r, err := EvaluateFormula(formula, in)
		if err == nil && (r.TargetDedicatedNodes < 0 || r.TargetLowPriorityNodes < 0 || r.TargetDedicatedNodes > 1e6) {
			t.Fatalf("%q gave %+v", formula, r)
		}
		if _, ok := err.(*formulaError); err != nil && !ok {
			t.Fatalf("%q gave a non-formula error %v", formula, err)
		}
		if r2, err2 := EvaluateFormula(formula, in); r2.Results() != r.Results() || (err == nil) != (err2 == nil) {
			t.Fatalf("%q is not deterministic", formula)
		}
	})
}

func TestAutoScalePool(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	spec := armPool(0)
	spec.Pool.EnableAutoScale, spec.Pool.AutoScaleFormula, spec.Pool.AutoScaleEvaluationInterval = true, "$TargetDedicatedNodes=2", 5*time.Minute
	p, _ := e.put("auto", spec)
	if p.TargetDedicatedNodes != 2 || p.AutoScaleRun == nil || !strings.Contains(p.AutoScaleRun.Results, "$TargetDedicatedNodes=2") {
		t.Fatalf("created = target %d run %+v", p.TargetDedicatedNodes, p.AutoScaleRun)
	}
	p = e.settle("auto")
	if p.CurrentDedicatedNodes != 2 {
		t.Fatalf("current = %d", p.CurrentDedicatedNodes)
	}
	if !p.EnableAutoScale || p.AutoScaleFormula != "$TargetDedicatedNodes=2" || p.AutoScaleRun == nil {
		t.Fatalf("autoscale pool: %+v", p.Pool)
	}
	// A new formula through enableautoscale; a bad one shows its error.
	if p, err := e.svc.PoolEnableAutoScale(context.Background(), e.acct.Key(), "auto", "$TargetDedicatedNodes=$CurrentDedicatedNodes-1", "", Conditions{}); err != nil || p.TargetDedicatedNodes != 1 {
		t.Fatalf("enable: %+v %v", p, err)
	}
	e.settle("auto")
	p, err := e.svc.PoolEnableAutoScale(context.Background(), e.acct.Key(), "auto", "$TargetDedicatedNodes=nope", "PT10M", Conditions{})
	if err != nil || p.AutoScaleRun.Error == nil || p.AutoScaleRun.Error.Code != errwire.CodeAutoScalingFormulaEvaluationError || p.TargetDedicatedNodes != 1 {
		t.Fatalf("bad formula: %+v %v", p.AutoScaleRun, err)
	}
	run, err := e.svc.PoolEvaluateAutoScale(context.Background(), e.acct.Key(), "auto", "$TargetDedicatedNodes=5")
	if err != nil || run.Results == "" {
		t.Fatalf("evaluate: %+v %v", run, err)
	}
	// The formula runs again after its interval.
	if _, err := e.svc.PoolEnableAutoScale(context.Background(), e.acct.Key(), "auto", "$TargetDedicatedNodes=$CurrentDedicatedNodes+1", "", Conditions{}); err != nil {
		t.Fatal(err)
	}
	e.settle("auto")
	e.advance(11 * time.Minute)
	p = e.settle("auto")
	if p.CurrentDedicatedNodes != 3 {
		t.Fatalf("after the second evaluation: %d nodes", p.CurrentDedicatedNodes)
	}
	// Resize is refused on an autoscaled pool; disabling keeps the current size.
	if _, err := e.svc.PoolResize(context.Background(), e.acct.Key(), "auto", ResizeRequest{TargetDedicatedNodes: ptr32(1)}, Conditions{}); err == nil {
		t.Fatal("resize of an autoscaled pool succeeded")
	}
	if p, err := e.svc.PoolDisableAutoScale(context.Background(), e.acct.Key(), "auto"); err != nil || p.EnableAutoScale || p.TargetDedicatedNodes != 3 {
		t.Fatalf("disable: %+v %v", p, err)
	}
	if _, err := e.svc.PoolEvaluateAutoScale(context.Background(), e.acct.Key(), "auto", "$TargetDedicatedNodes=1"); err == nil {
		t.Fatal("evaluate on a fixed pool succeeded")
	}
}
