package jobs

import (
	"context"
	"strings"

	"github.com/cobaltbatch/cobalt"
)

// The job manager task: a task added with its job, ahead of any other.
// With runExclusive (the default) it asks for every slot of a node, so no
// other task shares its node; with killJobOnCompletion (the default) the job
// completes, ending its running tasks, when it completes (terminateReason
// "JMComplete", as Batch).

// jobManagerDefaults fills a job manager's defaults and checks it as a task.
func jobManagerDefaults(m *cobalt.JobManagerTask) error {
	if m == nil {
		return nil
	}
	if m.KillJobOnCompletion == nil {
		m.KillJobOnCompletion = ptr(true)
	}
	if m.RunExclusive == nil {
		m.RunExclusive = ptr(true)
	}
	if m.AllowLowPriorityNode == nil {
		m.AllowLowPriorityNode = ptr(true)
	}
	t := m.TaskSpec
	t.DependsOn, t.ExitConditions, t.AffinityInfo = nil, nil, nil
	if err := validateTask(&t, cobalt.Job{}); err != nil {
		return err
	}
	m.TaskSpec = t
	return nil
}

// addJobManager adds j's job manager task. An exclusive one requires every
// slot of the pool's nodes.
func (s *Service) addJobManager(ctx context.Context, accountID string, j cobalt.Job) error {
	m := j.JobManagerTask
	if m == nil {
		return nil
	}
	t := m.TaskSpec
	if *m.RunExclusive && s.cfg.Pools != nil {
		slots := 1
		if p, err := s.cfg.Pools.Pool(ctx, accountID, j.PoolInfo.PoolID); err == nil && p.TaskSlotsPerNode > 1 {
			slots = p.TaskSlotsPerNode
		}
		t.RequiredSlots = &slots
	}
	res, err := s.addTasks(ctx, accountID, j.ID, []cobalt.TaskSpec{t})
	if err != nil {
		return err
	}
	return res[0].Err
}

// afterJobManager completes the job when its job manager task completed
// with killJobOnCompletion.
func (s *Service) afterJobManager(ctx context.Context, accountID string, j cobalt.Job, taskID string) error {
	m := j.JobManagerTask
	if m == nil || !strings.EqualFold(m.ID, taskID) || (m.KillJobOnCompletion != nil && !*m.KillJobOnCompletion) {
		return nil
	}
	err := s.terminateJob(ctx, accountID, j.ID, "JMComplete", Conditions{})
	if cobalt.IsCode(err, cobalt.EConflict) || cobalt.IsCode(err, cobalt.ENotFound) {
		return nil
	}
	return err
}
