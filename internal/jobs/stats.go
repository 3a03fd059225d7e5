package jobs

import (
	"context"
	"time"

	"github.com/cobaltbatch/cobalt/internal/store"
)

// JobStats are a job's (or an account's) statistics, from its tasks'
// records. Cobalt's nodes report no CPU time and no I/O: those of Batch's
// figures are not here and render as zero.
type JobStats struct {
	// StartTime is the job's creation (for an account, its oldest job's);
	// LastUpdateTime is when the figures were computed.
	StartTime, LastUpdateTime time.Time
	// WallClockTime sums each task's run time, from its start to its end,
	// or to LastUpdateTime while it runs. WaitTime sums each started task's
	// time from its creation to its (last) start.
	WallClockTime, WaitTime time.Duration
	// NumSucceededTasks and NumFailedTasks count the completed tasks by
	// result; NumTaskRetries counts the retries after failures.
	NumSucceededTasks, NumFailedTasks, NumTaskRetries int64
}

// JobStats computes a job's statistics. Error: ErrJobNotFound.
func (s *Service) JobStats(ctx context.Context, accountID, jobID string) (JobStats, error) {
	r, err := s.st.JobGet(ctx, accountID, jobID)
	if err != nil {
		return JobStats{}, errJobNotFound(err)
	}
	st := JobStats{StartTime: r.CreatedAt, LastUpdateTime: s.now().UTC()}
	return st, s.addTaskStats(ctx, accountID, r.Key, &st)
}

// AccountJobStats sums the statistics of every job the account has (the
// lifetime job statistics: a deleted job's tasks no longer count).
func (s *Service) AccountJobStats(ctx context.Context, accountID string) (JobStats, error) {
	st := JobStats{LastUpdateTime: s.now().UTC()}
	page := store.Page{Limit: 500}
	for {
		js, next, err := s.st.JobList(ctx, store.JobListParams{AccountKey: accountID, Page: page})
		if err != nil {
			return st, err
		}
		for _, j := range js {
			if st.StartTime.IsZero() || j.CreatedAt.Before(st.StartTime) {
				st.StartTime = j.CreatedAt
			}
			if err := s.addTaskStats(ctx, accountID, j.Key, &st); err != nil {
				return st, err
			}
		}
		if next == "" {
			break
		}
		page.Token = next
	}
	if st.StartTime.IsZero() {
		st.StartTime = st.LastUpdateTime
	}
	return st, nil
}

// addTaskStats adds the figures of a job's tasks to st.
func (s *Service) addTaskStats(ctx context.Context, accountID, jobKey string, st *JobStats) error {
	page := store.Page{Limit: 1000}
	for {
		ts, next, err := s.st.TaskList(ctx, store.TaskListParams{AccountKey: accountID, JobKey: jobKey, Page: page})
		if err != nil {
			return err
		}
		for _, t := range ts {
			st.NumTaskRetries += int64(t.RetryCount)
			if t.State == taskCompleted {
				if t.Result == resultFailure {
					st.NumFailedTasks++
				} else {
					st.NumSucceededTasks++
				}
			}
			e := decodeExec(t.Exec)
			if e.StartTime == nil {
				continue
			}
			if w := e.StartTime.Sub(t.CreatedAt); w > 0 {
				st.WaitTime += w
			}
			end := st.LastUpdateTime
			if e.EndTime != nil && t.State == taskCompleted {
				end = *e.EndTime
			}
			if d := end.Sub(*e.StartTime); d > 0 && (t.State == taskCompleted || t.State == taskRunning) {
				st.WallClockTime += d
			}
		}
		if next == "" {
			return nil
		}
		page.Token = next
	}
}
