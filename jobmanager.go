package cobalt

// JobManagerTask is a job's job manager task: a task the service adds to
// the job when the job is created, ahead of any other. Its TaskSpec's
// DependsOn, ExitConditions and AffinityInfo are not used. A nil option
// takes Batch's default (true for KillJobOnCompletion and RunExclusive).
type JobManagerTask struct {
	TaskSpec
	// KillJobOnCompletion completes the job when the task completes.
	KillJobOnCompletion *bool
	// RunExclusive has the task use every slot of its node.
	RunExclusive         *bool
	AllowLowPriorityNode *bool
}
