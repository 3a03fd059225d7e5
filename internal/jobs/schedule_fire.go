package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// Firing: FireDueSchedules (run by Run every sweep) reads the active
// schedules whose wake time has come and steps each. A step that creates a
// job names it "{id}:job-{n+1}" from the schedule's count n, creates it (a
// job of that name that exists already was created for the same slot by
// another replica, or by this one before a crash), then advances the
// schedule under compare-and-swap on the version it read. So two replicas
// that find one schedule due create one job between them, and a restart
// neither loses nor repeats a job.
//
// The rules are Batch's: a job is due at doNotRunUntil (or creation) and
// then every recurrenceInterval; it may be created until startWindow after
// its due time (unlimited by default, and never past the next recurrence);
// an opportunity missed is lost, so after a downtime the schedule creates
// one job, for the latest recurrence, not one per recurrence missed. No job
// is created while the previous one is still active, nor after
// doNotRunAfter; a schedule that will create no more jobs completes once its
// last job has.

// fireBatch is how many due schedules one pass reads.
const fireBatch = 100

// parkRecheck is how long a schedule waiting for its active job sleeps
// unless the job's end wakes it first.
const parkRecheck = time.Minute

// wakeSchedule wakes the schedule that created jobID, if any, because that
// job ended or was deleted: the schedule may create its next job or
// complete. Errors are ignored; parkRecheck bounds the delay.
func (s *Service) wakeSchedule(ctx context.Context, accountID, jobID string) {
	schedID, _, ok := strings.Cut(jobID, ":")
	if !ok {
		return
	}
	ss, err := s.schedules()
	if err != nil {
		return
	}
	now := s.now().UTC()
	_, _ = ss.ScheduleUpdate(ctx, accountID, schedID, func(r *store.ScheduleRecord) error {
		if r.State != string(cobalt.JobScheduleActive) || r.WakeAt.IsZero() || !r.WakeAt.After(now) {
			return errScheduleChangedWhileFiring // nothing to write
		}
		r.WakeAt = now
		return nil
	})
}

// FireDueSchedules creates the jobs of every schedule that is due now and
// completes the schedules that are done. It returns the first error; the
// other schedules are still stepped.
func (s *Service) FireDueSchedules(ctx context.Context) error {
	ss, err := s.schedules()
	if err != nil {
		return nil // a store without schedules has none to fire
	}
	due, err := ss.ScheduleDue(ctx, s.now().UTC(), fireBatch)
	if err != nil {
		return err
	}
	var first error
	for _, r := range due {
		if err := s.stepSchedule(ctx, ss, r); err != nil && !errors.Is(err, errScheduleChangedWhileFiring) {
			s.log.Warn("job schedule", logkey.Err, err)
			if first == nil {
				first = err
			}
		}
	}
	return first
}

// fireStep is what one step of a schedule does.
type fireStep struct {
	// create says a job is to be created for slot.
	create bool
	slot   time.Time
	// complete says the schedule is done.
	complete bool
	// changed says the schedule's document changes (a write is needed).
	changed bool
	// park says the schedule waits for its active job.
	park bool
}

// planStep computes the next step of d at now; active says whether the
// schedule's most recent job is still active. It updates d as the step
// leaves it.
func planStep(d *scheduleDoc, now time.Time, active bool) fireStep {
	var st fireStep
	c := d.Schedule.ToDomain()
	if d.Due != nil {
		slot := *d.Due
		window := time.Duration(-1) // unlimited
		if c.StartWindow != nil && !c.StartWindow.IsUnlimited() {
			window = c.StartWindow.Std()
		}
		rec := recurring(c)
		if rec {
			iv := c.RecurrenceInterval.Std()
			if now.After(slot) {
				slot = slot.Add(now.Sub(slot) / iv * iv)
			}
			if window < 0 || window > iv {
				window = iv
			}
		}
		next := func() *time.Time {
			if !rec {
				return nil
			}
			n := slot.Add(c.RecurrenceInterval.Std())
			return &n
		}
		switch {
		case c.DoNotRunAfter != nil && slot.After(*c.DoNotRunAfter):
			d.Due, st.changed = nil, true
		case now.Before(slot):
			// Not due yet (a step woken early).
		case window >= 0 && !now.Before(slot.Add(window)):
			d.Due, st.changed = next(), true // the opportunity is lost
		case active:
			if !slot.Equal(*d.Due) {
				d.Due, st.changed = &slot, true
			}
		default:
			st.create, st.slot, st.changed = true, slot, true
			d.JobCount++
			d.LastSlot = &slot
			d.Due = next()
		}
		if d.Due != nil && c.DoNotRunAfter != nil && d.Due.After(*c.DoNotRunAfter) {
			d.Due = nil
		}
	}
	if d.Due == nil && !st.create && !active {
		st.complete, st.changed = true, true
		d.setState(cobalt.JobScheduleCompleted, now)
		d.EndTime = &now
	}
	if active && !st.create && !st.complete && (d.Due == nil || !now.Before(*d.Due)) {
		// Waiting for the active job: park until it ends (wakeSchedule) or
		// parkRecheck passes, so waiting schedules do not crowd the due ones.
		st.park, st.changed = true, true
	}
	return st
}

// stepSchedule steps one due schedule (see the file comment).
func (s *Service) stepSchedule(ctx context.Context, ss store.ScheduleStore, r store.ScheduleRecord) error {
	d, err := decodeSchedule(r)
	if err != nil {
		return err
	}
	active := false
	if d.RecentJob != "" {
		j, err := s.st.JobGet(ctx, r.AccountKey, d.RecentJob)
		switch {
		case err == nil:
			active = j.State != jobCompleted
		case !cobalt.IsCode(err, cobalt.ENotFound):
			return err
		}
	}
	now := s.now().UTC()
	st := planStep(&d, now, active)
	if !st.changed {
		return nil
	}
	if st.create {
		id := fmt.Sprintf("%s:job-%d", r.ID, d.JobCount)
		spec := d.JobSpecification.ToDomain()
		spec.ID = id
		if _, err := s.addJob(ctx, r.AccountKey, spec); err != nil && !errors.Is(err, ErrJobExists) {
			return fmt.Errorf("job schedule %s: create job %s: %w", r.ID, id, err)
		}
		d.RecentJob = id
	}
	_, err = ss.ScheduleUpdate(ctx, r.AccountKey, r.ID, func(cur *store.ScheduleRecord) error {
		if cur.Version != r.Version {
			return errScheduleChangedWhileFiring
		}
		cur.State, cur.Spec = d.State, d.encode()
		cur.WakeAt = time.Time{}
		switch {
		case st.park:
			cur.WakeAt = now.Add(parkRecheck)
		case !st.complete:
			cur.WakeAt = d.wakeAt(now)
		}
		return nil
	})
	if cobalt.IsCode(err, cobalt.EPreconditionFailed) || cobalt.IsCode(err, cobalt.ENotFound) {
		return errScheduleChangedWhileFiring
	}
	return err
}
