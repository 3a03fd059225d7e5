package jobs

import (
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/odata"
)

// The persisted spellings of job and task states and results: the store's
// state and result columns hold them.
const (
	jobActive      = string(cobalt.JobActive)
	jobDisabling   = string(cobalt.JobDisabling)
	jobDisabled    = string(cobalt.JobDisabled)
	jobEnabling    = string(cobalt.JobEnabling)
	jobTerminating = string(cobalt.JobTerminating)
	jobCompleted   = string(cobalt.JobCompleted)
	jobDeleting    = string(cobalt.JobDeleting)

	taskActive    = string(cobalt.TaskActive)
	taskPreparing = string(cobalt.TaskPreparing)
	taskRunning   = string(cobalt.TaskRunning)
	taskCompleted = string(cobalt.TaskCompleted)

	resultSuccess = string(cobalt.TaskSuccess)
	resultFailure = string(cobalt.TaskFailure)
)

// DisableJob options: what happens to a disabled job's running tasks.
const (
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

// JobPatch is an update of a job (PATCH): only the properties present
// (non-nil, non-empty) change.
type JobPatch struct {
	Priority             *int
	AllowTaskPreemption  *bool
	MaxParallelTasks     *int
	Constraints          *cobalt.JobConstraints
	PoolInfo             *cobalt.PoolInformation
	OnAllTasksComplete   cobalt.OnAllTasksComplete
	Metadata             *[]cobalt.NameValue
	NetworkConfiguration *cobalt.JobNetworkConfiguration
}

// JobReplace replaces a job's updatable properties (PUT): absent ones take
// their defaults; PoolInfo is required.
type JobReplace struct {
	Priority            *int
	AllowTaskPreemption *bool
	MaxParallelTasks    *int
	Constraints         *cobalt.JobConstraints
	PoolInfo            *cobalt.PoolInformation
	OnAllTasksComplete  cobalt.OnAllTasksComplete
	Metadata            []cobalt.NameValue
}

// TaskAddResult is one task's outcome in an add collection. Err is the
// error of a failed add (a *cobalt.Error, matching ErrTaskExists for a
// duplicate), for the HTTP layer to render as the result's error.
type TaskAddResult struct {
	Status       string
	TaskID       string
	ETag         string
	LastModified time.Time
	Err          error
}

// TaskCounts are a job's task counts by state ("get task counts").
type TaskCounts struct {
	Active    int
	Running   int
	Completed int
	Succeeded int
	Failed    int
}

// TaskCountsResult is a job's task counts and task slot counts.
type TaskCountsResult struct {
	TaskCounts     TaskCounts
	TaskSlotCounts TaskCounts
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

// noLimit reports whether a constraint's duration sets no limit: absent,
// unlimited, or not positive (Batch treats those alike).
func noLimit(d *cobalt.Duration) bool { return d == nil || *d <= 0 || d.IsUnlimited() }
