package cobalt

import "time"

// JobScheduleState is the state of a Batch job schedule.
type JobScheduleState string

// Job schedule states, as the Batch data plane spells them.
const (
	JobScheduleActive      JobScheduleState = "active"
	JobScheduleCompleted   JobScheduleState = "completed"
	JobScheduleDisabled    JobScheduleState = "disabled"
	JobScheduleTerminating JobScheduleState = "terminating"
	JobScheduleDeleting    JobScheduleState = "deleting"
)

// JobScheduleConfiguration is when a schedule creates jobs. Every field is
// optional: no DoNotRunUntil means at once, no DoNotRunAfter means forever,
// no StartWindow means an unlimited window, and no RecurrenceInterval means
// one job only. Times are UTC.
type JobScheduleConfiguration struct {
	DoNotRunUntil      *time.Time
	DoNotRunAfter      *time.Time
	StartWindow        *Duration
	RecurrenceInterval *Duration
}

// JobScheduleSpec is what a client gives for a job schedule. JobSpecification
// is the template of the jobs the schedule creates; its ID is empty.
type JobScheduleSpec struct {
	ID               string
	DisplayName      string
	Schedule         JobScheduleConfiguration
	JobSpecification JobSpec
	Metadata         []NameValue
}

// RecentJob names the most recent job a schedule created.
type RecentJob struct {
	ID string
}

// JobScheduleExecutionInfo is what a schedule did so far and will do next.
type JobScheduleExecutionInfo struct {
	// NextRunTime is when the schedule creates its next job (nil: never).
	NextRunTime *time.Time
	RecentJob   *RecentJob
	// EndTime is when the schedule completed.
	EndTime *time.Time
}

// JobSchedule is a Batch job schedule: its spec, state and execution.
type JobSchedule struct {
	JobScheduleSpec
	ETag                        string
	LastModified                time.Time
	CreationTime                time.Time
	State                       JobScheduleState
	StateTransitionTime         time.Time
	PreviousState               JobScheduleState
	PreviousStateTransitionTime *time.Time
	ExecutionInfo               JobScheduleExecutionInfo
}
