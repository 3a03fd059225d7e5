package cobalt

import "time"

// JobState is the state of a Batch job.
type JobState string

// Job states, as the Batch data plane spells them.
const (
	JobActive      JobState = "active"
	JobDisabling   JobState = "disabling"
	JobDisabled    JobState = "disabled"
	JobEnabling    JobState = "enabling"
	JobTerminating JobState = "terminating"
	JobCompleted   JobState = "completed"
	JobDeleting    JobState = "deleting"
)

// OnAllTasksComplete says what happens to a job when all its tasks are
// complete.
type OnAllTasksComplete string

// Actions when all tasks are complete.
const (
	OnAllTasksCompleteNoAction     OnAllTasksComplete = "noaction"
	OnAllTasksCompleteTerminateJob OnAllTasksComplete = "terminatejob"
)

// OnTaskFailure says what happens to a job when one of its tasks fails.
type OnTaskFailure string

// Actions when a task fails.
const (
	OnTaskFailureNoAction                    OnTaskFailure = "noaction"
	OnTaskFailurePerformExitOptionsJobAction OnTaskFailure = "performexitoptionsjobaction"
)

// PoolInformation names the pool a job's tasks run on. Auto pools are not
// supported, so a pool ID is all there is.
type PoolInformation struct {
	PoolID string
}

// JobConstraints limit a job. A nil field takes Batch's default; a
// MaxWallClockTime that is unlimited or not positive sets no limit.
type JobConstraints struct {
	MaxWallClockTime  *Duration
	MaxTaskRetryCount *int
}

// JobNetworkConfiguration is a job's network configuration. Cobalt keeps it
// and reports it; it does not change where tasks run.
type JobNetworkConfiguration struct {
	SubnetID             string
	SkipWithdrawFromVNet *bool
}

// JobSpec is what a client gives for a job. A nil pointer is a property not
// given (the service fills Batch's default when the job is added).
type JobSpec struct {
	ID                        string
	DisplayName               string
	UsesTaskDependencies      *bool
	Priority                  *int
	AllowTaskPreemption       *bool
	MaxParallelTasks          *int
	Constraints               *JobConstraints
	CommonEnvironmentSettings []NameValue
	PoolInfo                  *PoolInformation
	OnAllTasksComplete        OnAllTasksComplete
	OnTaskFailure             OnTaskFailure
	NetworkConfiguration      *JobNetworkConfiguration
	Metadata                  []NameValue
	// JobManagerTask, when set, is added to the job as its first task.
	JobManagerTask *JobManagerTask
	// JobPreparationTask and JobReleaseTask run on each node of the job
	// before its first task there and when the job ends.
	JobPreparationTask *JobPreparationTask
	JobReleaseTask     *JobReleaseTask
}

// JobExecutionInfo is what happened to a job so far.
type JobExecutionInfo struct {
	StartTime time.Time
	EndTime   *time.Time
	PoolID    string
	// TerminateReason says why a completed job ended ("UserTerminate",
	// "AllTasksComplete", "TaskFailed", "MaxWallClockTimeExpiry").
	TerminateReason string
}

// Job is a Batch job: its spec, its state and its execution so far. ETag
// changes with every update of the job.
type Job struct {
	JobSpec
	ETag                        string
	LastModified                time.Time
	CreationTime                time.Time
	State                       JobState
	StateTransitionTime         time.Time
	PreviousState               JobState
	PreviousStateTransitionTime *time.Time
	ExecutionInfo               JobExecutionInfo
}
