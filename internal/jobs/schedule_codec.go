package jobs

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/batchwire"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// scheduleDoc is a stored job schedule: its spec, its state, and what the
// firing loop keeps (due, jobCount, lastSlot).
type scheduleDoc struct {
	batchwire.JobScheduleSpec
	State                       string     `json:"state"`
	StateTransitionTime         time.Time  `json:"stateTransitionTime"`
	PreviousState               string     `json:"previousState,omitempty"`
	PreviousStateTransitionTime *time.Time `json:"previousStateTransitionTime,omitempty"`
	// ModifiedAt is the last change of the schedule by a client (its
	// lastModified): firing does not count, as on Batch.
	ModifiedAt time.Time  `json:"modifiedAt"`
	EndTime    *time.Time `json:"endTime,omitempty"`
	RecentJob  string     `json:"recentJob,omitempty"`
	// Due is when the next job is due (the reported nextRunTime); nil when
	// the schedule creates no more jobs.
	Due *time.Time `json:"due,omitempty"`
	// JobCount is how many jobs the schedule created: the next is
	// "{id}:job-{JobCount+1}".
	JobCount int `json:"jobCount"`
	// LastSlot is the due time the most recent job was created for.
	LastSlot *time.Time `json:"lastSlot,omitempty"`
}

func decodeSchedule(r store.ScheduleRecord) (scheduleDoc, error) {
	var d scheduleDoc
	if err := json.Unmarshal(r.Spec, &d); err != nil {
		return d, fmt.Errorf("decode job schedule %s: %w", r.ID, err)
	}
	d.ID, d.State = r.ID, r.State
	return d, nil
}

func (d scheduleDoc) encode() []byte {
	b, _ := json.Marshal(d)
	return b
}

// domain is the schedule as the service returns it.
func (d scheduleDoc) domain(r store.ScheduleRecord) cobalt.JobSchedule {
	js := cobalt.JobSchedule{JobScheduleSpec: d.JobScheduleSpec.ToDomain(), ETag: ETag(r.Version), LastModified: d.ModifiedAt,
		CreationTime: r.CreatedAt, State: cobalt.JobScheduleState(r.State), StateTransitionTime: d.StateTransitionTime,
		PreviousState: cobalt.JobScheduleState(d.PreviousState), PreviousStateTransitionTime: d.PreviousStateTransitionTime,
		ExecutionInfo: cobalt.JobScheduleExecutionInfo{EndTime: d.EndTime}}
	js.ID = r.ID
	if r.State == string(cobalt.JobScheduleActive) || r.State == string(cobalt.JobScheduleDisabled) {
		js.ExecutionInfo.NextRunTime = d.Due
	}
	if d.RecentJob != "" {
		js.ExecutionInfo.RecentJob = &cobalt.RecentJob{ID: d.RecentJob}
	}
	return js
}

// setState moves the schedule to state, keeping the previous one.
func (d *scheduleDoc) setState(state cobalt.JobScheduleState, now time.Time) {
	if d.State == string(state) {
		return
	}
	prev := d.StateTransitionTime
	d.PreviousState, d.PreviousStateTransitionTime = d.State, &prev
	d.State, d.StateTransitionTime = string(state), now
}

// wakeAt is when the firing loop must look at an active schedule next: its
// due time, or at once when it creates no more jobs (to complete it once its
// last job completes).
func (d *scheduleDoc) wakeAt(now time.Time) time.Time {
	if d.Due != nil {
		return *d.Due
	}
	return now
}
