package cobalt

import "time"

// MultiInstanceSettings make a task run on several compute nodes at once
// (an MPI job): a primary on one node and NumberOfInstances-1 subtasks on
// others. Every instance downloads CommonResourceFiles into the task's
// shared directory and runs CoordinationCommandLine; once all of those have
// succeeded, the primary alone runs the task's command line. A nil
// NumberOfInstances means 1.
type MultiInstanceSettings struct {
	NumberOfInstances       *int
	CoordinationCommandLine string
	CommonResourceFiles     []ResourceFile
}

// Instances is the number of nodes the settings ask for (1 when unset).
func (m *MultiInstanceSettings) Instances() int {
	if m == nil || m.NumberOfInstances == nil {
		return 1
	}
	return *m.NumberOfInstances
}

// SubtaskState is the state of one subtask of a multi-instance task.
type SubtaskState string

// Subtask states, as the Batch data plane spells them.
const (
	SubtaskPreparing SubtaskState = "preparing"
	SubtaskRunning   SubtaskState = "running"
	SubtaskCompleted SubtaskState = "completed"
)

// SubtaskInformation is one subtask of a multi-instance task, as "list
// subtasks" returns it. ID counts from 1 (the primary is not a subtask).
type SubtaskInformation struct {
	ID                          int
	NodeInfo                    *TaskNodeInfo
	StartTime                   *time.Time
	EndTime                     *time.Time
	ExitCode                    *int
	FailureInfo                 *TaskFailureInfo
	State                       SubtaskState
	StateTransitionTime         *time.Time
	PreviousState               SubtaskState
	PreviousStateTransitionTime *time.Time
	Result                      TaskResult
}
