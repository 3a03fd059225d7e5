package batch

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/errwire"
)

// FormulaInputs are the service-defined variables a formula may read.
type FormulaInputs struct {
	CurrentDedicatedNodes, CurrentLowPriorityNodes int
	TargetDedicatedNodes, TargetLowPriorityNodes   int
}

// FormulaResult is what a formula sets.
type FormulaResult struct {
	TargetDedicatedNodes, TargetLowPriorityNodes int
	NodeDeallocationOption                       string
}

// EvaluateFormula evaluates an autoscale formula. Cobalt supports the
// language's arithmetic core: statements "name = expression" separated by
// ";" or new lines, numbers, + - * /, comparisons, && || !, "c ? a : b",
// parentheses, min(), max(), avg(), sum(), floor(), ceil(), round(), abs(),
// the service variables $CurrentDedicatedNodes, $CurrentLowPriorityNodes,
// $TargetDedicatedNodes, $TargetLowPriorityNodes and
// $NodeDeallocationOption (assigned a word: requeue, terminate,
// taskcompletion, retaineddata), and user variables. Metric samples
// ($PendingTasks.GetSample(...)) are not supported and give an evaluation
// error naming them.
func EvaluateFormula(formula string, in FormulaInputs) (FormulaResult, error) {
	vars := map[string]float64{
		"$currentdedicatednodes":   float64(in.CurrentDedicatedNodes),
		"$currentlowprioritynodes": float64(in.CurrentLowPriorityNodes),
		"$targetdedicatednodes":    float64(in.TargetDedicatedNodes),
		"$targetlowprioritynodes":  float64(in.TargetLowPriorityNodes),
	}
	res := FormulaResult{NodeDeallocationOption: DeallocRequeue}
	if len(formula) > 8192 {
		return res, formulaErr(errwire.CodeAutoScalingFormulaSyntaxError, "The formula is longer than 8192 characters.")
	}
	for _, stmt := range strings.FieldsFunc(formula, func(r rune) bool { return r == ';' || r == '\n' }) {
		stmt = strings.TrimSpace(stmt)
		if stmt == "" || strings.HasPrefix(stmt, "//") {
			continue
		}
		name, expr, ok := strings.Cut(stmt, "=")
		name = strings.TrimSpace(name)
		if !ok || !isIdent(name) || strings.HasPrefix(expr, "=") {
			return res, formulaErr(errwire.CodeAutoScalingFormulaSyntaxError, fmt.Sprintf("The statement '%s' is not an assignment.", trunc(stmt)))
		}
		if strings.EqualFold(name, "$NodeDeallocationOption") {
			v := strings.TrimSpace(expr)
			if !knownEnum("nodeDeallocationOption", v) {
				return res, formulaErr(errwire.CodeAutoScalingFormulaEvaluationError, fmt.Sprintf("'%s' is not a node deallocation option.", trunc(v)))
			}
			res.NodeDeallocationOption = toDP("nodeDeallocationOption", v)
			continue
		}
		p := &parser{src: expr, vars: vars}
		v, err := p.parse()
		if err != nil {
			return res, err
		}
		vars[strings.ToLower(name)] = v
	}
	clamp := func(v float64) int {
		if math.IsNaN(v) || v < 0 {
			return 0
		}
		if v > 1e6 {
			return 1e6
		}
		return int(v)
	}
	res.TargetDedicatedNodes = clamp(vars["$targetdedicatednodes"])
	res.TargetLowPriorityNodes = clamp(vars["$targetlowprioritynodes"])
	return res, nil
}

// Results formats a result as Batch's autoScaleRun.results.
func (r FormulaResult) Results() string {
	return fmt.Sprintf("$TargetDedicatedNodes=%d;$TargetLowPriorityNodes=%d;$NodeDeallocationOption=%s",
		r.TargetDedicatedNodes, r.TargetLowPriorityNodes, r.NodeDeallocationOption)
}

type formulaError struct{ cobalt.ResizeError }

func (e *formulaError) Error() string { return e.Code + ": " + e.Message }

func formulaErr(code, msg string) error {
	return &formulaError{cobalt.ResizeError{Code: code, Message: msg}}
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

// parser is a recursive-descent evaluator over one expression.
type parser struct {
	src   string
	pos   int
	vars  map[string]float64
	depth int
}

func (p *parser) parse() (float64, error) {
	v, err := p.ternary()
	if err != nil {
		return 0, err
	}
	p.skip()
	if p.pos != len(p.src) {
		return 0, p.syntax()
	}
	return v, nil
}

func (p *parser) syntax() error {
	return formulaErr(errwire.CodeAutoScalingFormulaSyntaxError, fmt.Sprintf("Unexpected input at position %d of '%s'.", p.pos, trunc(strings.TrimSpace(p.src))))
}

func (p *parser) skip() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t' || p.src[p.pos] == '\r') {
		p.pos++
	}
}

func (p *parser) eat(tok string) bool {
	p.skip()
	if strings.HasPrefix(p.src[p.pos:], tok) {
		p.pos += len(tok)
		return true
	}
	return false
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (p *parser) ternary() (float64, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > 100 {
		return 0, formulaErr(errwire.CodeAutoScalingFormulaSyntaxError, "The formula nests too deeply.")
	}
	c, err := p.or()
	if err != nil {
		return 0, err
	}
	if !p.eat("?") {
		return c, nil
	}
	a, err := p.ternary()
	if err != nil {
		return 0, err
	}
	if !p.eat(":") {
		return 0, p.syntax()
	}
	b, err := p.ternary()
	if err != nil {
		return 0, err
	}
	if c != 0 {
		return a, nil
	}
	return b, nil
}

func (p *parser) or() (float64, error) {
	l, err := p.and()
	for err == nil && p.eat("||") {
		var r float64
		if r, err = p.and(); err == nil {
			l = b2f(l != 0 || r != 0)
		}
	}
	return l, err
}

func (p *parser) and() (float64, error) {
	l, err := p.cmp()
	for err == nil && p.eat("&&") {
		var r float64
		if r, err = p.cmp(); err == nil {
			l = b2f(l != 0 && r != 0)
		}
	}
	return l, err
}

func (p *parser) cmp() (float64, error) {
	l, err := p.sum()
	if err != nil {
		return 0, err
	}
	for _, op := range []string{"<=", ">=", "==", "!=", "<", ">"} {
		if p.eat(op) {
			r, err := p.sum()
			if err != nil {
				return 0, err
			}
			switch op {
			case "<=":
				return b2f(l <= r), nil
			case ">=":
				return b2f(l >= r), nil
			case "==":
				return b2f(l == r), nil
			case "!=":
				return b2f(l != r), nil
			case "<":
				return b2f(l < r), nil
			default:
				return b2f(l > r), nil
			}
		}
	}
	return l, nil
}

func (p *parser) sum() (float64, error) {
	l, err := p.product()
	for err == nil {
		var r float64
		switch {
		case p.eat("+"):
			if r, err = p.product(); err == nil {
				l += r
			}
		case p.eat("-"):
			if r, err = p.product(); err == nil {
				l -= r
			}
		default:
			return l, nil
		}
	}
	return 0, err
}

func (p *parser) product() (float64, error) {
	l, err := p.unary()
	for err == nil {
		var r float64
		switch {
		case p.eat("*"):
			if r, err = p.unary(); err == nil {
				l *= r
			}
		case p.eat("/"):
			if r, err = p.unary(); err == nil {
				if r == 0 {
					return 0, formulaErr(errwire.CodeAutoScalingFormulaEvaluationError, "Division by zero.")
				}
				l /= r
			}
		default:
			return l, nil
		}
	}
	return 0, err
}

func (p *parser) unary() (float64, error) {
	switch {
	case p.eat("-"):
		v, err := p.unary()
		return -v, err
	case p.eat("!"):
		v, err := p.unary()
		return b2f(v == 0), err
	}
	return p.primary()
}

func (p *parser) primary() (float64, error) {
	p.skip()
	if p.eat("(") {
		v, err := p.ternary()
		if err != nil {
			return 0, err
		}
		if !p.eat(")") {
			return 0, p.syntax()
		}
		return v, nil
	}
	start := p.pos
	for p.pos < len(p.src) && (p.src[p.pos] >= '0' && p.src[p.pos] <= '9' || p.src[p.pos] == '.') {
		p.pos++
	}
	if p.pos > start {
		v, err := strconv.ParseFloat(p.src[start:p.pos], 64)
		if err != nil {
			return 0, p.syntax()
		}
		return v, nil
	}
	for p.pos < len(p.src) && (p.src[p.pos] == '$' && p.pos == start || p.src[p.pos] == '_' || p.src[p.pos] == '.' ||
		unicode.IsLetter(rune(p.src[p.pos])) || unicode.IsDigit(rune(p.src[p.pos]))) {
		p.pos++
	}
	name := p.src[start:p.pos]
	if name == "" {
		return 0, p.syntax()
	}
	if p.eat("(") {
		var args []float64
		if !p.eat(")") {
			for {
				v, err := p.ternary()
				if err != nil {
					return 0, err
				}
				args = append(args, v)
				if p.eat(")") {
					break
				}
				if !p.eat(",") {
					return 0, p.syntax()
				}
			}
		}
		return call(name, args)
	}
	v, ok := p.vars[strings.ToLower(name)]
	if !ok {
		if strings.Contains(name, ".") || strings.HasPrefix(name, "$") {
			return 0, formulaErr(errwire.CodeAutoScalingFormulaEvaluationError, fmt.Sprintf("The variable '%s' is not supported by Cobalt's autoscale evaluator.", trunc(name)))
		}
		return 0, formulaErr(errwire.CodeAutoScalingFormulaEvaluationError, fmt.Sprintf("The variable '%s' is not defined.", trunc(name)))
	}
	return v, nil
}

func call(name string, args []float64) (float64, error) {
	need := func(n int) error {
		if len(args) != n {
			return formulaErr(errwire.CodeAutoScalingFormulaEvaluationError, fmt.Sprintf("%s() takes %d argument(s).", name, n))
		}
		return nil
	}
	switch strings.ToLower(name) {
	case "min", "max", "avg", "sum":
		if len(args) == 0 {
			return 0, formulaErr(errwire.CodeAutoScalingFormulaEvaluationError, name+"() needs arguments.")
		}
		out := args[0]
		total := 0.0
		for _, a := range args {
			total += a
			if strings.EqualFold(name, "min") {
				out = math.Min(out, a)
			} else {
				out = math.Max(out, a)
			}
		}
		switch strings.ToLower(name) {
		case "avg":
			return total / float64(len(args)), nil
		case "sum":
			return total, nil
		}
		return out, nil
	case "floor", "ceil", "round", "abs":
		if err := need(1); err != nil {
			return 0, err
		}
		return map[string]func(float64) float64{"floor": math.Floor, "ceil": math.Ceil, "round": math.Round, "abs": math.Abs}[strings.ToLower(name)](args[0]), nil
	}
	return 0, formulaErr(errwire.CodeAutoScalingFormulaEvaluationError, fmt.Sprintf("The function '%s' is not supported by Cobalt's autoscale evaluator.", trunc(name)))
}

// evaluateAutoScale runs the pool's formula now, records the run, and on
// success takes its targets (starting a resize when they change and the
// pool is steady).
func (s *Service) evaluateAutoScale(p *Pool, now time.Time) {
	if !p.EnableAutoScale {
		return
	}
	res, err := EvaluateFormula(p.AutoScaleFormula, FormulaInputs{CurrentDedicatedNodes: p.CurrentDedicatedNodes,
		CurrentLowPriorityNodes: p.CurrentLowPriorityNodes, TargetDedicatedNodes: p.TargetDedicatedNodes, TargetLowPriorityNodes: p.TargetLowPriorityNodes})
	run := &cobalt.AutoScaleRun{Timestamp: now}
	if fe, ok := err.(*formulaError); ok {
		e := fe.ResizeError
		run.Error = &e
		p.AutoScaleRun = run
		return
	}
	run.Results = res.Results()
	p.AutoScaleRun = run
	if res.TargetDedicatedNodes == p.TargetDedicatedNodes && res.TargetLowPriorityNodes == p.TargetLowPriorityNodes {
		return
	}
	p.TargetDedicatedNodes, p.TargetLowPriorityNodes = res.TargetDedicatedNodes, res.TargetLowPriorityNodes
	p.NodeDeallocationOption = res.NodeDeallocationOption
	if p.AllocationState == AllocSteady {
		s.startResize(p, now)
	}
}

// autoScaleDue reports whether an autoscale pool's formula should run again.
func autoScaleDue(p *Pool, now time.Time) bool {
	return p.EnableAutoScale && p.State == PoolActive &&
		(p.AutoScaleRun == nil || !now.Before(p.AutoScaleRun.Timestamp.Add(p.AutoScaleEvaluationInterval)))
}

// PoolEnableAutoScale turns autoscale on (or changes its formula or
// interval) and evaluates the formula at once. interval "" keeps the current
// one (default 15 minutes). A formula that fails to evaluate is still
// stored; the failure shows in autoScaleRun.error.
func (s *Service) PoolEnableAutoScale(ctx context.Context, accountKey, poolID, formula, interval string, c Conditions) (*Pool, error) {
	var iv time.Duration
	if interval != "" {
		d, err := ParseDuration(interval)
		if err != nil || d < MinResizeTimeout || d > 168*time.Hour {
			return nil, invalidValue("autoScaleEvaluationInterval", "The autoscale evaluation interval '%s' must be between 5 minutes and 168 hours.", trunc(interval))
		}
		iv = d
	}
	p, err := s.updatePool(ctx, accountKey, poolID, func(p *Pool, _ int64) error {
		if !matchETag(c.IfMatch, p.ETag) {
			return conditionNotMet()
		}
		if p.State == PoolDeleting {
			return poolBeingDeleted(poolID)
		}
		if formula == "" && p.AutoScaleFormula == "" {
			return missing("autoScaleFormula")
		}
		if p.AllocationState != AllocSteady && !p.EnableAutoScale {
			return cobalt.Errorf(cobalt.EConflict, "The pool is resizing; enable autoscale when it is steady.").WithReason(errwire.ReasonPoolNotSteady)
		}
		p.EnableAutoScale = true
		if formula != "" {
			p.AutoScaleFormula = formula
		}
		if iv != 0 {
			p.AutoScaleEvaluationInterval = iv
		} else if p.AutoScaleEvaluationInterval == 0 {
			p.AutoScaleEvaluationInterval = DefaultResizeTimeout
		}
		now := s.now()
		p.LastModified = now
		s.evaluateAutoScale(p, now)
		return nil
	})
	if err == nil {
		s.Wake()
	}
	return p, err
}

// PoolEvaluateAutoScale evaluates a formula against a pool without applying
// it. 409 AutoScalingNotEnabled when the pool is not autoscaled, as on Batch.
func (s *Service) PoolEvaluateAutoScale(ctx context.Context, accountKey, poolID, formula string) (*cobalt.AutoScaleRun, error) {
	if formula == "" {
		return nil, missing("autoScaleFormula")
	}
	p, err := s.PoolGet(ctx, accountKey, poolID)
	if err != nil {
		return nil, err
	}
	if !p.EnableAutoScale {
		return nil, cobalt.Errorf(cobalt.EConflict, "Autoscale is not enabled on the pool.").WithReason(errwire.ReasonAutoScalingNotEnabled)
	}
	res, err := EvaluateFormula(formula, FormulaInputs{CurrentDedicatedNodes: p.CurrentDedicatedNodes,
		CurrentLowPriorityNodes: p.CurrentLowPriorityNodes, TargetDedicatedNodes: p.TargetDedicatedNodes, TargetLowPriorityNodes: p.TargetLowPriorityNodes})
	run := &cobalt.AutoScaleRun{Timestamp: s.now()}
	if fe, ok := err.(*formulaError); ok {
		e := fe.ResizeError
		run.Error = &e
		return run, nil
	}
	run.Results = res.Results()
	return run, nil
}

// autoScaleARM renders an autoscale run for the management plane.
