package batchapi

import (
	"time"

	cobalt "github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/batchwire"
	"github.com/cobaltbatch/cobalt/internal/jobs"
)

// The data plane's JSON of job schedules: batchwire's shapes, the
// properties Cobalt refuses, and the rendering with URLs.

// jobSpecificationWire is a schedule's jobSpecification.
type jobSpecificationWire struct {
	batchwire.JobSpecification
}

// domain converts a job specification, refusing what Cobalt does not support.
func (w *jobSpecificationWire) domain() (cobalt.JobSpec, error) {
	pi, err := poolInfoFromWire(w.PoolInfo)
	if err != nil {
		return cobalt.JobSpec{}, err
	}
	s := w.JobSpecification.ToDomain()
	s.PoolInfo = pi
	return s, nil
}

// jobScheduleAddWire is the body of "add job schedule".
type jobScheduleAddWire struct {
	ID               string                              `json:"id"`
	DisplayName      string                              `json:"displayName,omitempty"`
	Schedule         *batchwire.JobScheduleConfiguration `json:"schedule,omitempty"`
	JobSpecification *jobSpecificationWire               `json:"jobSpecification,omitempty"`
	Metadata         []batchwire.NameValue               `json:"metadata,omitempty"`
}

// domain converts an added schedule: id, schedule and jobSpecification
// are required.
func (w jobScheduleAddWire) domain() (cobalt.JobScheduleSpec, error) {
	switch {
	case w.ID == "":
		return cobalt.JobScheduleSpec{}, missingProperty("id")
	case w.Schedule == nil:
		return cobalt.JobScheduleSpec{}, missingProperty("schedule")
	case w.JobSpecification == nil:
		return cobalt.JobScheduleSpec{}, missingProperty("jobSpecification")
	}
	js, err := w.JobSpecification.domain()
	if err != nil {
		return cobalt.JobScheduleSpec{}, err
	}
	return cobalt.JobScheduleSpec{ID: w.ID, DisplayName: w.DisplayName, Schedule: w.Schedule.ToDomain(), JobSpecification: js,
		Metadata: batchwire.NameValuesToDomain(w.Metadata)}, nil
}

// jobSchedulePatchWire is the body of "update job schedule" (PATCH) and,
// with jobSpecification required, of "replace job schedule" (PUT).
type jobSchedulePatchWire struct {
	Schedule         *batchwire.JobScheduleConfiguration `json:"schedule,omitempty"`
	JobSpecification *jobSpecificationWire               `json:"jobSpecification,omitempty"`
	Metadata         *[]batchwire.NameValue              `json:"metadata,omitempty"`
}

func (w jobSchedulePatchWire) domain() (jobs.JobSchedulePatch, error) {
	var p jobs.JobSchedulePatch
	if w.Schedule != nil {
		c := w.Schedule.ToDomain()
		p.Schedule = &c
	}
	if w.JobSpecification != nil {
		js, err := w.JobSpecification.domain()
		if err != nil {
			return p, err
		}
		p.JobSpecification = &js
	}
	if w.Metadata != nil {
		m := batchwire.NameValuesToDomain(*w.Metadata)
		if m == nil {
			m = []cobalt.NameValue{}
		}
		p.Metadata = &m
	}
	return p, nil
}

// decodeJobSchedulePatch decodes a PATCH or PUT body; it is the parser the
// fuzz target drives.
func decodeJobSchedulePatch(b []byte, replace bool) (jobs.JobSchedulePatch, error) {
	var w jobSchedulePatchWire
	if err := decodeBody(b, &w, false); err != nil {
		return jobs.JobSchedulePatch{}, err
	}
	if replace && w.JobSpecification == nil {
		return jobs.JobSchedulePatch{}, missingProperty("jobSpecification")
	}
	return w.domain()
}

// decodeJobScheduleAdd decodes an "add job schedule" body.
func decodeJobScheduleAdd(b []byte) (cobalt.JobScheduleSpec, error) {
	var w jobScheduleAddWire
	if err := decodeBody(b, &w, false); err != nil {
		return cobalt.JobScheduleSpec{}, err
	}
	return w.domain()
}

// jobScheduleWire is a schedule as "get job schedule" returns it.
type jobScheduleWire struct {
	ID                          string                             `json:"id"`
	DisplayName                 string                             `json:"displayName,omitempty"`
	URL                         string                             `json:"url,omitempty"`
	ETag                        string                             `json:"eTag"`
	LastModified                time.Time                          `json:"lastModified"`
	CreationTime                time.Time                          `json:"creationTime"`
	State                       string                             `json:"state"`
	StateTransitionTime         time.Time                          `json:"stateTransitionTime"`
	PreviousState               string                             `json:"previousState,omitempty"`
	PreviousStateTransitionTime *time.Time                         `json:"previousStateTransitionTime,omitempty"`
	Schedule                    batchwire.JobScheduleConfiguration `json:"schedule"`
	JobSpecification            batchwire.JobSpecification         `json:"jobSpecification"`
	ExecutionInfo               batchwire.JobScheduleExecutionInfo `json:"executionInfo"`
	Metadata                    []batchwire.NameValue              `json:"metadata,omitempty"`
}

func (rc *reqCtx) jobScheduleToWire(s cobalt.JobSchedule) jobScheduleWire {
	w := jobScheduleWire{ID: s.ID, DisplayName: s.DisplayName, URL: rc.entityURL(jobSchedulePath(s.ID)), ETag: s.ETag,
		LastModified: s.LastModified, CreationTime: s.CreationTime, State: string(s.State), StateTransitionTime: s.StateTransitionTime,
		PreviousState: string(s.PreviousState), PreviousStateTransitionTime: s.PreviousStateTransitionTime,
		Schedule:         batchwire.FromJobScheduleConfiguration(s.Schedule),
		JobSpecification: batchwire.FromJobSpecification(s.JobSpecification),
		ExecutionInfo:    batchwire.JobScheduleExecutionInfo{NextRunTime: s.ExecutionInfo.NextRunTime, EndTime: s.ExecutionInfo.EndTime},
		Metadata:         batchwire.NameValues(s.Metadata)}
	if rj := s.ExecutionInfo.RecentJob; rj != nil {
		w.ExecutionInfo.RecentJob = &batchwire.RecentJob{ID: rj.ID, URL: rc.entityURL(jobPath(rj.ID))}
	}
	return w
}

// scheduleReasons names the jobs service's job schedule conditions in Batch's codes.
var scheduleReasons = []struct {
	cond   error
	reason string
}{
	{jobs.ErrJobScheduleNotFound, "JobScheduleNotFound"},
	{jobs.ErrJobScheduleExists, "JobScheduleExists"},
	{jobs.ErrJobScheduleCompleted, "JobScheduleCompleted"},
	{jobs.ErrJobScheduleBeingDeleted, "JobScheduleBeingDeleted"},
	{jobs.ErrJobScheduleBeingTerminated, "JobScheduleBeingTerminated"},
}
