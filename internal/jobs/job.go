package jobs

import (
	"context"
	"strings"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

func validateJobOptions(priority, maxParallel *int, c *cobalt.JobConstraints, pi *cobalt.PoolInformation, onAll cobalt.OnAllTasksComplete, requirePool bool) error {
	if priority != nil && (*priority < -1000 || *priority > 1000) {
		return invalidProp("priority", "The priority must be between -1000 and 1000.")
	}
	if maxParallel != nil && *maxParallel != -1 && *maxParallel < 1 {
		return invalidProp("maxParallelTasks", "maxParallelTasks must be -1 or greater than 0.")
	}
	if c != nil && c.MaxTaskRetryCount != nil && *c.MaxTaskRetryCount < -1 {
		return invalidProp("constraints.maxTaskRetryCount", "maxTaskRetryCount must be -1 or greater.")
	}
	if pi == nil {
		if requirePool {
			return missingProp("poolInfo")
		}
	} else {
		if pi.PoolID == "" {
			return missingProp("poolInfo.poolId")
		}
	}
	switch onAll {
	case "", cobalt.OnAllTasksCompleteNoAction, cobalt.OnAllTasksCompleteTerminateJob:
	default:
		return invalidProp("onAllTasksComplete", "onAllTasksComplete must be noaction or terminatejob.")
	}
	return nil
}

// AddJob creates a job in the active state. Errors: EInvalid
// (ErrMissingProperty, ErrUnsupported, or a bad value),
// EConflict ErrJobExists.
func (s *Service) AddJob(ctx context.Context, accountID string, spec cobalt.JobSpec) (cobalt.Job, error) {
	if err := validID(spec.ID, "id"); err != nil {
		return cobalt.Job{}, err
	}
	return s.addJob(ctx, accountID, spec)
}

// addJob is AddJob after the ID's check: job schedules name their jobs
// "{scheduleId}:job-{n}", an ID clients cannot choose.
func (s *Service) addJob(ctx context.Context, accountID string, spec cobalt.JobSpec) (cobalt.Job, error) {
	if err := jobManagerDefaults(spec.JobManagerTask); err != nil {
		return cobalt.Job{}, err
	}
	if err := jobPrepDefaults(&spec); err != nil {
		return cobalt.Job{}, err
	}
	if err := validateJobOptions(spec.Priority, spec.MaxParallelTasks, spec.Constraints, spec.PoolInfo, spec.OnAllTasksComplete, true); err != nil {
		return cobalt.Job{}, err
	}
	switch spec.OnTaskFailure {
	case "", cobalt.OnTaskFailureNoAction, cobalt.OnTaskFailurePerformExitOptionsJobAction:
	default:
		return cobalt.Job{}, invalidProp("onTaskFailure", "onTaskFailure must be noaction or performexitoptionsjobaction.")
	}
	now := s.now().UTC()
	if spec.Priority == nil {
		spec.Priority = ptr(0)
	}
	if spec.MaxParallelTasks == nil {
		spec.MaxParallelTasks = ptr(-1)
	}
	if spec.AllowTaskPreemption == nil {
		spec.AllowTaskPreemption = ptr(false)
	}
	if spec.UsesTaskDependencies == nil {
		spec.UsesTaskDependencies = ptr(false)
	}
	if spec.OnAllTasksComplete == "" {
		spec.OnAllTasksComplete = cobalt.OnAllTasksCompleteNoAction
	}
	if spec.OnTaskFailure == "" {
		spec.OnTaskFailure = cobalt.OnTaskFailureNoAction
	}
	if spec.Constraints == nil {
		spec.Constraints = &cobalt.JobConstraints{}
	}
	if spec.Constraints.MaxWallClockTime == nil {
		spec.Constraints.MaxWallClockTime = ptr(cobalt.Unlimited)
	}
	if spec.Constraints.MaxTaskRetryCount == nil {
		spec.Constraints.MaxTaskRetryCount = ptr(0)
	}
	j := cobalt.Job{JobSpec: spec, State: cobalt.JobActive, StateTransitionTime: now,
		ExecutionInfo: cobalt.JobExecutionInfo{StartTime: now, PoolID: spec.PoolInfo.PoolID}}
	r, err := s.st.JobCreate(ctx, store.JobRecord{AccountKey: strings.ToLower(accountID), ID: spec.ID, PoolKey: spec.PoolInfo.PoolID,
		State: jobActive, Priority: *spec.Priority, Dispatch: true, Spec: encodeJob(j)})
	if cobalt.IsCode(err, cobalt.EConflict) {
		return cobalt.Job{}, fail(ErrJobExists, cobalt.EConflict, "The specified job already exists.")
	}
	if err != nil {
		return cobalt.Job{}, err
	}
	// Records of an earlier job with this ID no longer mean anything.
	if err := s.st.JobPrepDelete(ctx, accountID, spec.ID, ""); err != nil {
		return cobalt.Job{}, err
	}
	if err := s.addJobManager(ctx, accountID, j); err != nil {
		return cobalt.Job{}, err
	}
	return jobFromRecord(r)
}

// GetJob returns a job, or ENotFound ErrJobNotFound.
func (s *Service) GetJob(ctx context.Context, accountID, jobID string) (cobalt.Job, error) {
	r, err := s.st.JobGet(ctx, accountID, jobID)
	if err != nil {
		return cobalt.Job{}, errJobNotFound(err)
	}
	return jobFromRecord(r)
}

// ListJobs lists an account's jobs in ID order; the string is the next page
// token ("" on the last page). Filter supports state comparisons.
func (s *Service) ListJobs(ctx context.Context, accountID string, opt ListOptions) ([]cobalt.Job, string, error) {
	f := newListFilter(opt.Filter, "state", "id")
	recs, next, err := s.st.JobList(ctx, store.JobListParams{AccountKey: accountID, States: f.States(),
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

func maxResults(n int) int {
	if n <= 0 || n > 1000 {
		return 1000
	}
	return n
}

// updateJob applies fn to a job under compare-and-swap after checking cond.
func (s *Service) updateJob(ctx context.Context, accountID, jobID string, cond Conditions, fn func(r *store.JobRecord, j *cobalt.Job) error) (cobalt.Job, error) {
	_, err := s.st.JobUpdate(ctx, accountID, jobID, func(r *store.JobRecord) error {
		j, err := jobFromRecord(*r)
		if err != nil {
			return err
		}
		if err := cond.check(j.ETag, j.LastModified); err != nil {
			return err
		}
		if err := fn(r, &j); err != nil {
			return err
		}
		r.Spec = encodeJob(j)
		return nil
	})
	if err != nil {
		return cobalt.Job{}, errJobNotFound(err)
	}
	return s.GetJob(ctx, accountID, jobID)
}

// setJobState moves j to state, keeping the previous state.
func setJobState(j *cobalt.Job, state cobalt.JobState, now time.Time) {
	if j.State == state {
		return
	}
	prevAt := j.StateTransitionTime
	j.PreviousState, j.PreviousStateTransitionTime = j.State, &prevAt
	j.State, j.StateTransitionTime = state, now
}

func writableJob(j *cobalt.Job) error {
	switch j.State {
	case cobalt.JobCompleted:
		return fail(ErrJobCompleted, cobalt.EConflict, "The specified job is already in a completed state.")
	case cobalt.JobTerminating:
		return fail(ErrJobBeingTerminated, cobalt.EConflict, "The specified job is being terminated.")
	case cobalt.JobDeleting:
		return fail(ErrJobBeingDeleted, cobalt.EConflict, "The specified job has been marked for deletion and is being garbage collected.")
	}
	return nil
}

// PatchJob updates the properties present in p (PATCH). Errors: ErrJobNotFound,
// ErrJobCompleted, EPreconditionFailed, EInvalid.
func (s *Service) PatchJob(ctx context.Context, accountID, jobID string, p JobPatch, cond Conditions) (cobalt.Job, error) {
	if err := validateJobOptions(p.Priority, p.MaxParallelTasks, p.Constraints, p.PoolInfo, p.OnAllTasksComplete, false); err != nil {
		return cobalt.Job{}, err
	}
	j, err := s.updateJob(ctx, accountID, jobID, cond, func(r *store.JobRecord, j *cobalt.Job) error {
		if err := writableJob(j); err != nil {
			return err
		}
		if p.Priority != nil {
			j.Priority, r.Priority = p.Priority, *p.Priority
		}
		if p.AllowTaskPreemption != nil {
			j.AllowTaskPreemption = p.AllowTaskPreemption
		}
		if p.MaxParallelTasks != nil {
			j.MaxParallelTasks = p.MaxParallelTasks
		}
		if p.Constraints != nil {
			c := *p.Constraints
			if c.MaxWallClockTime == nil {
				c.MaxWallClockTime = ptr(cobalt.Unlimited)
			}
			if c.MaxTaskRetryCount == nil {
				c.MaxTaskRetryCount = ptr(0)
			}
			j.Constraints = &c
		}
		if p.PoolInfo != nil {
			if j.State != cobalt.JobDisabled && !strings.EqualFold(p.PoolInfo.PoolID, j.PoolInfo.PoolID) {
				return fail(ErrJobNotDisabled, cobalt.EConflict, "The pool of a job can only be changed while the job is disabled.")
			}
			j.PoolInfo, r.PoolKey = p.PoolInfo, p.PoolInfo.PoolID
			j.ExecutionInfo.PoolID = p.PoolInfo.PoolID
		}
		if p.OnAllTasksComplete != "" {
			j.OnAllTasksComplete = p.OnAllTasksComplete
		}
		if p.Metadata != nil {
			j.Metadata = *p.Metadata
		}
		if p.NetworkConfiguration != nil {
			j.NetworkConfiguration = p.NetworkConfiguration
		}
		return nil
	})
	if err != nil {
		return cobalt.Job{}, err
	}
	if j.OnAllTasksComplete == cobalt.OnAllTasksCompleteTerminateJob {
		if err := s.maybeCompleteJob(ctx, accountID, j.ID); err != nil {
			return cobalt.Job{}, err
		}
		return s.GetJob(ctx, accountID, jobID)
	}
	return j, nil
}

// ReplaceJob replaces the job's updatable properties (PUT); absent ones take
// their defaults. Errors as PatchJob, and ErrMissingProperty poolInfo.
func (s *Service) ReplaceJob(ctx context.Context, accountID, jobID string, p JobReplace, cond Conditions) (cobalt.Job, error) {
	if err := validateJobOptions(p.Priority, p.MaxParallelTasks, p.Constraints, p.PoolInfo, p.OnAllTasksComplete, true); err != nil {
		return cobalt.Job{}, err
	}
	meta := p.Metadata
	patch := JobPatch{Priority: p.Priority, AllowTaskPreemption: p.AllowTaskPreemption, MaxParallelTasks: p.MaxParallelTasks,
		Constraints: p.Constraints, PoolInfo: p.PoolInfo, OnAllTasksComplete: p.OnAllTasksComplete, Metadata: &meta}
	if patch.Priority == nil {
		patch.Priority = ptr(0)
	}
	if patch.AllowTaskPreemption == nil {
		patch.AllowTaskPreemption = ptr(false)
	}
	if patch.MaxParallelTasks == nil {
		patch.MaxParallelTasks = ptr(-1)
	}
	if patch.Constraints == nil {
		patch.Constraints = &cobalt.JobConstraints{}
	}
	if patch.OnAllTasksComplete == "" {
		patch.OnAllTasksComplete = cobalt.OnAllTasksCompleteNoAction
	}
	return s.PatchJob(ctx, accountID, jobID, patch, cond)
}

// DeleteJob deletes a job and its tasks; running tasks are stopped by their
// nodes at the next Reconcile. A job whose release task is owed by nodes
// that ran it stays, in state deleting (its tasks ended), until they ran it
// (finishEnding). Errors: ErrJobNotFound, ErrJobBeingDeleted,
// EPreconditionFailed.
func (s *Service) DeleteJob(ctx context.Context, accountID, jobID string, cond Conditions) error {
	j, err := s.updateJob(ctx, accountID, jobID, cond, func(r *store.JobRecord, j *cobalt.Job) error {
		if j.State == cobalt.JobDeleting {
			return fail(ErrJobBeingDeleted, cobalt.EConflict, "The specified job has been marked for deletion and is being garbage collected.")
		}
		setJobState(j, cobalt.JobDeleting, s.now().UTC())
		r.State, r.Dispatch = jobDeleting, false
		return nil
	})
	if err != nil {
		return err
	}
	defer s.wakeSchedule(ctx, accountID, jobID)
	if j.JobReleaseTask == nil {
		return errJobNotFound(s.st.JobDelete(ctx, accountID, jobID))
	}
	s.markRelease(ctx, accountID, j)
	if err := s.endRunningTasks(ctx, accountID, jobID, &cobalt.TaskFailureInfo{Category: "usererror", Code: "TaskEnded",
		Message: "The task was ended because its job was deleted."}); err != nil {
		return err
	}
	return s.finishEnding(ctx, accountID, jobID)
}

// TerminateJob ends a job: running tasks are ended, and the job completes
// with the reason (default "UserTerminate"); a job whose release task is
// owed by nodes that ran it is terminating until they ran it. Errors:
// ErrJobNotFound, ErrJobCompleted, ErrJobBeingTerminated, ErrJobBeingDeleted,
// EPreconditionFailed.
func (s *Service) TerminateJob(ctx context.Context, accountID, jobID, reason string, cond Conditions) error {
	if reason == "" {
		reason = "UserTerminate"
	}
	return s.terminateJob(ctx, accountID, jobID, reason, cond)
}

func (s *Service) terminateJob(ctx context.Context, accountID, jobID, reason string, cond Conditions) error {
	now := s.now().UTC()
	j, err := s.updateJob(ctx, accountID, jobID, cond, func(r *store.JobRecord, j *cobalt.Job) error {
		if j.State == cobalt.JobCompleted || j.State == cobalt.JobDeleting || j.State == cobalt.JobTerminating {
			return writableJob(j)
		}
		j.ExecutionInfo.TerminateReason = reason
		if j.JobReleaseTask != nil {
			setJobState(j, cobalt.JobTerminating, now)
			r.State, r.Dispatch = jobTerminating, false
			return nil
		}
		setJobState(j, cobalt.JobCompleted, now)
		j.ExecutionInfo.EndTime = &now
		r.State, r.Dispatch = jobCompleted, false
		return nil
	})
	if err != nil {
		return err
	}
	defer s.wakeSchedule(ctx, accountID, jobID)
	s.markRelease(ctx, accountID, j)
	if err := s.endRunningTasks(ctx, accountID, jobID, &cobalt.TaskFailureInfo{Category: "usererror", Code: "TaskEnded",
		Message: "The task was ended because its job was terminated."}); err != nil {
		return err
	}
	if j.State == cobalt.JobTerminating {
		return s.finishEnding(ctx, accountID, jobID)
	}
	return nil
}

// DisableJob stops scheduling the job's tasks. option says what happens to
// running tasks: "requeue" (default: stopped and queued again), "terminate"
// (ended) or "wait" (left to finish). Errors: ErrJobNotFound, ErrJobNotActive
// (EConflict), EPreconditionFailed, EInvalid for an unknown option.
func (s *Service) DisableJob(ctx context.Context, accountID, jobID, option string, cond Conditions) error {
	switch option {
	case "":
		option = DisableRequeue
	case DisableRequeue, DisableTerminate, DisableWait:
	default:
		return invalidProp("disableTasks", "disableTasks must be requeue, terminate or wait.")
	}
	now := s.now().UTC()
	_, err := s.updateJob(ctx, accountID, jobID, cond, func(r *store.JobRecord, j *cobalt.Job) error {
		if j.State != cobalt.JobActive {
			if err := writableJob(j); err != nil {
				return err
			}
			return fail(ErrJobNotActive, cobalt.EConflict, "The specified job is not active.")
		}
		setJobState(j, cobalt.JobDisabled, now)
		r.State, r.Dispatch = jobDisabled, false
		return nil
	})
	if err != nil {
		return err
	}
	switch option {
	case DisableRequeue:
		return s.requeueRunningTasks(ctx, accountID, jobID)
	case DisableTerminate:
		return s.endRunningTasks(ctx, accountID, jobID, &cobalt.TaskFailureInfo{Category: "usererror", Code: "TaskEnded",
			Message: "The task was ended because its job was disabled."})
	}
	return nil
}

// EnableJob lets a disabled job's tasks be scheduled again. Errors:
// ErrJobNotFound, ErrJobNotDisabled (EConflict), EPreconditionFailed.
func (s *Service) EnableJob(ctx context.Context, accountID, jobID string, cond Conditions) error {
	now := s.now().UTC()
	j, err := s.updateJob(ctx, accountID, jobID, cond, func(r *store.JobRecord, j *cobalt.Job) error {
		if j.State != cobalt.JobDisabled && j.State != cobalt.JobDisabling {
			if err := writableJob(j); err != nil {
				return err
			}
			return fail(ErrJobNotDisabled, cobalt.EConflict, "The specified job is not disabled.")
		}
		setJobState(j, cobalt.JobActive, now)
		r.State, r.Dispatch = jobActive, true
		return nil
	})
	if err != nil {
		return err
	}
	s.notify(accountID, j.PoolInfo.PoolID)
	return nil
}

// JobTaskCounts returns a job's task and slot counts. Error: ErrJobNotFound.
func (s *Service) JobTaskCounts(ctx context.Context, accountID, jobID string) (TaskCountsResult, error) {
	if _, err := s.st.JobGet(ctx, accountID, jobID); err != nil {
		return TaskCountsResult{}, errJobNotFound(err)
	}
	counts, err := s.st.TaskCounts(ctx, accountID, jobID)
	if err != nil {
		return TaskCountsResult{}, err
	}
	var out TaskCountsResult
	for _, c := range counts {
		add := func(tc *TaskCounts, n int) {
			switch c.State {
			case taskActive:
				tc.Active += n
			case taskPreparing, taskRunning:
				tc.Running += n
			case taskCompleted:
				tc.Completed += n
				if c.Result == resultFailure {
					tc.Failed += n
				} else {
					tc.Succeeded += n
				}
			}
		}
		add(&out.TaskCounts, c.Count)
		add(&out.TaskSlotCounts, c.Slots)
	}
	return out, nil
}

// maybeCompleteJob completes a terminatejob job whose tasks are all complete.
func (s *Service) maybeCompleteJob(ctx context.Context, accountID, jobID string) error {
	any, err := s.st.TaskAnyIncomplete(ctx, accountID, jobID)
	if err != nil || any {
		return err
	}
	err = s.terminateJob(ctx, accountID, jobID, "AllTasksComplete", Conditions{})
	if cobalt.IsCode(err, cobalt.EConflict) || cobalt.IsCode(err, cobalt.ENotFound) {
		return nil
	}
	return err
}

// forJobTasks calls fn for each of the job's tasks in one of the states.
func (s *Service) forJobTasks(ctx context.Context, accountID, jobID string, states []string, fn func(store.TaskRecord) error) error {
	tok := ""
	for {
		recs, next, err := s.st.TaskList(ctx, store.TaskListParams{AccountKey: accountID, JobKey: jobID, States: states, Page: store.Page{Limit: 1000, Token: tok}})
		if err != nil {
			return err
		}
		for _, r := range recs {
			if err := fn(r); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		tok = next
	}
}

func (s *Service) requeueRunningTasks(ctx context.Context, accountID, jobID string) error {
	return s.forJobTasks(ctx, accountID, jobID, []string{taskPreparing, taskRunning}, func(r store.TaskRecord) error {
		_, err := s.st.TaskUpdate(ctx, accountID, jobID, r.ID, func(t *store.TaskRecord) error {
			if t.State != taskPreparing && t.State != taskRunning {
				return nil
			}
			now := s.now().UTC()
			t.State, t.LeaseID, t.NodeID, t.LeaseExpiry = taskActive, "", "", time.Time{}
			t.RequeueCount++
			t.LastRequeueAt = now
			return nil
		})
		if cobalt.IsCode(err, cobalt.ENotFound) {
			return nil
		}
		return err
	})
}

func (s *Service) endRunningTasks(ctx context.Context, accountID, jobID string, fi *cobalt.TaskFailureInfo) error {
	return s.forJobTasks(ctx, accountID, jobID, []string{taskPreparing, taskRunning}, func(r store.TaskRecord) error {
		_, err := s.st.TaskUpdate(ctx, accountID, jobID, r.ID, func(t *store.TaskRecord) error {
			if t.State != taskPreparing && t.State != taskRunning {
				return nil
			}
			return s.completeRecord(t, nil, fi, nil)
		})
		if cobalt.IsCode(err, cobalt.ENotFound) {
			return nil
		}
		return err
	})
}
