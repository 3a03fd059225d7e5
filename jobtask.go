package cobalt

import "time"

// TaskState is the state of a Batch task.
type TaskState string

// Task states, as the Batch data plane spells them.
const (
	TaskActive    TaskState = "active"
	TaskPreparing TaskState = "preparing"
	TaskRunning   TaskState = "running"
	TaskCompleted TaskState = "completed"
)

// TaskResult is the outcome of a completed task.
type TaskResult string

// Task results.
const (
	TaskSuccess TaskResult = "success"
	TaskFailure TaskResult = "failure"
)

// ExitOptions say what Batch does when a task exits a certain way.
// JobAction is "none", "disable" or "terminate"; DependencyAction is
// "satisfy" or "block".
type ExitOptions struct {
	JobAction        string
	DependencyAction string
}

// ExitCodeMapping applies ExitOptions to one exit code.
type ExitCodeMapping struct {
	Code        int
	ExitOptions ExitOptions
}

// ExitCodeRangeMapping applies ExitOptions to the exit codes from Start to
// End inclusive.
type ExitCodeRangeMapping struct {
	Start       int
	End         int
	ExitOptions ExitOptions
}

// ExitConditions say what Batch does when a task completes, by how it
// completed. A nil option takes Batch's default.
type ExitConditions struct {
	ExitCodes          []ExitCodeMapping
	ExitCodeRanges     []ExitCodeRangeMapping
	PreProcessingError *ExitOptions
	FileUploadError    *ExitOptions
	Default            *ExitOptions
}

// TaskIDRange is a range of task IDs a task depends on: the tasks whose IDs
// are the integers Start to End inclusive ("9" to "12": "9", "10", "11",
// "12"). Leading zeros do not count: "04" is task 4.
type TaskIDRange struct {
	Start int
	End   int
}

// TaskDependencies are the tasks a task depends on: it is not scheduled
// until each of them has completed in a way that satisfies its dependents.
// A dependency may name a task not yet added; the dependent waits for it.
type TaskDependencies struct {
	TaskIDs      []string
	TaskIDRanges []TaskIDRange
}

// Dependency actions of ExitOptions: what a task's completion does to the
// tasks that depend on it.
const (
	DependencySatisfy = "satisfy"
	DependencyBlock   = "block"
)

// AffinityInformation is a locality hint: the affinity ID of a node.
type AffinityInformation struct {
	AffinityID string
}

// AuthenticationTokenSettings list the Batch operations a task's
// authentication token may perform ("job").
type AuthenticationTokenSettings struct {
	Access []string
}

// TaskConstraints limit a task. A nil field takes its default (the job's
// maxTaskRetryCount, no wall clock limit, seven days of retention).
type TaskConstraints struct {
	MaxWallClockTime  *Duration
	RetentionTime     *Duration
	MaxTaskRetryCount *int
}

// TaskSpec is what a client gives for a task.
type TaskSpec struct {
	ID                           string
	DisplayName                  string
	CommandLine                  string
	ExitConditions               *ExitConditions
	ResourceFiles                []ResourceFile
	OutputFiles                  []OutputFile
	EnvironmentSettings          []NameValue
	AffinityInfo                 *AffinityInformation
	Constraints                  *TaskConstraints
	RequiredSlots                *int
	UserIdentity                 *UserIdentity
	ApplicationPackageReferences []ApplicationPackageReference
	AuthenticationTokenSettings  *AuthenticationTokenSettings
	ContainerSettings            *ContainerSettings
	// DependsOn, when set, names the tasks this task waits for; the job must
	// set UsesTaskDependencies.
	DependsOn *TaskDependencies
	// MultiInstanceSettings, when set, run the task on several nodes at once.
	MultiInstanceSettings *MultiInstanceSettings
}

// TaskFailureInfo says why a task failed. Category is "usererror" or
// "servererror"; Code is Batch's ("FailureExitCode", "TaskEnded", ...).
type TaskFailureInfo struct {
	Category string
	Code     string
	Message  string
	Details  []NameValue
}

// TaskExecutionInfo is what happened to a task so far.
type TaskExecutionInfo struct {
	StartTime       *time.Time
	EndTime         *time.Time
	ExitCode        *int
	FailureInfo     *TaskFailureInfo
	RetryCount      int
	LastRetryTime   *time.Time
	RequeueCount    int
	LastRequeueTime *time.Time
	Result          TaskResult
}

// TaskNodeInfo says on which node a task runs or ran. TaskRootDirectory is
// relative to the node's root directory.
type TaskNodeInfo struct {
	AffinityID        string
	PoolID            string
	NodeID            string
	TaskRootDirectory string
}

// Task is a Batch task: its spec, its state and its execution so far.
type Task struct {
	TaskSpec
	ETag                        string
	LastModified                time.Time
	CreationTime                time.Time
	State                       TaskState
	StateTransitionTime         time.Time
	PreviousState               TaskState
	PreviousStateTransitionTime *time.Time
	ExecutionInfo               TaskExecutionInfo
	NodeInfo                    *TaskNodeInfo
	// FilesRemoved says the completed task's directory was deleted from
	// its node once its constraints.retentionTime passed (not on the wire:
	// the files API answers TaskFilesCleanedup).
	FilesRemoved bool
}
