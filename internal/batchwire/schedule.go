package batchwire

import (
	"time"

	"github.com/cobaltbatch/cobalt"
)

// The JSON of job schedules, written alike by the data plane and by
// internal/jobs (the store's spec column).

// JobSpecification is a job schedule's jobSpecification: a job's spec
// without its id.
type JobSpecification struct {
	JobSpec
	// ID shadows JobSpec.ID: a specification has no id, so none is written.
	ID string `json:"id,omitempty"`
}

// JobScheduleConfiguration is a schedule's "schedule".
type JobScheduleConfiguration struct {
	DoNotRunUntil      *time.Time `json:"doNotRunUntil,omitempty"`
	DoNotRunAfter      *time.Time `json:"doNotRunAfter,omitempty"`
	StartWindow        *Duration  `json:"startWindow,omitempty"`
	RecurrenceInterval *Duration  `json:"recurrenceInterval,omitempty"`
}

// JobScheduleSpec is the spec part of a schedule: the body of "add job
// schedule", the spec part of a returned and of a stored schedule.
type JobScheduleSpec struct {
	ID               string                    `json:"id"`
	DisplayName      string                    `json:"displayName,omitempty"`
	Schedule         *JobScheduleConfiguration `json:"schedule,omitempty"`
	JobSpecification *JobSpecification         `json:"jobSpecification,omitempty"`
	Metadata         []NameValue               `json:"metadata,omitempty"`
}

// RecentJob is a schedule's executionInfo.recentJob.
type RecentJob struct {
	ID  string `json:"id,omitempty"`
	URL string `json:"url,omitempty"`
}

// JobScheduleExecutionInfo is a schedule's executionInfo.
type JobScheduleExecutionInfo struct {
	NextRunTime *time.Time `json:"nextRunTime,omitempty"`
	RecentJob   *RecentJob `json:"recentJob,omitempty"`
	EndTime     *time.Time `json:"endTime,omitempty"`
}

// FromJobSpecification converts a schedule's job template.
func FromJobSpecification(s cobalt.JobSpec) JobSpecification {
	d := FromJobSpec(s)
	d.ID = ""
	return JobSpecification{JobSpec: d}
}

// ToDomain converts a schedule's job template back; its ID is empty.
func (d JobSpecification) ToDomain() cobalt.JobSpec {
	s := d.JobSpec.ToDomain()
	s.ID = ""
	return s
}

// FromJobScheduleConfiguration converts a schedule's configuration.
func FromJobScheduleConfiguration(c cobalt.JobScheduleConfiguration) JobScheduleConfiguration {
	return JobScheduleConfiguration{DoNotRunUntil: c.DoNotRunUntil, DoNotRunAfter: c.DoNotRunAfter,
		StartWindow: durationPtr(c.StartWindow), RecurrenceInterval: durationPtr(c.RecurrenceInterval)}
}

// ToDomain converts a schedule's configuration back.
func (c JobScheduleConfiguration) ToDomain() cobalt.JobScheduleConfiguration {
	return cobalt.JobScheduleConfiguration{DoNotRunUntil: c.DoNotRunUntil, DoNotRunAfter: c.DoNotRunAfter,
		StartWindow: domainDuration(c.StartWindow), RecurrenceInterval: domainDuration(c.RecurrenceInterval)}
}

// FromJobScheduleSpec converts a schedule's spec.
func FromJobScheduleSpec(s cobalt.JobScheduleSpec) JobScheduleSpec {
	c := FromJobScheduleConfiguration(s.Schedule)
	js := FromJobSpecification(s.JobSpecification)
	return JobScheduleSpec{ID: s.ID, DisplayName: s.DisplayName, Schedule: &c, JobSpecification: &js, Metadata: NameValues(s.Metadata)}
}

// ToDomain converts a schedule's spec back; an absent schedule or job
// specification is the zero value.
func (d JobScheduleSpec) ToDomain() cobalt.JobScheduleSpec {
	s := cobalt.JobScheduleSpec{ID: d.ID, DisplayName: d.DisplayName, Metadata: NameValuesToDomain(d.Metadata)}
	if d.Schedule != nil {
		s.Schedule = d.Schedule.ToDomain()
	}
	if d.JobSpecification != nil {
		s.JobSpecification = d.JobSpecification.ToDomain()
	}
	return s
}
