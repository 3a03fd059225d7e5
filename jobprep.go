package cobalt

import "time"

// JobPreparationTask is a job's preparation task: it runs on a node before
// the first of the job's tasks there. A nil option takes Batch's default
// (true for WaitForSuccess and RerunOnNodeRebootAfterSuccess); ID defaults
// to "jobpreparation".
type JobPreparationTask struct {
	ID                  string
	CommandLine         string
	ContainerSettings   *ContainerSettings
	ResourceFiles       []ResourceFile
	EnvironmentSettings []NameValue
	Constraints         *TaskConstraints
	// WaitForSuccess keeps the job's tasks off a node until the preparation
	// task succeeded there.
	WaitForSuccess                *bool
	UserIdentity                  *UserIdentity
	RerunOnNodeRebootAfterSuccess *bool
}

// JobReleaseTask is a job's release task: it runs, when the job ends, on
// each node that ran the job's preparation task. ID defaults to
// "jobrelease"; MaxWallClockTime to 15 minutes.
type JobReleaseTask struct {
	ID                  string
	CommandLine         string
	ContainerSettings   *ContainerSettings
	ResourceFiles       []ResourceFile
	EnvironmentSettings []NameValue
	MaxWallClockTime    *Duration
	RetentionTime       *Duration
	UserIdentity        *UserIdentity
}

// JobTaskState is the state of a preparation or release task on a node.
type JobTaskState string

// Preparation and release task states.
const (
	JobTaskRunning   JobTaskState = "running"
	JobTaskCompleted JobTaskState = "completed"
)

// JobTaskExecutionInfo is what happened to a job's preparation or release
// task on one node. RetryCount and LastRetryTime concern the preparation
// task only.
type JobTaskExecutionInfo struct {
	StartTime         time.Time
	EndTime           *time.Time
	State             JobTaskState
	TaskRootDirectory string
	ExitCode          *int
	FailureInfo       *TaskFailureInfo
	RetryCount        int
	LastRetryTime     *time.Time
	Result            TaskResult
}

// JobPrepReleaseStatus is one node's run of a job's preparation and release
// tasks; Release is nil until the release task started.
type JobPrepReleaseStatus struct {
	PoolID      string
	NodeID      string
	Preparation *JobTaskExecutionInfo
	Release     *JobTaskExecutionInfo
}
