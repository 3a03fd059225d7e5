package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// jobFromRecord decodes a stored job and overlays its columns.
func jobFromRecord(r store.JobRecord) (Job, error) {
	var j Job
	if err := json.Unmarshal(r.Spec, &j); err != nil {
		return j, fmt.Errorf("decode job %s: %w", r.ID, err)
	}
	j.ID, j.State = r.ID, r.State
	j.ETag, j.LastModified, j.CreationTime = ETag(r.Version), r.UpdatedAt, r.CreatedAt
	j.URL = ""
	return j, nil
}

func encodeJob(j Job) []byte {
	j.ETag, j.URL = "", ""
	b, _ := json.Marshal(j)
	return b
}

func validateJobOptions(priority, maxParallel *int, c *JobConstraints, pi *PoolInfo, onAll string, requirePool bool) error {
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
		if len(pi.AutoPoolSpecification) > 0 && string(pi.AutoPoolSpecification) != "null" {
			return batchErr(cobalt.EInvalid, "UnsupportedProperty", "Auto pools are not supported; set poolInfo.poolId.").WithTarget("poolInfo.autoPoolSpecification")
		}
		if pi.PoolID == "" {
			return missingProp("poolInfo.poolId")
		}
	}
	switch onAll {
	case "", OnAllTasksCompleteNoAction, OnAllTasksCompleteTerminateJob:
	default:
		return invalidProp("onAllTasksComplete", "onAllTasksComplete must be noaction or terminatejob.")
	}
	return nil
}

// AddJob creates a job in the active state. Errors: EInvalid
// (MissingRequiredProperty, InvalidPropertyValue, UnsupportedProperty),
// EConflict JobExists.
func (s *Service) AddJob(ctx context.Context, accountID string, spec JobSpec) (Job, error) {
	if err := validID(spec.ID, "id"); err != nil {
		return Job{}, err
	}
	if err := validateJobOptions(spec.Priority, spec.MaxParallelTasks, spec.Constraints, spec.PoolInfo, spec.OnAllTasksComplete, true); err != nil {
		return Job{}, err
	}
	switch spec.OnTaskFailure {
	case "", OnTaskFailureNoAction, OnTaskFailurePerformExitOption:
	default:
		return Job{}, invalidProp("onTaskFailure", "onTaskFailure must be noaction or performexitoptionsjobaction.")
	}
	if len(spec.JobManagerTask) > 0 || len(spec.JobPreparationTask) > 0 || len(spec.JobReleaseTask) > 0 {
		return Job{}, batchErr(cobalt.EInvalid, "UnsupportedProperty", "Job manager, preparation and release tasks are not supported.")
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
		spec.OnAllTasksComplete = OnAllTasksCompleteNoAction
	}
	if spec.OnTaskFailure == "" {
		spec.OnTaskFailure = OnTaskFailureNoAction
	}
	if spec.Constraints == nil {
		spec.Constraints = &JobConstraints{}
	}
	if spec.Constraints.MaxWallClockTime == nil {
		spec.Constraints.MaxWallClockTime = ptr(Unlimited)
	}
	if spec.Constraints.MaxTaskRetryCount == nil {
		spec.Constraints.MaxTaskRetryCount = ptr(0)
	}
	j := Job{JobSpec: spec, State: JobActive, StateTransitionTime: now,
		ExecutionInfo: JobExecutionInfo{StartTime: now, PoolID: spec.PoolInfo.PoolID}}
	r, err := s.st.JobCreate(ctx, store.JobRecord{AccountKey: strings.ToLower(accountID), ID: spec.ID, PoolKey: spec.PoolInfo.PoolID,
		State: JobActive, Priority: *spec.Priority, Dispatch: true, Spec: encodeJob(j)})
	if cobalt.IsCode(err, cobalt.EConflict) {
		return Job{}, batchErr(cobalt.EConflict, "JobExists", "The specified job already exists.")
	}
	if err != nil {
		return Job{}, err
	}
	return jobFromRecord(r)
}

// GetJob returns a job, or ENotFound JobNotFound.
func (s *Service) GetJob(ctx context.Context, accountID, jobID string) (Job, error) {
	r, err := s.st.JobGet(ctx, accountID, jobID)
	if err != nil {
		return Job{}, errJobNotFound(err)
	}
	return jobFromRecord(r)
}

// ListJobs lists an account's jobs in ID order; the string is the next page
// token ("" on the last page). Filter supports state comparisons.
func (s *Service) ListJobs(ctx context.Context, accountID string, opt ListOptions) ([]Job, string, error) {
	f := newListFilter(opt.Filter, "state", "id")
	recs, next, err := s.st.JobList(ctx, store.JobListParams{AccountKey: accountID, States: f.States(),
		Page: store.Page{Limit: maxResults(opt.MaxResults), Token: opt.PageToken}})
	if err != nil {
		return nil, "", err
	}
	out := make([]Job, 0, len(recs))
	for _, r := range recs {
		j, err := jobFromRecord(r)
		if err != nil {
			return nil, "", err
		}
		if f.Match(map[string]string{"state": j.State, "id": j.ID}) {
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
func (s *Service) updateJob(ctx context.Context, accountID, jobID string, cond Conditions, fn func(r *store.JobRecord, j *Job) error) (Job, error) {
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
		return Job{}, errJobNotFound(err)
	}
	return s.GetJob(ctx, accountID, jobID)
}

func (j *Job) setState(state string, now time.Time) {
	if j.State == state {
		return
	}
	prevAt := j.StateTransitionTime
	j.PreviousState, j.PreviousStateTransitionTime = j.State, &prevAt
	j.State, j.StateTransitionTime = state, now
}

func writableJob(j *Job) error {
	switch j.State {
	case JobCompleted:
		return batchErr(cobalt.EConflict, "JobCompleted", "The specified job is already in a completed state.")
	case JobTerminating:
		return batchErr(cobalt.EConflict, "JobBeingTerminated", "The specified job is being terminated.")
	case JobDeleting:
		return batchErr(cobalt.EConflict, "JobBeingDeleted", "The specified job has been marked for deletion and is being garbage collected.")
	}
	return nil
}

// PatchJob updates the properties present in p (PATCH). Errors: JobNotFound,
// JobCompleted, ConditionNotMet, EInvalid.
func (s *Service) PatchJob(ctx context.Context, accountID, jobID string, p JobPatch, cond Conditions) (Job, error) {
	if err := validateJobOptions(p.Priority, p.MaxParallelTasks, p.Constraints, p.PoolInfo, p.OnAllTasksComplete, false); err != nil {
		return Job{}, err
	}
	j, err := s.updateJob(ctx, accountID, jobID, cond, func(r *store.JobRecord, j *Job) error {
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
				c.MaxWallClockTime = ptr(Unlimited)
			}
			if c.MaxTaskRetryCount == nil {
				c.MaxTaskRetryCount = ptr(0)
			}
			j.Constraints = &c
		}
		if p.PoolInfo != nil {
			if j.State != JobDisabled && !strings.EqualFold(p.PoolInfo.PoolID, j.PoolInfo.PoolID) {
				return batchErr(cobalt.EConflict, "JobNotDisabled", "The pool of a job can only be changed while the job is disabled.")
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
		if len(p.NetworkConfiguration) > 0 {
			j.NetworkConfiguration = p.NetworkConfiguration
		}
		return nil
	})
	if err != nil {
		return Job{}, err
	}
	if j.OnAllTasksComplete == OnAllTasksCompleteTerminateJob {
		if err := s.maybeCompleteJob(ctx, accountID, j.ID); err != nil {
			return Job{}, err
		}
		return s.GetJob(ctx, accountID, jobID)
	}
	return j, nil
}

// ReplaceJob replaces the job's updatable properties (PUT); absent ones take
// their defaults. Errors as PatchJob, and MissingRequiredProperty poolInfo.
func (s *Service) ReplaceJob(ctx context.Context, accountID, jobID string, p JobReplace, cond Conditions) (Job, error) {
	if err := validateJobOptions(p.Priority, p.MaxParallelTasks, p.Constraints, p.PoolInfo, p.OnAllTasksComplete, true); err != nil {
		return Job{}, err
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
		patch.Constraints = &JobConstraints{}
	}
	if patch.OnAllTasksComplete == "" {
		patch.OnAllTasksComplete = OnAllTasksCompleteNoAction
	}
	return s.PatchJob(ctx, accountID, jobID, patch, cond)
}

// DeleteJob deletes a job and its tasks; running tasks are stopped by their
// nodes at the next Reconcile. Errors: JobNotFound, ConditionNotMet.
func (s *Service) DeleteJob(ctx context.Context, accountID, jobID string, cond Conditions) error {
	_, err := s.updateJob(ctx, accountID, jobID, cond, func(r *store.JobRecord, j *Job) error {
		j.setState(JobDeleting, s.now().UTC())
		r.State, r.Dispatch = JobDeleting, false
		return nil
	})
	if err != nil {
		return err
	}
	return errJobNotFound(s.st.JobDelete(ctx, accountID, jobID))
}

// TerminateJob ends a job: running tasks are ended, and the job completes
// with the reason (default "UserTerminate"). Errors: JobNotFound,
// JobCompleted, JobBeingDeleted, ConditionNotMet.
func (s *Service) TerminateJob(ctx context.Context, accountID, jobID, reason string, cond Conditions) error {
	if reason == "" {
		reason = "UserTerminate"
	}
	return s.terminateJob(ctx, accountID, jobID, reason, cond)
}

func (s *Service) terminateJob(ctx context.Context, accountID, jobID, reason string, cond Conditions) error {
	now := s.now().UTC()
	_, err := s.updateJob(ctx, accountID, jobID, cond, func(r *store.JobRecord, j *Job) error {
		if j.State == JobCompleted {
			return batchErr(cobalt.EConflict, "JobCompleted", "The specified job is already in a completed state.")
		}
		if j.State == JobDeleting {
			return batchErr(cobalt.EConflict, "JobBeingDeleted", "The specified job has been marked for deletion and is being garbage collected.")
		}
		j.setState(JobCompleted, now)
		j.ExecutionInfo.EndTime, j.ExecutionInfo.TerminateReason = &now, reason
		r.State, r.Dispatch = JobCompleted, false
		return nil
	})
	if err != nil {
		return err
	}
	return s.endRunningTasks(ctx, accountID, jobID, &FailureInfo{Category: "usererror", Code: "TaskEnded",
		Message: "The task was ended because its job was terminated."})
}

// DisableJob stops scheduling the job's tasks. option says what happens to
// running tasks: "requeue" (default: stopped and queued again), "terminate"
// (ended) or "wait" (left to finish). Errors: JobNotFound, JobNotActive
// (EConflict), ConditionNotMet, EInvalid for an unknown option.
func (s *Service) DisableJob(ctx context.Context, accountID, jobID, option string, cond Conditions) error {
	switch option {
	case "":
		option = DisableRequeue
	case DisableRequeue, DisableTerminate, DisableWait:
	default:
		return invalidProp("disableTasks", "disableTasks must be requeue, terminate or wait.")
	}
	now := s.now().UTC()
	_, err := s.updateJob(ctx, accountID, jobID, cond, func(r *store.JobRecord, j *Job) error {
		if j.State != JobActive {
			if err := writableJob(j); err != nil {
				return err
			}
			return batchErr(cobalt.EConflict, "JobNotActive", "The specified job is not active.")
		}
		j.setState(JobDisabled, now)
		r.State, r.Dispatch = JobDisabled, false
		return nil
	})
	if err != nil {
		return err
	}
	switch option {
	case DisableRequeue:
		return s.requeueRunningTasks(ctx, accountID, jobID)
	case DisableTerminate:
		return s.endRunningTasks(ctx, accountID, jobID, &FailureInfo{Category: "usererror", Code: "TaskEnded",
			Message: "The task was ended because its job was disabled."})
	}
	return nil
}

// EnableJob lets a disabled job's tasks be scheduled again. Errors:
// JobNotFound, JobNotDisabled (EConflict), ConditionNotMet.
func (s *Service) EnableJob(ctx context.Context, accountID, jobID string, cond Conditions) error {
	now := s.now().UTC()
	j, err := s.updateJob(ctx, accountID, jobID, cond, func(r *store.JobRecord, j *Job) error {
		if j.State != JobDisabled && j.State != JobDisabling {
			if err := writableJob(j); err != nil {
				return err
			}
			return batchErr(cobalt.EConflict, "JobNotDisabled", "The specified job is not disabled.")
		}
		j.setState(JobActive, now)
		r.State, r.Dispatch = JobActive, true
		return nil
	})
	if err != nil {
		return err
	}
	s.notify(accountID, j.PoolInfo.PoolID)
	return nil
}

// JobTaskCounts returns a job's task and slot counts. Error: JobNotFound.
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
			case TaskActive:
				tc.Active += n
			case TaskPreparing, TaskRunning:
				tc.Running += n
			case TaskCompleted:
				tc.Completed += n
				if c.Result == ResultFailure {
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
	return s.forJobTasks(ctx, accountID, jobID, []string{TaskPreparing, TaskRunning}, func(r store.TaskRecord) error {
		_, err := s.st.TaskUpdate(ctx, accountID, jobID, r.ID, func(t *store.TaskRecord) error {
			if t.State != TaskPreparing && t.State != TaskRunning {
				return nil
			}
			now := s.now().UTC()
			t.State, t.LeaseID, t.NodeID, t.LeaseExpiry = TaskActive, "", "", time.Time{}
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

func (s *Service) endRunningTasks(ctx context.Context, accountID, jobID string, fi *FailureInfo) error {
	return s.forJobTasks(ctx, accountID, jobID, []string{TaskPreparing, TaskRunning}, func(r store.TaskRecord) error {
		_, err := s.st.TaskUpdate(ctx, accountID, jobID, r.ID, func(t *store.TaskRecord) error {
			if t.State != TaskPreparing && t.State != TaskRunning {
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
