package batch

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/errwire"
)

// FormulaInputs are what a formula may read: the pool's node counts and
// targets, the evaluation time, and the pool's metric samples.
type FormulaInputs struct {
	CurrentDedicatedNodes, CurrentLowPriorityNodes int
	TargetDedicatedNodes, TargetLowPriorityNodes   int
	// Now is the evaluation time: time() and the look-back of GetSample.
	Now time.Time
	// History is the pool's samples, oldest first.
	History []PoolSample
	// SamplePeriod is the period History was sampled at (default 30 s).
	SamplePeriod time.Duration
	// TasksMeasured says History's task counts are measured; without a
	// jobs service they are not, and the task variables cannot be read.
	TasksMeasured bool
}

// FormulaResult is what a formula sets.
type FormulaResult struct {
	TargetDedicatedNodes, TargetLowPriorityNodes int
	NodeDeallocationOption                       string
	// vars are the formula's own variables as "name=value", sorted.
	vars []string
}

// Results formats a result as Batch's autoScaleRun.results: the service
// variables the formula sets, then its own variables by name.
func (r FormulaResult) Results() string {
	s := fmt.Sprintf("$TargetDedicatedNodes=%d;$TargetLowPriorityNodes=%d;$NodeDeallocationOption=%s",
		r.TargetDedicatedNodes, r.TargetLowPriorityNodes, r.NodeDeallocationOption)
	for _, v := range r.vars {
		s += ";" + v
	}
	return s
}

// EvaluateFormula evaluates an autoscale formula; it is a pure function of
// the formula and its inputs (rand() is seeded from both).
//
// The language is Batch's: statements "name = expression" separated by ";"
// (or by a new line that starts an assignment), "//" comments, the types
// double, doubleVec, string, timestamp and timeinterval with Batch's
// operators, "c ? a : b" (only the branch taken is evaluated), the
// functions avg, len, lg, ln, log, max, min, norm, percentile, rand, range,
// std, stop, sum, time, val (and floor, ceil, round, abs), the
// TimeInterval_* constants, timestamp members (.hour, .weekday, ...), and
// the sampled service variables with GetSample, GetSamplePercent,
// GetSamplePeriod, Count and HistoryBeginTime. A GetSample that finds fewer
// samples than its sample percent fails with InsufficientSampleData, as on
// Batch. The resource metrics ($CPUPercent, $MemoryBytes, ...) are not
// measured by Cobalt: reading them is an evaluation error.
func EvaluateFormula(formula string, in FormulaInputs) (FormulaResult, error) {
	res := FormulaResult{NodeDeallocationOption: DeallocRequeue}
	if len(formula) > 8192 {
		return res, formulaErr(errwire.CodeAutoScalingFormulaSyntaxError, "The formula is longer than 8192 characters.")
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(formula))
	e := &evaluator{in: in, src: blankComments(formula), vars: map[string]value{}, spelled: map[string]string{},
		assigned: map[string]bool{}, rng: rand.New(rand.NewPCG(h.Sum64(), uint64(in.Now.UnixNano())))}
	e.vars["$targetdedicatednodes"] = dbl(float64(in.TargetDedicatedNodes))
	e.vars["$targetlowprioritynodes"] = dbl(float64(in.TargetLowPriorityNodes))
	for _, st := range splitStatements(e.src) {
		err := e.statement(st[0], st[1], &res)
		if errors.Is(err, errStop) {
			break
		}
		if err != nil {
			return res, err
		}
	}
	target := func(full, alias string) float64 {
		if !e.assigned[full] && e.assigned[alias] {
			full = alias
		}
		f, _ := e.vars[full].asDouble("")
		return f
	}
	res.TargetDedicatedNodes = clampNodes(target("$targetdedicatednodes", "$targetdedicated"))
	res.TargetLowPriorityNodes = clampNodes(target("$targetlowprioritynodes", "$targetlowpriority"))
	for k, v := range e.vars {
		if !e.assigned[k] || k == "$targetdedicatednodes" || k == "$targetlowprioritynodes" {
			continue
		}
		res.vars = append(res.vars, e.spelled[k]+"="+v.format())
	}
	sort.Strings(res.vars)
	return res, nil
}

func clampNodes(v float64) int {
	if math.IsNaN(v) || v < 0 {
		return 0
	}
	if v > 1e6 {
		return 1e6
	}
	return int(v)
}

type formulaError struct{ cobalt.ResizeError }

func (e *formulaError) Error() string { return e.Code + ": " + e.Message }

func formulaErr(code, msg string) error {
	return &formulaError{cobalt.ResizeError{Code: code, Message: msg}}
}

func nameValue(name, v string) cobalt.NameValue { return cobalt.NameValue{Name: name, Value: v} }

// errStop is stop(): evaluation ends, keeping what was set before.
var errStop = errors.New("stop")

// blankComments replaces "//" comments (outside string literals) with
// spaces, keeping every other character's offset.
func blankComments(s string) string {
	b := []byte(s)
	inStr := false
	for i := 0; i < len(b); i++ {
		switch {
		case b[i] == '"':
			inStr = !inStr
		case b[i] == '\n':
			inStr = false
		case !inStr && b[i] == '/' && i+1 < len(b) && b[i+1] == '/':
			for ; i < len(b) && b[i] != '\n'; i++ {
				b[i] = ' '
			}
		}
	}
	return string(b)
}

var assignStart = regexp.MustCompile(`^\s*\$?[A-Za-z_][A-Za-z0-9_]*\s*=($|[^=])`)

// splitStatements returns the [start, end) offsets of the statements: they
// end at ";" or at a line break followed by a new assignment.
func splitStatements(src string) [][2]int {
	var out [][2]int
	start := 0
	flush := func(end int) {
		if strings.TrimSpace(src[start:end]) != "" {
			out = append(out, [2]int{start, end})
		}
		start = end
	}
	inStr := false
	for i := 0; i < len(src); i++ {
		switch src[i] {
		case '"':
			inStr = !inStr
		case ';':
			if !inStr {
				flush(i)
				start = i + 1
			}
		case '\n':
			inStr = false
			if strings.TrimSpace(src[start:i]) != "" && assignStart.MatchString(lineAt(src, i+1)) {
				flush(i)
			}
		}
	}
	flush(len(src))
	return out
}

func lineAt(s string, i int) string {
	if j := strings.IndexByte(s[i:], '\n'); j >= 0 {
		return s[i : i+j]
	}
	return s[i:]
}

// evaluator evaluates one formula.
type evaluator struct {
	in       FormulaInputs
	src      string
	vars     map[string]value
	spelled  map[string]string
	assigned map[string]bool
	rng      *rand.Rand
}

func (e *evaluator) period() time.Duration {
	if e.in.SamplePeriod > 0 {
		return e.in.SamplePeriod
	}
	return DefaultSamplePeriod
}

// lineCol is the 1-based line and column of an offset.
func (e *evaluator) lineCol(pos int) (int, int) {
	if pos > len(e.src) {
		pos = len(e.src)
	}
	line := 1 + strings.Count(e.src[:pos], "\n")
	return line, pos - strings.LastIndexByte(e.src[:pos], '\n')
}

var readOnlyVars = map[string]bool{"$currentdedicatednodes": true, "$currentlowprioritynodes": true}

func (e *evaluator) statement(start, end int, res *FormulaResult) error {
	stmt := e.src[start:end]
	name, expr, ok := strings.Cut(stmt, "=")
	name = strings.TrimSpace(name)
	if !ok || !isIdent(name) || strings.HasPrefix(expr, "=") {
		return formulaErr(errwire.CodeAutoScalingFormulaSyntaxError, fmt.Sprintf("The statement '%s' is not an assignment.", trunc(strings.TrimSpace(stmt))))
	}
	key := lowerASCII(name)
	if strings.EqualFold(name, "$NodeDeallocationOption") {
		v := strings.TrimSpace(expr)
		if !knownEnum("nodeDeallocationOption", v) {
			return evalErr("'%s' is not a node deallocation option.", trunc(v))
		}
		res.NodeDeallocationOption = toDP("nodeDeallocationOption", v)
		return nil
	}
	if readOnlyVars[key] || sampledVars[key] != nil || unmeasuredVars[key] {
		return evalErr("The service variable '%s' is read-only.", name)
	}
	p := &parser{e: e, pos: start + strings.Index(stmt, "=") + 1, end: end}
	v, err := p.parse()
	if err != nil {
		return err
	}
	if key == "$targetdedicatednodes" || key == "$targetlowprioritynodes" || key == "$targetdedicated" || key == "$targetlowpriority" {
		f, err := v.asDouble(name)
		if err != nil {
			return err
		}
		v = dbl(f)
	}
	e.vars[key] = v
	e.assigned[key] = true
	if _, ok := e.spelled[key]; !ok {
		e.spelled[key] = name
	}
	return nil
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || unicode.IsLetter(r) || (i > 0 && unicode.IsDigit(r)) || (i == 0 && r == '$')) {
			return false
		}
	}
	return true
}

// lookup reads a variable or constant.
func (e *evaluator) lookup(name string) (value, error) {
	key := lowerASCII(name)
	if v, ok := e.vars[key]; ok {
		return v, nil
	}
	switch key {
	case "$currentdedicatednodes":
		return value{k: kDouble, f: float64(e.in.CurrentDedicatedNodes), series: name}, nil
	case "$currentlowprioritynodes":
		return value{k: kDouble, f: float64(e.in.CurrentLowPriorityNodes), series: name}, nil
	case "$targetdedicated":
		return dbl(float64(e.in.TargetDedicatedNodes)), nil
	case "$targetlowpriority":
		return dbl(float64(e.in.TargetLowPriorityNodes)), nil
	}
	if unmeasuredVars[key] {
		return value{}, evalErr("Cobalt does not measure '%s': its nodes report no resource usage.", name)
	}
	if sampledVars[key] != nil {
		return value{k: kSeries, series: name}, nil
	}
	if f, ok := intervalConsts[key]; ok {
		return value{k: kInterval, f: f}, nil
	}
	return value{}, evalErr("The variable '%s' is not defined.", trunc(name))
}

func parseTimeString(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04Z07:00", "2006-01-02", "2006-01", "2006", time.RFC1123, time.RFC1123Z} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

func parseNumber(s string) (float64, bool) {
	f, err := strconv.ParseFloat(s, 64)
	return f, err == nil
}
