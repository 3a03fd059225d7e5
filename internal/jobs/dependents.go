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
	return dependencyAction(spec, cobalt.TaskResult(r.Result), e.ExitCode, e.failureInfo()) == cobalt.DependencySatisfy
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
	done, err := s.satisfyingTasks(ctx, accountID, jobID)
	if err != nil || len(done) == 0 {
		return err
	}
	for _, id := range waiting {
		if _, err := s.releaseWaiting(ctx, accountID, jobID, id, done); err != nil {
			return err
		}
	}
	return nil
}

// satisfyingTasks returns the IDs of the job's completed tasks that satisfy
// their dependents.
func (s *Service) satisfyingTasks(ctx context.Context, accountID, jobID string) ([]string, error) {
	var done []string
	tok := ""
	for {
		recs, next, err := s.st.TaskList(ctx, store.TaskListParams{AccountKey: accountID, JobKey: jobID, States: []string{taskCompleted},
			Page: store.Page{Limit: dependencyPage, Token: tok}})
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			if satisfies(r) {
				done = append(done, r.ID)
			}
		}
		if next == "" {
			return done, nil
		}
		tok = next
	}
}

// waitingSweepEvery is how many of Run's sweeps pass between two
// SweepWaiting (a minute with the default SweepInterval).
const waitingSweepEvery = 12

// releaseQueue holds the completed tasks whose dependents a job's running
// release pass has still to release.
type releaseQueue struct {
	done []string
}

// releaseDependents is called when a task of a job that uses dependencies
// completes: if the task's exit conditions satisfy its dependents, each
// waiting task that names it drops it from its pending set, and those left
// with nothing pending are queued. A task that blocks leaves its dependents
// waiting (until it is reactivated and completes again).
//
// One pass per job runs at a time in a replica: completions that arrive
// while it runs join its queue, and it handles them together with one read
// of the waiting tasks, so a wide fan-in does not read the waiting tasks
// once per completion. Work a failed pass leaves is done by SweepWaiting.
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
	key := poolKey(accountID, job.ID)
	s.relMu.Lock()
	if q := s.releases[key]; q != nil {
		q.done = append(q.done, r.ID)
		s.relMu.Unlock()
		return nil
	}
	q := &releaseQueue{done: []string{r.ID}}
	s.releases[key] = q
	s.relMu.Unlock()
	// The pass serves other callers' completions too: it does not end with
	// this request.
	ctx = context.WithoutCancel(ctx)
	for {
		s.relMu.Lock()
		done := q.done
		q.done = nil
		if len(done) == 0 || err != nil {
			delete(s.releases, key)
			s.relMu.Unlock()
			return err
		}
		s.relMu.Unlock()
		err = s.releaseAll(ctx, accountID, job, done)
	}
}

// releaseAll drops the completed tasks done from the pending sets of the
// job's waiting tasks that name any of them, and queues those left with
// nothing pending.
func (s *Service) releaseAll(ctx context.Context, accountID string, job cobalt.Job, done []string) error {
	released := false
	tok := ""
	for {
		recs, next, err := s.st.TaskList(ctx, store.TaskListParams{AccountKey: accountID, JobKey: job.ID, Waiting: true,
			Page: store.Page{Limit: dependencyPage, Token: tok}})
		if err != nil {
			return err
		}
		for _, w := range recs {
			if !waitsForAny(w, done) {
				continue
			}
			ok, err := s.releaseWaiting(ctx, accountID, job.ID, w.ID, done)
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

// waitsForAny reports whether a waiting task's pending set names one of done.
func waitsForAny(w store.TaskRecord, done []string) bool {
	e := decodeExec(w.Exec)
	if e.Pending == nil {
		return false
	}
	for _, id := range done {
		if e.Pending.waitsFor(id) {
			return true
		}
	}
	return false
}

// SweepWaiting settles every waiting task against the completed tasks of its
// job, as resolveAdded does for new ones. It finds the dependents a release
// never reached: the replica stopped between a task's completion and the
// release of its dependents, or a release pass failed.
func (s *Service) SweepWaiting(ctx context.Context) error {
	type jobRef struct{ account, job, pool string }
	waiting := map[jobRef][]store.TaskRecord{}
	tok := ""
	for {
		recs, next, err := s.st.TaskList(ctx, store.TaskListParams{Waiting: true, Page: store.Page{Limit: dependencyPage, Token: tok}})
		if err != nil {
			return err
		}
		for _, r := range recs {
			k := jobRef{r.AccountKey, r.JobKey, r.PoolKey}
			waiting[k] = append(waiting[k], r)
		}
		if next == "" {
			break
		}
		tok = next
	}
	for k, ws := range waiting {
		done, err := s.satisfyingTasks(ctx, k.account, k.job)
		if err != nil {
			return err
		}
		released := false
		for _, w := range ws {
			if !waitsForAny(w, done) {
				continue
			}
			ok, err := s.releaseWaiting(ctx, k.account, k.job, w.ID, done)
			if err != nil {
				return err
			}
			released = released || ok
		}
		if released {
			s.notify(k.account, k.pool)
		}
	}
	return nil
}
