package batch

import (
	"fmt"
	"math"
	"time"
)

// PoolSample is one sample of a pool's metrics, taken every SamplePeriod
// by the pool service (see AutoScaleOptions). Task counts cover the pool's
// jobs; SucceededTasks and FailedTasks count the tasks that completed since
// the previous sample.
type PoolSample struct {
	At                                             time.Time
	ActiveTasks, RunningTasks                      int
	SucceededTasks, FailedTasks                    int
	CurrentDedicatedNodes, CurrentLowPriorityNodes int
}

// DefaultSamplePeriod is Batch's sampling period.
const DefaultSamplePeriod = 30 * time.Second

// CodeInsufficientSampleData is the autoScaleRun error code of a GetSample
// that found fewer samples than it required.
const CodeInsufficientSampleData = "InsufficientSampleData"

// sampledVars reads each sampled service variable from a sample. The
// variables Cobalt does not measure are in unmeasuredVars.
var sampledVars = map[string]func(PoolSample) float64{
	"$activetasks":             func(s PoolSample) float64 { return float64(s.ActiveTasks) },
	"$runningtasks":            func(s PoolSample) float64 { return float64(s.RunningTasks) },
	"$pendingtasks":            func(s PoolSample) float64 { return float64(s.ActiveTasks + s.RunningTasks) },
	"$succeededtasks":          func(s PoolSample) float64 { return float64(s.SucceededTasks) },
	"$failedtasks":             func(s PoolSample) float64 { return float64(s.FailedTasks) },
	"$currentdedicatednodes":   func(s PoolSample) float64 { return float64(s.CurrentDedicatedNodes) },
	"$currentlowprioritynodes": func(s PoolSample) float64 { return float64(s.CurrentLowPriorityNodes) },
	"$samplenodecount":         func(s PoolSample) float64 { return float64(s.CurrentDedicatedNodes + s.CurrentLowPriorityNodes) },
	// Cobalt never preempts a node: the count is truly zero.
	"$preemptednodecount": func(PoolSample) float64 { return 0 },
}

var taskVars = map[string]bool{"$activetasks": true, "$runningtasks": true, "$pendingtasks": true, "$succeededtasks": true, "$failedtasks": true}

// unmeasuredVars are Batch's resource metrics: Cobalt's nodes report no
// CPU, memory, disk or network usage, so a formula that reads them fails
// with an evaluation error rather than reading an invented figure.
var unmeasuredVars = map[string]bool{
	"$cpupercent": true, "$wallclockseconds": true, "$memorybytes": true, "$diskbytes": true,
	"$diskreadbytes": true, "$diskwritebytes": true, "$diskreadops": true, "$diskwriteops": true,
	"$networkinbytes": true, "$networkoutbytes": true,
}

var intervalConsts = map[string]float64{
	"timeinterval_zero": 0, "timeinterval_100ns": 1e-7, "timeinterval_microsecond": 1e-6,
	"timeinterval_millisecond": 1e-3, "timeinterval_second": 1, "timeinterval_minute": 60,
	"timeinterval_hour": 3600, "timeinterval_day": 86400, "timeinterval_week": 7 * 86400,
	"timeinterval_year": 365 * 86400,
}

// series is a sampled variable's history, oldest first.
type series struct {
	name   string // as the formula spelled it
	at     []time.Time
	vals   []float64
	now    time.Time
	period time.Duration
}

func (e *evaluator) series(name string) (*series, error) {
	key := lowerASCII(name)
	if unmeasuredVars[key] {
		return nil, evalErr("Cobalt does not measure '%s': its nodes report no resource usage.", name)
	}
	get, ok := sampledVars[key]
	if !ok {
		return nil, evalErr("The variable '%s' has no samples.", trunc(name))
	}
	if taskVars[key] && !e.in.TasksMeasured {
		return nil, evalErr("The variable '%s' is not measured: the pool service has no task counts.", name)
	}
	s := &series{name: name, now: e.in.Now, period: e.period()}
	for _, p := range e.in.History {
		if p.At.After(e.in.Now) {
			continue
		}
		s.at = append(s.at, p.At)
		s.vals = append(s.vals, get(p))
	}
	return s, nil
}

// window returns the bounds (from, to] of a time frame given as look-back
// intervals or timestamps.
func (s *series) window(a, b value) (time.Time, time.Time, error) {
	at := func(v value) (time.Time, error) {
		switch v.k {
		case kInterval:
			return s.now.Add(-time.Duration(v.f * 1e9)), nil
		case kTime:
			return timeOf(v.f), nil
		}
		return time.Time{}, evalErr("A sample time frame is a timeinterval or a timestamp, not a %s.", v.k)
	}
	from, err := at(a)
	if err != nil {
		return from, from, err
	}
	to := s.now
	if b.k != kDouble || b.f != 0 || b.s != "" {
		if to, err = at(b); err != nil {
			return from, to, err
		}
	}
	if to.Before(from) {
		from, to = to, from
	}
	return from, to, nil
}

// in returns the samples in (from, to] and the percentage of the samples
// that the period promises for that frame.
func (s *series) in(from, to time.Time) ([]float64, float64) {
	var out []float64
	for i, t := range s.at {
		if t.After(from) && !t.After(to) {
			out = append(out, s.vals[i])
		}
	}
	want := math.Floor(float64(to.Sub(from)) / float64(s.period))
	if want < 1 {
		want = 1
	}
	pct := math.Min(100, 100*float64(len(out))/want)
	return out, pct
}

// method calls one of a sample set's methods.
func (e *evaluator) method(s *series, name string, args []value, pos int) (value, error) {
	switch lowerASCII(name) {
	case "getsample":
		return e.getSample(s, args, pos)
	case "getsamplepercent":
		if len(args) < 1 || len(args) > 2 {
			return value{}, evalErr("GetSamplePercent() takes a start and an optional end.")
		}
		end := dbl(0)
		if len(args) == 2 {
			end = args[1]
		}
		from, to, err := s.window(args[0], end)
		if err != nil {
			return value{}, err
		}
		_, pct := s.in(from, to)
		return dbl(pct), nil
	case "getsampleperiod":
		return value{k: kInterval, f: s.period.Seconds()}, nil
	case "count":
		return dbl(float64(len(s.vals))), nil
	case "historybegintime":
		if len(s.at) == 0 {
			return timeValue(s.now), nil
		}
		return timeValue(s.at[0]), nil
	}
	return value{}, evalErr("A sample set has no method '%s'.", trunc(name))
}

// getSample implements GetSample(count), GetSample(start[, percent]) and
// GetSample(start, end[, percent]).
func (e *evaluator) getSample(s *series, args []value, pos int) (value, error) {
	if len(args) == 0 || len(args) > 3 {
		return value{}, evalErr("GetSample() takes a count, or a time frame and an optional sample percent.")
	}
	if args[0].k == kDouble {
		if len(args) != 1 {
			return value{}, evalErr("GetSample(count) takes one argument.")
		}
		n := int(args[0].f)
		if n < 1 {
			return value{}, evalErr("GetSample() needs a count of at least 1.")
		}
		if len(s.vals) == 0 {
			return value{}, e.insufficient(s, pos, 100, 0)
		}
		if n > len(s.vals) {
			n = len(s.vals)
		}
		return value{k: kVec, v: append([]float64(nil), s.vals[len(s.vals)-n:]...)}, nil
	}
	end, percent := dbl(0), -1.0
	rest := args[1:]
	if len(rest) > 0 && rest[0].k != kDouble {
		end, rest = rest[0], rest[1:]
	}
	if len(rest) > 1 {
		return value{}, evalErr("GetSample() takes a time frame and an optional sample percent.")
	}
	if len(rest) == 1 {
		percent = rest[0].f
	}
	from, to, err := s.window(args[0], end)
	if err != nil {
		return value{}, err
	}
	got, pct := s.in(from, to)
	if pct < percent {
		return value{}, e.insufficient(s, pos, percent, pct)
	}
	return value{k: kVec, v: got}, nil
}

// insufficient is Batch's error for too few samples.
func (e *evaluator) insufficient(s *series, pos int, want, got float64) error {
	line, col := e.lineCol(pos)
	fe := formulaErr(CodeInsufficientSampleData, "Autoscale evaluation failed due to insufficient sample data").(*formulaError)
	fe.Values = append(fe.Values, nameValue("Message", fmt.Sprintf("Line %d, Col %d: Insufficient data from data set: %s wanted %g%%, received %g%%",
		line, col, s.name, want, math.Floor(got))))
	return fe
}
