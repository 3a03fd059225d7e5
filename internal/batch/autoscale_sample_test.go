package batch

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/errwire"
	"pgregory.net/rapid"
)

var sampleNow = time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)

// history returns n samples, one every 30 s up to sampleNow, the i-th
// (oldest first) with i active and 1 running task.
func history(n int) []PoolSample {
	out := make([]PoolSample, n)
	for i := range out {
		out[i] = PoolSample{At: sampleNow.Add(-time.Duration(n-1-i) * DefaultSamplePeriod), ActiveTasks: i, RunningTasks: 1,
			SucceededTasks: 2, CurrentDedicatedNodes: 3}
	}
	return out
}

func TestEvaluateFormulaSamples(t *testing.T) {
	t.Parallel()
	in := FormulaInputs{Now: sampleNow, History: history(20), TasksMeasured: true, CurrentDedicatedNodes: 3, TargetDedicatedNodes: 3}
	for _, c := range []struct {
		formula string
		ded     int
		results string // a part of autoScaleRun.results
	}{
		// The last sample: 19 active + 1 running.
		{"$TargetDedicatedNodes = max($PendingTasks.GetSample(1))", 20, ""},
		{"$TargetDedicatedNodes = $PendingTasks.GetSample(1)", 20, ""},
		// The last 5 minutes (10 samples after now-5m): active 10..19, average 14.5, +1 running.
		{"$TargetDedicatedNodes = avg($PendingTasks.GetSample(TimeInterval_Minute * 5))", 15, ""},
		{"n = len($ActiveTasks.GetSample(TimeInterval_Minute * 5, 100)); $TargetDedicatedNodes = n", 10, "n=10"},
		// Between 6 and 1 minutes ago: active 8..17 (the sample at -6m is excluded, at -1m included).
		{"v = $ActiveTasks.GetSample(TimeInterval_Minute * 1, TimeInterval_Minute * 6); $TargetDedicatedNodes = min(v)", 8, ""},
		{"$TargetDedicatedNodes = max($ActiveTasks.GetSample(TimeInterval_Minute * 6, TimeInterval_Minute * 1, 90))", 17, ""},
		// 20 samples of the 40 promised in 20 minutes.
		{"p = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 20); $TargetDedicatedNodes = p", 50, "p=50"},
		{"$TargetDedicatedNodes = $ActiveTasks.Count()", 20, ""},
		{"$TargetDedicatedNodes = $ActiveTasks.GetSamplePeriod() == TimeInterval_Second * 30 ? 30 : 0", 30, ""},
		{"age = time() - $ActiveTasks.HistoryBeginTime(); $TargetDedicatedNodes = age == 9.5 * TimeInterval_Minute ? 9 : 0", 9, "age=PT9M30S"},
		{"$TargetDedicatedNodes = sum($SucceededTasks.GetSample(3)) + $CurrentDedicatedNodes", 9, ""},
		{"$TargetDedicatedNodes = percentile($ActiveTasks.GetSample(10), 50)", 14, ""},
		{"$TargetDedicatedNodes = val($ActiveTasks.GetSample(3), 0)", 17, ""},
		{"$TargetDedicatedNodes = max($CurrentDedicatedNodes.GetSample(TimeInterval_Minute)) + $PreemptedNodeCount.GetSample(1)", 3, ""},
		// Only the branch taken is evaluated: the other would fail.
		{"$TargetDedicatedNodes = $ActiveTasks.GetSamplePercent(TimeInterval_Hour) < 70 ? 1 : avg($ActiveTasks.GetSample(TimeInterval_Hour, 70))", 1, ""},
		{"$TargetDedicatedNodes = 0 && $ActiveTasks.GetSample(TimeInterval_Hour, 70) || 4", 1, ""},
		{"$curTime = time(); $TargetDedicatedNodes = $curTime.hour == 10 && $curTime.weekday == 6 ? 2 : 0", 2, "$curTime=2026-12-05T10:00:00.000Z"},
		{"lifespan = time() - time(\"2026-12-05T09:00:00Z\"); $TargetDedicatedNodes = lifespan > TimeInterval_Minute * 30 ? 7 : 0", 7, "lifespan=PT1H"},
		{"$TargetDedicatedNodes = 4; x = $TargetDedicatedNodes > 3 ? stop() : 0; $TargetDedicatedNodes = 9", 4, ""},
		{"// grow on pending tasks\n$samples = $PendingTasks.GetSamplePercent(TimeInterval_Minute * 15);\n$tasks = $samples < 70 ? max(0,$PendingTasks.GetSample(1)) :\n    max( $PendingTasks.GetSample(1), avg($PendingTasks.GetSample(TimeInterval_Minute * 15)));\n$TargetDedicatedNodes = max(0, min($tasks, 25))\n$NodeDeallocationOption = taskcompletion", 20, "$NodeDeallocationOption=taskcompletion;$samples=66.66666666666667;$tasks=20"},
	} {
		r, err := EvaluateFormula(c.formula, in)
		if err != nil || r.TargetDedicatedNodes != c.ded || !strings.Contains(r.Results(), c.results) {
			t.Errorf("%q: %d %q %v, want %d %q", c.formula, r.TargetDedicatedNodes, r.Results(), err, c.ded, c.results)
		}
	}
}

func TestEvaluateFormulaInsufficientSamples(t *testing.T) {
	t.Parallel()
	in := FormulaInputs{Now: sampleNow, History: history(20), TasksMeasured: true}
	f := "$TargetDedicatedNodes = 1;\n  $TargetDedicatedNodes = avg($RunningTasks.GetSample(TimeInterval_Minute * 20, 70))"
	_, err := EvaluateFormula(f, in)
	fe, ok := err.(*formulaError)
	if !ok || fe.Code != CodeInsufficientSampleData || fe.Message != "Autoscale evaluation failed due to insufficient sample data" ||
		len(fe.Values) != 1 || fe.Values[0].Name != "Message" ||
		fe.Values[0].Value != "Line 2, Col 45: Insufficient data from data set: $RunningTasks wanted 70%, received 50%" {
		t.Fatalf("error %#v", err)
	}
	// No sample at all: GetSample(1) has nothing to return.
	if _, err := EvaluateFormula("$TargetDedicatedNodes = $PendingTasks.GetSample(1)", FormulaInputs{Now: sampleNow, TasksMeasured: true}); err == nil ||
		err.(*formulaError).Code != CodeInsufficientSampleData {
		t.Fatalf("empty history: %v", err)
	}
	for _, bad := range []string{"$TargetDedicatedNodes = $PendingTasks + 1", "$TargetDedicatedNodes = $PendingTasks.Nope()",
		"$PendingTasks = 3", "$TargetDedicatedNodes = avg($PendingTasks.GetSample(TimeInterval_Minute, 5, 6))", "$TargetDedicatedNodes = time()"} {
		if _, err := EvaluateFormula(bad, in); err == nil || err.(*formulaError).Code != errwire.CodeAutoScalingFormulaEvaluationError {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// TestFormulaSampleProperties checks, over random histories, that
// GetSample(interval) returns exactly the samples inside the interval, that
// GetSamplePercent agrees with GetSample's failure, and that evaluation is
// a pure function of its inputs.
func TestFormulaSampleProperties(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 60).Draw(t, "n")
		var hist []PoolSample
		at := sampleNow
		for range n {
			hist = append([]PoolSample{{At: at, ActiveTasks: rapid.IntRange(0, 50).Draw(t, "active")}}, hist...)
			at = at.Add(-time.Duration(rapid.IntRange(1, 90).Draw(t, "gap")) * time.Second)
		}
		minutes := rapid.IntRange(1, 30).Draw(t, "minutes")
		pct := rapid.IntRange(0, 100).Draw(t, "pct")
		in := FormulaInputs{Now: sampleNow, History: hist, TasksMeasured: true}
		want, sum := 0, 0
		for _, s := range hist {
			if s.At.After(sampleNow.Add(-time.Duration(minutes) * time.Minute)) {
				want++
				sum += s.ActiveTasks
			}
		}
		f := "l = len($ActiveTasks.GetSample(TimeInterval_Minute * " + itoa(minutes) + ", " + itoa(pct) + ")); s = sum($ActiveTasks.GetSample(TimeInterval_Minute * " + itoa(minutes) + ")); " +
			"p = $ActiveTasks.GetSamplePercent(TimeInterval_Minute * " + itoa(minutes) + "); $TargetDedicatedNodes = l"
		r, err := EvaluateFormula(f, in)
		r2, err2 := EvaluateFormula(f, in)
		if r.Results() != r2.Results() || (err == nil) != (err2 == nil) {
			t.Fatalf("not deterministic: %q %v / %q %v", r.Results(), err, r2.Results(), err2)
		}
		got := math.Min(100, 100*float64(want)/float64(2*minutes))
		if got < float64(pct) {
			if fe, ok := err.(*formulaError); !ok || fe.Code != CodeInsufficientSampleData {
				t.Fatalf("%d of %d samples, %d%% wanted: %v", want, 2*minutes, pct, err)
			}
			return
		}
		if err != nil || r.TargetDedicatedNodes != want || !strings.Contains(r.Results(), "s="+itoa(sum)) {
			t.Fatalf("%q: %q %v, want %d samples summing to %d", f, r.Results(), err, want, sum)
		}
	})
}

func itoa(i int) string { return strings.TrimSpace(fmtNum(float64(i))) }
