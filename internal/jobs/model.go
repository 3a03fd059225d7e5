package jobs

import (
	"encoding/json"
	"time"

	"github.com/cobaltbatch/cobalt/internal/odata"
)

// Batch job states.
const (
	JobActive      = "active"
	JobDisabling   = "disabling"
	JobDisabled    = "disabled"
	JobEnabling    = "enabling"
	JobTerminating = "terminating"
	JobCompleted   = "completed"
	JobDeleting    = "deleting"
)

// Batch task states and results.
const (
	TaskActive    = "active"
	TaskPreparing = "preparing"
	TaskRunning   = "running"
	TaskCompleted = "completed"

	ResultSuccess = "success"
	ResultFailure = "failure"
)

// Job option values.
const (
	OnAllTasksCompleteNoAction     = "noaction"
	OnAllTasksCompleteTerminateJob = "terminatejob"
	OnTaskFailureNoAction          = "noaction"
	OnTaskFailurePerformExitOption = "performexitoptionsjobaction"

	DisableRequeue   = "requeue"
	DisableTerminate = "terminate"
	DisableWait      = "wait"
)

// Task add statuses of an add-collection result.
const (
	AddSuccess     = "success"
	AddClientError = "clienterror"
	AddServerError = "servererror"
)

// NameValue is an environment setting ({name, value}).
type NameValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// MetadataItem is a job's metadata pair.
type MetadataItem struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// PoolInfo names the pool a job runs on. Auto pools are not supported.
type PoolInfo struct {
	PoolID                string          `json:"poolId,omitempty"`
	AutoPoolSpecification json.RawMessage `json:"autoPoolSpecification,omitempty"`
}

// JobConstraints limit a job.
type JobConstraints struct {
	MaxWallClockTime  *Duration `json:"maxWallClockTime,omitempty"`
	MaxTaskRetryCount *int      `json:"maxTaskRetryCount,omitempty"`
}

// JobSpec is the body of "add job" (CreateJobContent).
type JobSpec struct {
	ID                        string          `json:"id"`
	DisplayName               string          `json:"displayName,omitempty"`
	UsesTaskDependencies      *bool           `json:"usesTaskDependencies,omitempty"`
	Priority                  *int            `json:"priority,omitempty"`
	AllowTaskPreemption       *bool           `json:"allowTaskPreemption,omitempty"`
	MaxParallelTasks          *int            `json:"maxParallelTasks,omitempty"`
	Constraints               *JobConstraints `json:"constraints,omitempty"`
	JobManagerTask            json.RawMessage `json:"jobManagerTask,omitempty"`
	JobPreparationTask        json.RawMessage `json:"jobPreparationTask,omitempty"`
	JobReleaseTask            json.RawMessage `json:"jobReleaseTask,omitempty"`
	CommonEnvironmentSettings []NameValue     `json:"commonEnvironmentSettings,omitempty"`
	PoolInfo                  *PoolInfo       `json:"poolInfo,omitempty"`
	OnAllTasksComplete        string          `json:"onAllTasksComplete,omitempty"`
	OnTaskFailure             string          `json:"onTaskFailure,omitempty"`
	NetworkConfiguration      json.RawMessage `json:"networkConfiguration,omitempty"`
	Metadata                  []MetadataItem  `json:"metadata,omitempty"`
}

// JobPatch is the body of "update job" (PATCH, UpdateJobContent): only the
// properties present change.
type JobPatch struct {
	Priority             *int            `json:"priority,omitempty"`
	AllowTaskPreemption  *bool           `json:"allowTaskPreemption,omitempty"`
	MaxParallelTasks     *int            `json:"maxParallelTasks,omitempty"`
	Constraints          *JobConstraints `json:"constraints,omitempty"`
	PoolInfo             *PoolInfo       `json:"poolInfo,omitempty"`
	OnAllTasksComplete   string          `json:"onAllTasksComplete,omitempty"`
	Metadata             *[]MetadataItem `json:"metadata,omitempty"`
	NetworkConfiguration json.RawMessage `json:"networkConfiguration,omitempty"`
}

// JobReplace is the body of "replace job" (PUT): everything is replaced,
// absent properties take their defaults; PoolInfo is required.
type JobReplace struct {
	Priority            *int            `json:"priority,omitempty"`
	AllowTaskPreemption *bool           `json:"allowTaskPreemption,omitempty"`
	MaxParallelTasks    *int            `json:"maxParallelTasks,omitempty"`
	Constraints         *JobConstraints `json:"constraints,omitempty"`
	PoolInfo            *PoolInfo       `json:"poolInfo,omitempty"`
	OnAllTasksComplete  string          `json:"onAllTasksComplete,omitempty"`
	Metadata            []MetadataItem  `json:"metadata,omitempty"`
}

// JobExecutionInfo is a job's executionInfo.
type JobExecutionInfo struct {
	StartTime       time.Time       `json:"startTime"`
	EndTime         *time.Time      `json:"endTime,omitempty"`
	PoolID          string          `json:"poolId,omitempty"`
	SchedulingError json.RawMessage `json:"schedulingError,omitempty"`
	TerminateReason string          `json:"terminateReason,omitempty"`
}

// Job is a job as "get job" returns it. URL is left empty for the HTTP layer.
type Job struct {
	JobSpec
	URL                         string           `json:"url,omitempty"`
	ETag                        string           `json:"eTag"`
	LastModified                time.Time        `json:"lastModified"`
	CreationTime                time.Time        `json:"creationTime"`
	State                       string           `json:"state"`
	StateTransitionTime         time.Time        `json:"stateTransitionTime"`
	PreviousState               string           `json:"previousState,omitempty"`
	PreviousStateTransitionTime *time.Time       `json:"previousStateTransitionTime,omitempty"`
	ExecutionInfo               JobExecutionInfo `json:"executionInfo"`
}

// TaskConstraints limit a task.
type TaskConstraints struct {
	MaxWallClockTime  *Duration `json:"maxWallClockTime,omitempty"`
	RetentionTime     *Duration `json:"retentionTime,omitempty"`
	MaxTaskRetryCount *int      `json:"maxTaskRetryCount,omitempty"`
}

// IdentityReference names a user-assigned identity of the pool.
type IdentityReference struct {
	ResourceID string `json:"resourceId,omitempty"`
}

// ResourceFile is a file downloaded onto the node before a task runs.
type ResourceFile struct {
	AutoStorageContainerName string             `json:"autoStorageContainerName,omitempty"`
	StorageContainerURL      string             `json:"storageContainerUrl,omitempty"`
	HTTPURL                  string             `json:"httpUrl,omitempty"`
	BlobPrefix               string             `json:"blobPrefix,omitempty"`
	FilePath                 string             `json:"filePath,omitempty"`
	FileMode                 string             `json:"fileMode,omitempty"`
	IdentityReference        *IdentityReference `json:"identityReference,omitempty"`
}

// AutoUser is an auto-user specification.
type AutoUser struct {
	Scope          string `json:"scope,omitempty"`
	ElevationLevel string `json:"elevationLevel,omitempty"`
}

// UserIdentity says which user runs a task.
type UserIdentity struct {
	Username string    `json:"username,omitempty"`
	AutoUser *AutoUser `json:"autoUser,omitempty"`
}

// TaskSpec is the body of "add task" (CreateTaskContent), one element of an
// add collection.
type TaskSpec struct {
	ID                           string           `json:"id"`
	DisplayName                  string           `json:"displayName,omitempty"`
	CommandLine                  string           `json:"commandLine"`
	ExitConditions               json.RawMessage  `json:"exitConditions,omitempty"`
	ResourceFiles                []ResourceFile   `json:"resourceFiles,omitempty"`
	OutputFiles                  json.RawMessage  `json:"outputFiles,omitempty"`
	EnvironmentSettings          []NameValue      `json:"environmentSettings,omitempty"`
	AffinityInfo                 json.RawMessage  `json:"affinityInfo,omitempty"`
	Constraints                  *TaskConstraints `json:"constraints,omitempty"`
	RequiredSlots                *int             `json:"requiredSlots,omitempty"`
	UserIdentity                 *UserIdentity    `json:"userIdentity,omitempty"`
	MultiInstanceSettings        json.RawMessage  `json:"multiInstanceSettings,omitempty"`
	DependsOn                    json.RawMessage  `json:"dependsOn,omitempty"`
	ApplicationPackageReferences json.RawMessage  `json:"applicationPackageReferences,omitempty"`
	AuthenticationTokenSettings  json.RawMessage  `json:"authenticationTokenSettings,omitempty"`
	ContainerSettings            json.RawMessage  `json:"containerSettings,omitempty"`
}

// FailureInfo is Batch's failure information.
type FailureInfo struct {
	Category string      `json:"category"`
	Code     string      `json:"code,omitempty"`
	Message  string      `json:"message,omitempty"`
	Details  []NameValue `json:"details,omitempty"`
}

// TaskExecutionInfo is a task's executionInfo.
type TaskExecutionInfo struct {
	StartTime       *time.Time   `json:"startTime,omitempty"`
	EndTime         *time.Time   `json:"endTime,omitempty"`
	ExitCode        *int         `json:"exitCode,omitempty"`
	FailureInfo     *FailureInfo `json:"failureInfo,omitempty"`
	RetryCount      int          `json:"retryCount"`
	LastRetryTime   *time.Time   `json:"lastRetryTime,omitempty"`
	RequeueCount    int          `json:"requeueCount"`
	LastRequeueTime *time.Time   `json:"lastRequeueTime,omitempty"`
	Result          string       `json:"result,omitempty"`
}

// NodeInfo says where a task ran. NodeURL and TaskRootDirectoryURL are left
// for the HTTP layer.
type NodeInfo struct {
	AffinityID           string `json:"affinityId,omitempty"`
	NodeURL              string `json:"nodeUrl,omitempty"`
	PoolID               string `json:"poolId,omitempty"`
	NodeID               string `json:"nodeId,omitempty"`
	TaskRootDirectory    string `json:"taskRootDirectory,omitempty"`
	TaskRootDirectoryURL string `json:"taskRootDirectoryUrl,omitempty"`
}

// Task is a task as "get task" returns it. URL is left for the HTTP layer.
type Task struct {
	TaskSpec
	URL                         string            `json:"url,omitempty"`
	ETag                        string            `json:"eTag"`
	LastModified                time.Time         `json:"lastModified"`
	CreationTime                time.Time         `json:"creationTime"`
	State                       string            `json:"state"`
	StateTransitionTime         time.Time         `json:"stateTransitionTime"`
	PreviousState               string            `json:"previousState,omitempty"`
	PreviousStateTransitionTime *time.Time        `json:"previousStateTransitionTime,omitempty"`
	ExecutionInfo               TaskExecutionInfo `json:"executionInfo"`
	NodeInfo                    *NodeInfo         `json:"nodeInfo,omitempty"`
}

// TaskAddResult is one task's outcome in an add collection. Err is the
// *cobalt.Error of a failed add (its Reason is the Batch code, for example
// "TaskExists"), for the HTTP layer to render as the result's error.
type TaskAddResult struct {
	Status       string    `json:"status"`
	TaskID       string    `json:"taskId"`
	ETag         string    `json:"eTag,omitempty"`
	LastModified time.Time `json:"lastModified,omitzero"`
	Location     string    `json:"location,omitempty"`
	Err          error     `json:"-"`
}

// TaskCounts are a job's task counts by state ("get task counts").
type TaskCounts struct {
	Active    int `json:"active"`
	Running   int `json:"running"`
	Completed int `json:"completed"`
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`
}

// TaskCountsResult is the body of "get task counts".
type TaskCountsResult struct {
	TaskCounts     TaskCounts `json:"taskCounts"`
	TaskSlotCounts TaskCounts `json:"taskSlotCounts"`
}

// ListOptions select one page of a list. Filter is the parsed OData
// $filter: the service narrows the list with its comparisons of state and id
// (and, for tasks, executionInfo/result) and keeps every item the rest of
// the filter might match, for the caller to filter exactly.
type ListOptions struct {
	Filter     *odata.Filter
	MaxResults int
	PageToken  string
}

// Conditions are the HTTP conditional headers of a write. The zero value
// always holds.
type Conditions struct {
	IfMatch           string
	IfNoneMatch       string
	IfModifiedSince   *time.Time
	IfUnmodifiedSince *time.Time
}
