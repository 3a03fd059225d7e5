package batch

import (
	"context"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/errwire"
)

// evaluateAutoScale runs the pool's formula now, records the run, and on
// success takes its targets (starting a resize when they change and the
// pool is steady).
func (s *Service) evaluateAutoScale(p *Pool, now time.Time) {
	if !p.EnableAutoScale {
		return
	}
	res, err := EvaluateFormula(p.AutoScaleFormula, s.formulaInputs(p, now))
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

// formulaInputs are what the pool's formula reads at now.
func (s *Service) formulaInputs(p *Pool, now time.Time) FormulaInputs {
	in := FormulaInputs{CurrentDedicatedNodes: p.CurrentDedicatedNodes, CurrentLowPriorityNodes: p.CurrentLowPriorityNodes,
		TargetDedicatedNodes: p.TargetDedicatedNodes, TargetLowPriorityNodes: p.TargetLowPriorityNodes,
		Now: now, SamplePeriod: s.samplePeriod()}
	in.History, in.TasksMeasured = s.samples.history(p.AccountKey, p.ID)
	return in
}

// autoScaleDue reports whether an autoscale pool's formula should run again:
// after its autoScaleEvaluationInterval, or the installation's override.
func (s *Service) autoScaleDue(p *Pool, now time.Time) bool {
	iv := p.AutoScaleEvaluationInterval
	if o := s.cfg.AutoScale.EvaluationInterval; o > 0 {
		iv = o
	}
	return p.EnableAutoScale && p.State == PoolActive &&
		(p.AutoScaleRun == nil || !now.Before(p.AutoScaleRun.Timestamp.Add(iv)))
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
	now := s.now()
	res, err := EvaluateFormula(formula, s.formulaInputs(p, now))
	run := &cobalt.AutoScaleRun{Timestamp: now}
	if fe, ok := err.(*formulaError); ok {
		e := fe.ResizeError
		run.Error = &e
		return run, nil
	}
	run.Results = res.Results()
	return run, nil
}

// autoScaleARM renders an autoscale run for the management plane.
