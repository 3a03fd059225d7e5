package jobs

import (
	"context"
	"strings"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/batchwire"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// This file is the job schedules' operations; schedule_fire.go creates
// their jobs.

// minScheduleSpan is the shortest recurrenceInterval and startWindow Batch accepts.
const minScheduleSpan = time.Minute

// JobSchedulePatch is an update of a schedule (PATCH): the properties
// present (non-nil) replace the schedule's.
type JobSchedulePatch struct {
	Schedule         *cobalt.JobScheduleConfiguration
	JobSpecification *cobalt.JobSpec
	Metadata         *[]cobalt.NameValue
}

func (s *Service) schedules() (store.ScheduleStore, error) {
	ss, ok := s.st.(store.ScheduleStore)
	if !ok {
		return nil, errScheduleStoreNotImplemented
	}
	return ss, nil
}

func validateScheduleConfig(c cobalt.JobScheduleConfiguration) error {
	for _, d := range []struct {
		name string
		v    *cobalt.Duration
	}{{"schedule.recurrenceInterval", c.RecurrenceInterval}, {"schedule.startWindow", c.StartWindow}} {
		if d.v != nil && !d.v.IsUnlimited() && d.v.Std() < minScheduleSpan {
			return invalidProp(d.name, "The value provided for %s must be at least one minute.", d.name)
		}
	}
	return nil
}

// validateJobSpecification checks a schedule's job template as AddJob
// checks a job.
func validateJobSpecification(js cobalt.JobSpec) error {
	if js.PoolInfo == nil {
		return missingProp("jobSpecification.poolInfo")
	}
	if err := validateJobOptions(js.Priority, js.MaxParallelTasks, js.Constraints, js.PoolInfo, js.OnAllTasksComplete, true); err != nil {
		return err
	}
	switch js.OnTaskFailure {
	case "", cobalt.OnTaskFailureNoAction, cobalt.OnTaskFailurePerformExitOptionsJobAction:
	default:
		return invalidProp("jobSpecification.onTaskFailure", "onTaskFailure must be noaction or performexitoptionsjobaction.")
	}
	// Checked on copies: the template keeps what the client gave, and
	// each job gets the defaults when it is added.
	if p := js.JobPreparationTask; p != nil {
		c := *p
		js.JobPreparationTask = &c
	}
	if r := js.JobReleaseTask; r != nil {
		c := *r
		js.JobReleaseTask = &c
	}
	return prefixTarget(jobPrepDefaults(&js), "jobSpecification.")
}

// recurring reports whether the configuration creates more than one job.
func recurring(c cobalt.JobScheduleConfiguration) bool {
	return c.RecurrenceInterval != nil && !c.RecurrenceInterval.IsUnlimited() && *c.RecurrenceInterval > 0
}

// planDue sets d.Due for a new or changed schedule configuration: before
// the first job, doNotRunUntil (or now); after it, the next recurrence
// after the last job's slot (not before doNotRunUntil), or none for a
// schedule that does not recur.
func (d *scheduleDoc) planDue(now time.Time) {
	c := d.Schedule.ToDomain()
	var due time.Time
	switch {
	case d.JobCount == 0:
		due = now
		if c.DoNotRunUntil != nil {
			due = c.DoNotRunUntil.UTC()
		}
	case recurring(c) && d.LastSlot != nil:
		due = d.LastSlot.Add(c.RecurrenceInterval.Std())
		if c.DoNotRunUntil != nil && c.DoNotRunUntil.After(due) {
			due = c.DoNotRunUntil.UTC()
		}
	default:
		d.Due = nil
		return
	}
	d.Due = &due
}

// AddJobSchedule creates a schedule in the active state. Errors: EInvalid,
// EConflict ErrJobScheduleExists.
func (s *Service) AddJobSchedule(ctx context.Context, accountID string, spec cobalt.JobScheduleSpec) (cobalt.JobSchedule, error) {
	ss, err := s.schedules()
	if err != nil {
		return cobalt.JobSchedule{}, err
	}
	if err := validID(spec.ID, "id"); err != nil {
		return cobalt.JobSchedule{}, err
	}
	if err := validateScheduleConfig(spec.Schedule); err != nil {
		return cobalt.JobSchedule{}, err
	}
	if err := validateJobSpecification(spec.JobSpecification); err != nil {
		return cobalt.JobSchedule{}, err
	}
	now := s.now().UTC()
	d := scheduleDoc{JobScheduleSpec: batchwire.FromJobScheduleSpec(spec), State: string(cobalt.JobScheduleActive),
		StateTransitionTime: now, ModifiedAt: now}
	d.planDue(now)
	r, err := ss.ScheduleCreate(ctx, store.ScheduleRecord{AccountKey: strings.ToLower(accountID), ID: spec.ID,
		State: d.State, WakeAt: d.wakeAt(now), Spec: d.encode()})
	if cobalt.IsCode(err, cobalt.EConflict) {
		return cobalt.JobSchedule{}, fail(ErrJobScheduleExists, cobalt.EConflict, "The specified job schedule already exists.")
	}
	if err != nil {
		return cobalt.JobSchedule{}, err
	}
	return d.domain(r), nil
}

// GetJobSchedule returns a schedule, or ENotFound ErrJobScheduleNotFound.
func (s *Service) GetJobSchedule(ctx context.Context, accountID, id string) (cobalt.JobSchedule, error) {
	ss, err := s.schedules()
	if err != nil {
		return cobalt.JobSchedule{}, err
	}
	r, err := ss.ScheduleGet(ctx, accountID, id)
	if err != nil {
		return cobalt.JobSchedule{}, errScheduleNotFound(err)
	}
	d, err := decodeSchedule(r)
	if err != nil {
		return cobalt.JobSchedule{}, err
	}
	return d.domain(r), nil
}

// ListJobSchedules lists an account's schedules in ID order; the string is
// the next page token. Filter narrows by state and id as ListJobs does.
func (s *Service) ListJobSchedules(ctx context.Context, accountID string, opt ListOptions) ([]cobalt.JobSchedule, string, error) {
	ss, err := s.schedules()
	if err != nil {
		return nil, "", err
	}
	f := newListFilter(opt.Filter, "state", "id")
	recs, next, err := ss.ScheduleList(ctx, store.ScheduleListParams{AccountKey: accountID, States: f.States(),
		Page: store.Page{Limit: maxResults(opt.MaxResults), Token: opt.PageToken}})
	if err != nil {
		return nil, "", err
	}
	out := make([]cobalt.JobSchedule, 0, len(recs))
	for _, r := range recs {
		d, err := decodeSchedule(r)
		if err != nil {
			return nil, "", err
		}
		if f.Match(map[string]string{"state": r.State, "id": r.ID}) {
			out = append(out, d.domain(r))
		}
	}
	return out, next, nil
}

// ListJobScheduleJobs lists the jobs a schedule created, in ID order.
// Error: ErrJobScheduleNotFound.
func (s *Service) ListJobScheduleJobs(ctx context.Context, accountID, id string, opt ListOptions) ([]cobalt.Job, string, error) {
	sched, err := s.GetJobSchedule(ctx, accountID, id)
	if err != nil {
		return nil, "", err
	}
	f := newListFilter(opt.Filter, "state", "id")
	recs, next, err := s.st.JobList(ctx, store.JobListParams{AccountKey: accountID, States: f.States(), IDPrefix: sched.ID + ":",
		Page: store.Page{Limit: maxResults(opt.MaxResults), Token: opt.PageToken}})
	if err != nil {
		return nil, "", err
	}
	out := make([]cobalt.Job, 0, len(recs))
	for _, r := range recs {
		j, err := jobFromRecord(r)
		if err != nil {
			return nil, "", err
		}
		if f.Match(map[string]string{"state": string(j.State), "id": j.ID}) {
			out = append(out, j)
		}
	}
	return out, next, nil
}

// updateSchedule applies fn to a schedule under compare-and-swap after
// checking cond, and returns the schedule written.
func (s *Service) updateSchedule(ctx context.Context, accountID, id string, cond Conditions, fn func(d *scheduleDoc, now time.Time) error) (cobalt.JobSchedule, error) {
	ss, err := s.schedules()
	if err != nil {
		return cobalt.JobSchedule{}, err
	}
	var out scheduleDoc
	r, err := ss.ScheduleUpdate(ctx, accountID, id, func(r *store.ScheduleRecord) error {
		d, err := decodeSchedule(*r)
		if err != nil {
			return err
		}
		if err := cond.check(ETag(r.Version), d.ModifiedAt); err != nil {
			return err
		}
		now := s.now().UTC()
		if err := fn(&d, now); err != nil {
			return err
		}
		r.State, r.Spec = d.State, d.encode()
		r.WakeAt = time.Time{}
		if d.State == string(cobalt.JobScheduleActive) || d.State == string(cobalt.JobScheduleDisabled) {
			r.WakeAt = d.wakeAt(now)
		}
		out = d
		return nil
	})
	if err != nil {
		return cobalt.JobSchedule{}, errScheduleNotFound(err)
	}
	return out.domain(r), nil
}

// PatchJobSchedule replaces the properties present in p. Errors:
// ErrJobScheduleNotFound, ErrJobScheduleCompleted (and being terminated or
// deleted), EPreconditionFailed, EInvalid.
func (s *Service) PatchJobSchedule(ctx context.Context, accountID, id string, p JobSchedulePatch, cond Conditions) (cobalt.JobSchedule, error) {
	if p.Schedule != nil {
		if err := validateScheduleConfig(*p.Schedule); err != nil {
			return cobalt.JobSchedule{}, err
		}
	}
	if p.JobSpecification != nil {
		if err := validateJobSpecification(*p.JobSpecification); err != nil {
			return cobalt.JobSchedule{}, err
		}
	}
	return s.updateSchedule(ctx, accountID, id, cond, func(d *scheduleDoc, now time.Time) error {
		if err := scheduleWritable(cobalt.JobScheduleState(d.State)); err != nil {
			return err
		}
		if p.Schedule != nil {
			c := batchwire.FromJobScheduleConfiguration(*p.Schedule)
			d.Schedule = &c
			d.planDue(now)
		}
		if p.JobSpecification != nil {
			js := batchwire.FromJobSpecification(*p.JobSpecification)
			d.JobSpecification = &js
		}
		if p.Metadata != nil {
			d.Metadata = batchwire.NameValues(*p.Metadata)
		}
		d.ModifiedAt = now
		return nil
	})
}

// ReplaceJobSchedule replaces every updatable property (PUT): an absent
// schedule becomes the default one (a single job at once), absent metadata
// none. Errors as PatchJobSchedule.
func (s *Service) ReplaceJobSchedule(ctx context.Context, accountID, id string, sched cobalt.JobScheduleConfiguration, js cobalt.JobSpec, meta []cobalt.NameValue, cond Conditions) (cobalt.JobSchedule, error) {
	if meta == nil {
		meta = []cobalt.NameValue{}
	}
	return s.PatchJobSchedule(ctx, accountID, id, JobSchedulePatch{Schedule: &sched, JobSpecification: &js, Metadata: &meta}, cond)
}

// DisableJobSchedule stops the schedule from creating jobs until it is
// enabled. Errors: ErrJobScheduleNotFound, ErrJobScheduleCompleted (and being
// terminated or deleted), EPreconditionFailed.
func (s *Service) DisableJobSchedule(ctx context.Context, accountID, id string, cond Conditions) error {
	_, err := s.updateSchedule(ctx, accountID, id, cond, func(d *scheduleDoc, now time.Time) error {
		if err := scheduleWritable(cobalt.JobScheduleState(d.State)); err != nil {
			return err
		}
		d.setState(cobalt.JobScheduleDisabled, now)
		return nil
	})
	return err
}

// EnableJobSchedule lets a disabled schedule create jobs again; a due time
// that passed while it was disabled follows the startWindow rules. Errors as
// DisableJobSchedule.
func (s *Service) EnableJobSchedule(ctx context.Context, accountID, id string, cond Conditions) error {
	_, err := s.updateSchedule(ctx, accountID, id, cond, func(d *scheduleDoc, now time.Time) error {
		if err := scheduleWritable(cobalt.JobScheduleState(d.State)); err != nil {
			return err
		}
		d.setState(cobalt.JobScheduleActive, now)
		return nil
	})
	return err
}

// TerminateJobSchedule ends a schedule: it creates no more jobs, its active
// job is terminated, and it completes. Errors: ErrJobScheduleNotFound,
// ErrJobScheduleCompleted, ErrJobScheduleBeingDeleted,
// ErrJobScheduleBeingTerminated, EPreconditionFailed.
func (s *Service) TerminateJobSchedule(ctx context.Context, accountID, id string, cond Conditions) error {
	sched, err := s.updateSchedule(ctx, accountID, id, cond, func(d *scheduleDoc, now time.Time) error {
		if err := scheduleWritable(cobalt.JobScheduleState(d.State)); err != nil {
			return err
		}
		d.setState(cobalt.JobScheduleTerminating, now)
		d.Due = nil
		return nil
	})
	if err != nil {
		return err
	}
	if rj := sched.ExecutionInfo.RecentJob; rj != nil {
		err := s.terminateJob(ctx, accountID, rj.ID, "TerminateJobSchedule", Conditions{})
		if err != nil && !cobalt.IsCode(err, cobalt.ENotFound) && !cobalt.IsCode(err, cobalt.EConflict) {
			return err
		}
	}
	_, err = s.updateSchedule(ctx, accountID, id, Conditions{}, func(d *scheduleDoc, now time.Time) error {
		d.setState(cobalt.JobScheduleCompleted, now)
		d.EndTime = &now
		return nil
	})
	return err
}

// DeleteJobSchedule deletes a schedule and every job it created. Errors:
// ErrJobScheduleNotFound, ErrJobScheduleBeingDeleted, EPreconditionFailed.
func (s *Service) DeleteJobSchedule(ctx context.Context, accountID, id string, cond Conditions) error {
	sched, err := s.updateSchedule(ctx, accountID, id, cond, func(d *scheduleDoc, now time.Time) error {
		if d.State == string(cobalt.JobScheduleDeleting) {
			return scheduleWritable(cobalt.JobScheduleDeleting)
		}
		d.setState(cobalt.JobScheduleDeleting, now)
		return nil
	})
	if err != nil {
		return err
	}
	for {
		jobs, _, err := s.ListJobScheduleJobs(ctx, accountID, sched.ID, ListOptions{MaxResults: 1000})
		if err != nil {
			return err
		}
		// A job that waits for its release tasks stays, deleting, and
		// goes once they ran.
		left := 0
		for _, j := range jobs {
			if j.State == cobalt.JobDeleting {
				continue
			}
			left++
			if err := s.DeleteJob(ctx, accountID, j.ID, Conditions{}); err != nil && !cobalt.IsCode(err, cobalt.ENotFound) &&
				!cobalt.IsCode(err, cobalt.EConflict) {
				return err
			}
		}
		if left == 0 {
			break
		}
	}
	ss, err := s.schedules()
	if err != nil {
		return err
	}
	return errScheduleNotFound(ss.ScheduleDelete(ctx, accountID, sched.ID))
}
