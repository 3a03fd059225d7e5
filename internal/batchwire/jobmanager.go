package batchwire

import "github.com/cobaltbatch/cobalt"

// JobManagerTask is a job's jobManagerTask: a task's spec and the job
// manager's own options. The task properties a job manager does not have
// (dependsOn, exitConditions, affinityInfo) are dropped on conversion.
type JobManagerTask struct {
	TaskSpec
	KillJobOnCompletion  *bool `json:"killJobOnCompletion,omitempty"`
	RunExclusive         *bool `json:"runExclusive,omitempty"`
	AllowLowPriorityNode *bool `json:"allowLowPriorityNode,omitempty"`
}

// FromJobManagerTask converts a job manager task.
func FromJobManagerTask(m cobalt.JobManagerTask) JobManagerTask {
	t := m.TaskSpec
	t.DependsOn, t.ExitConditions, t.AffinityInfo = nil, nil, nil
	return JobManagerTask{TaskSpec: FromTaskSpec(t), KillJobOnCompletion: m.KillJobOnCompletion, RunExclusive: m.RunExclusive,
		AllowLowPriorityNode: m.AllowLowPriorityNode}
}

// ToDomain converts a job manager task back.
func (d JobManagerTask) ToDomain() cobalt.JobManagerTask {
	t := d.TaskSpec.ToDomain()
	t.DependsOn, t.ExitConditions, t.AffinityInfo = nil, nil, nil
	return cobalt.JobManagerTask{TaskSpec: t, KillJobOnCompletion: d.KillJobOnCompletion, RunExclusive: d.RunExclusive,
		AllowLowPriorityNode: d.AllowLowPriorityNode}
}
