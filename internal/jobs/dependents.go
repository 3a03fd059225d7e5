package jobs

import (
	"context"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// dependencyPage is how many tasks one read of a job's completed or waiting
// tasks returns while dependencies are resolved.
const dependencyPage = 1000

// satisfies reports whether a stored, completed task lets the tasks that
// depend on it go on.
func satisfies(r store.TaskRecord) bool {
	if r.State != taskCompleted {
		return false
	}
	spec, err := decodeTaskSpec(r.Spec)
	if err != nil {
		return false
	}
	e := decodeExec(r.Exec)
	return dependencyAction(spec, cobalt.TaskResult(r.Result), e.ExitCode, mapPtr(e.FailureInfo, failureFromDoc)) == cobalt.DependencySatisfy
}

// releaseWaiting removes done from the pending set of one waiting task and,
// when nothing is left, clears its Waiting flag so that claims offer it. It
// reports whether the task was released. A task deleted meanwhile is skipped.
func (s *Service) releaseWaiting(ctx context.Context, accountID, jobID, taskID string, done []string) (bool, error) {
	released := false
	_, err := s.st.TaskUpdate(ctx, accountID, jobID, taskID, func(t *store.TaskRecord) error {
		released = false
		e := decodeExec(t.Exec)
		if e.Pending == nil || !t.Waiting {
			return nil
		}
		for _, id := range done {
			e.Pending.satisfy(id)
		}
		if e.Pending.empty() {
			e.Pending, t.Waiting, released = nil, false, true
		}
		t.Exec = e.encode()
		return nil
	})
	if cobalt.IsCode(err, cobalt.ENotFound) {
		return false, nil
	}
	return released, err
}

// resolveAdded settles the dependencies of tasks just added with Waiting
// set against the job's tasks that have already completed. It reads the
// completed tasks after the add committed, so a dependency that completed
// before the add is seen here, and one that completes later finds the new
// task among the waiting ones (releaseDependents): none is missed.
func (s *Service) resolveAdded(ctx context.Context, accountID, jobID string, waiting []string) error {
	var done []string
	tok := ""
	for {
		recs, next, err := s.st.TaskList(ctx, store.TaskListParams{AccountKey: accountID, JobKey: jobID, States: []string{taskCompleted},
			Page: store.Page{Limit: dependencyPage, Token: tok}})
		if err != nil {
			return err
		}
		for _, r := range recs {
			if satisfies(r) {
				done = append(done, r.ID)
			}
		}
		if next == "" {
			break
		}
		tok = next
	}
	if len(done) == 0 {
		return nil
	}
	for _, id := range waiting {
		if _, err := s.releaseWaiting(ctx, accountID, jobID, id, done); err != nil {
			return err
		}
	}
	return nil
}

// releaseDependents is called when a task of a job that uses dependencies
// completes: if the task's exit conditions satisfy its dependents, each
// waiting task that names it drops it from its pending set, and those left
// with nothing pending are queued. A task that blocks leaves its dependents
// waiting (until it is reactivated and completes again).
func (s *Service) releaseDependents(ctx context.Context, accountID string, job cobalt.Job, taskID string) error {
	r, err := s.st.TaskGet(ctx, accountID, job.ID, taskID)
	if cobalt.IsCode(err, cobalt.ENotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !satisfies(r) {
		return nil
	}
	released := false
	tok := ""
	for {
		recs, next, err := s.st.TaskList(ctx, store.TaskListParams{AccountKey: accountID, JobKey: job.ID, Waiting: true,
			Page: store.Page{Limit: dependencyPage, Token: tok}})
		if err != nil {
			return err
		}
		for _, w := range recs {
			e := decodeExec(w.Exec)
			if e.Pending == nil || !e.Pending.waitsFor(r.ID) {
				continue
			}
			ok, err := s.releaseWaiting(ctx, accountID, job.ID, w.ID, []string{r.ID})
			if err != nil {
				return err
			}
			released = released || ok
		}
		if next == "" {
			break
		}
		tok = next
	}
	if released {
		s.notify(accountID, job.PoolInfo.PoolID)
	}
	return nil
}
