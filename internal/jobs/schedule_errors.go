package jobs

import (
	"errors"

	"github.com/cobaltbatch/cobalt"
)

// The job schedule conditions (see errors.go).
var (
	ErrJobScheduleNotFound         = errors.New("job schedule not found")
	ErrJobScheduleExists           = errors.New("job schedule exists")
	ErrJobScheduleCompleted        = errors.New("job schedule completed")
	ErrJobScheduleBeingDeleted     = errors.New("job schedule being deleted")
	ErrJobScheduleBeingTerminated  = errors.New("job schedule being terminated")
	errScheduleChangedWhileFiring  = errors.New("job schedule changed while firing")
	errScheduleStoreNotImplemented = cobalt.Errorf(cobalt.EInternal, "the store does not keep job schedules")
)

func errScheduleNotFound(err error) error {
	return notFoundAs(err, ErrJobScheduleNotFound, "The specified job schedule does not exist.")
}

// scheduleWritable refuses a change of a schedule that is completed, being
// terminated or being deleted.
func scheduleWritable(state cobalt.JobScheduleState) error {
	switch state {
	case cobalt.JobScheduleCompleted:
		return fail(ErrJobScheduleCompleted, cobalt.EConflict, "The specified job schedule is already in completed state.")
	case cobalt.JobScheduleTerminating:
		return fail(ErrJobScheduleBeingTerminated, cobalt.EConflict, "The specified job schedule is being terminated.")
	case cobalt.JobScheduleDeleting:
		return fail(ErrJobScheduleBeingDeleted, cobalt.EConflict, "The specified job schedule has been marked for deletion and is being reclaimed.")
	}
	return nil
}
