package jobs

import (
	"context"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// PoolTaskCounts counts the tasks of the account's jobs by pool (keyed by
// the lower-case pool ID), for the pool service's autoscale samples: Active
// is the queued tasks not waiting on dependencies, Running the tasks
// preparing or running, Succeeded and Failed the completed tasks still
// stored (a deleted job's tasks no longer count). Safe for concurrent use.
func (s *Service) PoolTaskCounts(ctx context.Context, accountID string) (map[string]cobalt.PoolTaskCounts, error) {
	out := map[string]cobalt.PoolTaskCounts{}
	page := store.Page{Limit: 500}
	for {
		js, next, err := s.st.JobList(ctx, store.JobListParams{AccountKey: accountID, Page: page})
		if err != nil {
			return nil, err
		}
		for _, j := range js {
			if j.PoolKey == "" {
				continue
			}
			counts, err := s.st.TaskCounts(ctx, accountID, j.Key)
			if err != nil {
				return nil, err
			}
			c := out[j.PoolKey]
			active := 0
			for _, tc := range counts {
				switch {
				case tc.State == taskActive:
					active += tc.Count
				case tc.State == taskPreparing || tc.State == taskRunning:
					c.Running += tc.Count
				case tc.State == taskCompleted && tc.Result == resultFailure:
					c.Failed += tc.Count
				case tc.State == taskCompleted:
					c.Succeeded += tc.Count
				}
			}
			if active > 0 {
				waiting, err := s.countWaiting(ctx, accountID, j.Key)
				if err != nil {
					return nil, err
				}
				active -= waiting
			}
			c.Active += max(0, active)
			out[j.PoolKey] = c
		}
		if next == "" {
			return out, nil
		}
		page.Token = next
	}
}

// countWaiting counts a job's active tasks that wait on dependencies.
func (s *Service) countWaiting(ctx context.Context, accountID, jobKey string) (int, error) {
	n := 0
	page := store.Page{Limit: 1000}
	for {
		ts, next, err := s.st.TaskList(ctx, store.TaskListParams{AccountKey: accountID, JobKey: jobKey,
			States: []string{taskActive}, Waiting: true, Page: page})
		if err != nil {
			return 0, err
		}
		n += len(ts)
		if next == "" {
			return n, nil
		}
		page.Token = next
	}
}
