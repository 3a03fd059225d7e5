package jobs

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/par"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// MaxTaskCollection is the most tasks one add collection may carry, and
// MaxTaskCollectionBytes the bound on their serialized size.
const (
	MaxTaskCollection      = 100
	MaxTaskCollectionBytes = 1 << 20
)

// DefaultRetention is a task's retentionTime when none is given.
const DefaultRetention = 7 * 24 * time.Hour

// TaskRootDirectory is a task's directory relative to the node root, in
// Batch's layout.
func TaskRootDirectory(jobID, taskID string) string {
	return path.Join("workitems", jobID, "job-1", taskID)
}

// taskFromRecord renders a stored task.
func taskFromRecord(jobID string, r store.TaskRecord) (cobalt.Task, error) {
	spec, err := decodeTaskSpec(r.Spec)
	if err != nil {
		return cobalt.Task{}, fmt.Errorf("decode task %s: %w", r.ID, err)
	}
	t := cobalt.Task{TaskSpec: spec}
	e := decodeExec(r.Exec)
	t.ID, t.State, t.StateTransitionTime = r.ID, cobalt.TaskState(r.State), r.StateAt
	t.ETag, t.LastModified, t.CreationTime = ETag(r.Version), r.UpdatedAt, r.CreatedAt
	t.PreviousState, t.PreviousStateTransitionTime = cobalt.TaskState(e.PreviousState), e.PreviousStateAt
	if t.PreviousState == "" && r.State != taskActive {
		t.PreviousState = cobalt.TaskActive
	}
	t.ExecutionInfo = cobalt.TaskExecutionInfo{StartTime: e.StartTime, RetryCount: r.RetryCount, RequeueCount: r.RequeueCount,
		LastRetryTime: e.LastRetryTime}
	if !r.LastRequeueAt.IsZero() {
		t.ExecutionInfo.LastRequeueTime = ptr(r.LastRequeueAt)
	}
	if r.State == taskRunning && e.StartTime == nil && !r.StateAt.IsZero() {
		// A node reports a task's start after a second (a task that ends
		// sooner carries it in its completion); until then a running task
		// shows its claim as its start, as Batch shows a running task's.
		t.ExecutionInfo.StartTime = ptr(r.StateAt)
	}
	if r.State == taskCompleted {
		t.ExecutionInfo.EndTime, t.ExecutionInfo.ExitCode, t.ExecutionInfo.FailureInfo = e.EndTime, e.ExitCode, e.failureInfo()
		t.ExecutionInfo.Result = cobalt.TaskResult(r.Result)
	}
	node := r.NodeID
	if node == "" && r.State == taskCompleted {
		node = e.NodeID
	}
	if node != "" {
		t.NodeInfo = &cobalt.TaskNodeInfo{PoolID: e.PoolID, NodeID: node, TaskRootDirectory: TaskRootDirectory(jobID, r.ID)}
	}
	t.FilesRemoved = e.FilesRemoved && r.State == taskCompleted
	return t, nil
}

// setTaskState moves a task record to state, keeping the previous state.
func setTaskState(t *store.TaskRecord, e *taskExec, state string, now time.Time) {
	if t.State == state {
		return
	}
	prev := t.StateAt
	e.PreviousState, e.PreviousStateAt = t.State, &prev
	t.State, t.StateAt = state, now
	if state != taskCompleted {
		e.FilesRemoved = false // it runs again and makes its directory anew
	}
}

// validateTask checks a task spec and fills its defaults from the job.
func validateTask(spec *cobalt.TaskSpec, job cobalt.Job) error {
	if err := validID(spec.ID, "id"); err != nil {
		return err
	}
	if strings.TrimSpace(spec.CommandLine) == "" {
		return missingProp("commandLine")
	}
	if err := validateDependencies(*spec, job); err != nil {
		return err
	}
	if spec.RequiredSlots != nil && *spec.RequiredSlots < 1 {
		return invalidProp("requiredSlots", "requiredSlots must be at least 1.")
	}
	for i, rf := range spec.ResourceFiles {
		if err := validateResourceFile(rf, fmt.Sprintf("resourceFiles[%d]", i)); err != nil {
			return err
		}
	}
	if err := validateMultiInstance(spec); err != nil {
		return err
	}
	for i, e := range spec.EnvironmentSettings {
		if e.Name == "" {
			return missingProp(fmt.Sprintf("environmentSettings[%d].name", i))
		}
	}
	if ui := spec.UserIdentity; ui != nil && ui.AutoUser != nil {
		switch ui.AutoUser.Scope {
		case "", "task", "pool":
		default:
			return invalidProp("userIdentity.autoUser.scope", "scope must be task or pool.")
		}
		switch ui.AutoUser.ElevationLevel {
		case "", "nonadmin", "admin":
		default:
			return invalidProp("userIdentity.autoUser.elevationLevel", "elevationLevel must be nonadmin or admin.")
		}
	}
	c := cobalt.TaskConstraints{}
	if spec.Constraints != nil {
		c = *spec.Constraints
	}
	if c.MaxTaskRetryCount != nil && *c.MaxTaskRetryCount < -1 {
		return invalidProp("constraints.maxTaskRetryCount", "maxTaskRetryCount must be -1 or greater.")
	}
	if c.MaxWallClockTime == nil {
		c.MaxWallClockTime = ptr(cobalt.Unlimited)
	}
	if c.RetentionTime == nil {
		c.RetentionTime = ptr(cobalt.Duration(DefaultRetention))
	}
	if c.MaxTaskRetryCount == nil {
		c.MaxTaskRetryCount = ptr(0)
		if job.Constraints != nil && job.Constraints.MaxTaskRetryCount != nil {
			c.MaxTaskRetryCount = ptr(*job.Constraints.MaxTaskRetryCount)
		}
	}
	spec.Constraints = &c
	if spec.RequiredSlots == nil {
		spec.RequiredSlots = ptr(1)
	}
	return nil
}

func validateResourceFile(rf cobalt.ResourceFile, target string) error {
	n := 0
	for _, v := range []string{rf.AutoStorageContainerName, rf.StorageContainerURL, rf.HTTPURL} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		return invalidProp(target, "Exactly one of autoStorageContainerName, storageContainerUrl and httpUrl must be set.")
	}
	if rf.HTTPURL != "" && rf.FilePath == "" {
		return missingProp(target + ".filePath")
	}
	if rf.BlobPrefix != "" && rf.HTTPURL != "" {
		return invalidProp(target+".blobPrefix", "blobPrefix applies only to a storage container.")
	}
	for _, u := range []string{rf.StorageContainerURL, rf.HTTPURL} {
		if u != "" && !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
			return invalidProp(target, "The resource file URL must be an http or https URL.")
		}
	}
	if p := rf.FilePath; p != "" {
		clean := path.Clean(strings.ReplaceAll(p, `\`, "/"))
		if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
			return invalidProp(target+".filePath", "filePath must stay inside the task's working directory.")
		}
	}
	if rf.FileMode != "" {
		if m, err := strconv.ParseUint(rf.FileMode, 8, 32); err != nil || m > 0o7777 {
			return invalidProp(target+".fileMode", "fileMode must be an octal file mode such as 0770.")
		}
	}
	return nil
}

// jobForTasks returns a job to which tasks may be added.
func (s *Service) jobForTasks(ctx context.Context, accountID, jobID string) (cobalt.Job, error) {
	j, err := s.GetJob(ctx, accountID, jobID)
	if err != nil {
		return j, err
	}
	if err := writableJob(&j); err != nil {
		return j, err
	}
	return j, nil
}

// AddTask adds one task to a job. Errors: ErrJobNotFound, ErrJobCompleted,
// ErrJobBeingTerminated, ErrJobBeingDeleted (EConflict), ErrTaskExists (EConflict),
// EInvalid for a bad spec.
func (s *Service) AddTask(ctx context.Context, accountID, jobID string, spec cobalt.TaskSpec) (cobalt.Task, error) {
	res, err := s.addTasks(ctx, accountID, jobID, []cobalt.TaskSpec{spec})
	if err != nil {
		return cobalt.Task{}, err
	}
	if res[0].Err != nil {
		return cobalt.Task{}, res[0].Err
	}
	return s.GetTask(ctx, accountID, jobID, spec.ID)
}

// AddTaskCollection adds up to 100 tasks (under 1 MB serialized) in one
// transaction and returns one result per task in input order; per-task
// failures (ErrTaskExists, invalid properties) are results, not errors. Errors:
// ETooLarge, ErrJobNotFound, ErrJobCompleted, ...
func (s *Service) AddTaskCollection(ctx context.Context, accountID, jobID string, specs []cobalt.TaskSpec) ([]TaskAddResult, error) {
	if len(specs) > MaxTaskCollection {
		return nil, cobalt.Errorf(cobalt.ETooLarge, "The number of tasks in the collection exceeds %d.", MaxTaskCollection)
	}
	if encodedTaskSpecsLen(specs) >= MaxTaskCollectionBytes {
		return nil, cobalt.Errorf(cobalt.ETooLarge, "The request body is too large and exceeds the maximum permissible limit.")
	}
	return s.addTasks(ctx, accountID, jobID, specs)
}

func (s *Service) addTasks(ctx context.Context, accountID, jobID string, specs []cobalt.TaskSpec) ([]TaskAddResult, error) {
	job, err := s.jobForTasks(ctx, accountID, jobID)
	if err != nil {
		return nil, err
	}
	res := make([]TaskAddResult, len(specs))
	var recs []store.TaskRecord
	var idx []int
	for i := range specs {
		spec := specs[i]
		res[i].TaskID = spec.ID
		if err := validateTask(&spec, job); err != nil {
			res[i].Status, res[i].Err = AddClientError, err
			continue
		}
		if err := checkNotJobPrepID(spec.ID, job); err != nil {
			res[i].Status, res[i].Err = AddClientError, err
			continue
		}
		if err := s.validateContainer(ctx, accountID, job, &spec); err != nil {
			res[i].Status, res[i].Err = AddClientError, err
			continue
		}
		e := taskExec{PoolID: job.PoolInfo.PoolID}
		if spec.DependsOn != nil {
			if p := newPending(*spec.DependsOn); !p.empty() {
				e.Pending = &p
			}
		}
		recs = append(recs, store.TaskRecord{ID: spec.ID, State: taskActive, RequiredSlots: *spec.RequiredSlots, Spec: encodeTaskSpec(spec),
			Exec: e.encode(), Waiting: e.Pending != nil, Instances: spec.MultiInstanceSettings.Instances()})
		idx = append(idx, i)
	}
	if len(recs) > 0 {
		out, errs, err := s.st.TaskAdd(ctx, accountID, jobID, recs)
		if err != nil {
			return nil, errJobNotFound(err)
		}
		var waiting []string
		for k, i := range idx {
			switch e := errs[k]; {
			case e == nil:
				if recs[k].Waiting {
					waiting = append(waiting, recs[k].ID)
				}
				res[i].Status, res[i].ETag, res[i].LastModified = AddSuccess, ETag(out[k].Version), out[k].UpdatedAt
			case cobalt.IsCode(e, cobalt.EConflict):
				res[i].Status, res[i].Err = AddClientError, fail(ErrTaskExists, cobalt.EConflict, "The specified task already exists.")
			case cobalt.IsCode(e, cobalt.EInvalid):
				res[i].Status, res[i].Err = AddClientError, e
			default:
				res[i].Status, res[i].Err = AddServerError, e
			}
		}
		if len(waiting) > 0 {
			if err := s.resolveAdded(ctx, accountID, jobID, waiting); err != nil {
				return nil, err
			}
		}
		s.notify(accountID, job.PoolInfo.PoolID)
	}
	return res, nil
}

// GetTask returns a task. Errors: ErrJobNotFound, ErrTaskNotFound.
func (s *Service) GetTask(ctx context.Context, accountID, jobID, taskID string) (cobalt.Task, error) {
	r, err := s.st.TaskGet(ctx, accountID, jobID, taskID)
	if cobalt.IsCode(err, cobalt.ENotFound) {
		if _, jerr := s.st.JobGet(ctx, accountID, jobID); jerr != nil {
			return cobalt.Task{}, errJobNotFound(jerr)
		}
	}
	if err != nil {
		return cobalt.Task{}, errTaskNotFound(err)
	}
	j, _ := s.st.JobGet(ctx, accountID, jobID)
	return taskFromRecord(j.ID, r)
}

// ListTasks lists a job's tasks in ID order with a next-page token. Filter
// supports comparisons of state, id and executionInfo/result. Error: ErrJobNotFound.
func (s *Service) ListTasks(ctx context.Context, accountID, jobID string, opt ListOptions) ([]cobalt.Task, string, error) {
	f := newListFilter(opt.Filter, "state", "id", "executionInfo/result")
	j, err := s.st.JobGet(ctx, accountID, jobID)
	if err != nil {
		return nil, "", errJobNotFound(err)
	}
	recs, next, err := s.st.TaskList(ctx, store.TaskListParams{AccountKey: accountID, JobKey: jobID, States: f.States(),
		Page: store.Page{Limit: maxResults(opt.MaxResults), Token: opt.PageToken}})
	if err != nil {
		return nil, "", err
	}
	// A page holds up to 1,000 records, each two JSON documents to decode:
	// they are decoded on every core, which halves a page's latency on two.
	tasks := make([]cobalt.Task, len(recs))
	errs := make([]error, len(recs))
	par.For(len(recs), func(i int) { tasks[i], errs[i] = taskFromRecord(j.ID, recs[i]) })
	out := tasks[:0]
	for i := range tasks {
		if errs[i] != nil {
			return nil, "", errs[i]
		}
		t := &tasks[i]
		if opt.Filter == nil || f.Match(map[string]string{"state": string(t.State), "id": t.ID, "executionInfo/result": string(t.ExecutionInfo.Result)}) {
			out = append(out, *t)
		}
	}
	return out, next, nil
}

// updateTask applies fn under compare-and-swap after checking cond.
func (s *Service) updateTask(ctx context.Context, accountID, jobID, taskID string, cond Conditions, fn func(t *store.TaskRecord, e *taskExec, spec *cobalt.TaskSpec) error) (store.TaskRecord, error) {
	j, err := s.st.JobGet(ctx, accountID, jobID)
	if err != nil {
		return store.TaskRecord{}, errJobNotFound(err)
	}
	r, err := s.st.TaskUpdate(ctx, accountID, jobID, taskID, func(t *store.TaskRecord) error {
		if err := cond.check(ETag(t.Version), t.UpdatedAt); err != nil {
			return err
		}
		spec, err := decodeTaskSpec(t.Spec)
		if err != nil {
			return err
		}
		e := decodeExec(t.Exec)
		if err := fn(t, &e, &spec); err != nil {
			return err
		}
		t.Exec = e.encode()
		t.Spec = encodeTaskSpec(spec)
		return nil
	})
	if err != nil {
		return r, errTaskNotFound(err)
	}
	_ = j
	return r, nil
}

// ReplaceTask updates a task's constraints (PUT); absent values take their
// defaults. Errors: ErrJobNotFound, ErrTaskNotFound, ErrTaskCompleted, EPreconditionFailed.
func (s *Service) ReplaceTask(ctx context.Context, accountID, jobID, taskID string, c cobalt.TaskConstraints, cond Conditions) (cobalt.Task, error) {
	if c.MaxTaskRetryCount != nil && *c.MaxTaskRetryCount < -1 {
		return cobalt.Task{}, invalidProp("constraints.maxTaskRetryCount", "maxTaskRetryCount must be -1 or greater.")
	}
	if c.MaxWallClockTime == nil {
		c.MaxWallClockTime = ptr(cobalt.Unlimited)
	}
	if c.RetentionTime == nil {
		c.RetentionTime = ptr(cobalt.Duration(DefaultRetention))
	}
	if c.MaxTaskRetryCount == nil {
		c.MaxTaskRetryCount = ptr(0)
	}
	_, err := s.updateTask(ctx, accountID, jobID, taskID, cond, func(t *store.TaskRecord, e *taskExec, spec *cobalt.TaskSpec) error {
		if t.State == taskCompleted {
			return fail(ErrTaskCompleted, cobalt.EConflict, "The specified task is already completed.")
		}
		spec.Constraints = &c
		return nil
	})
	if err != nil {
		return cobalt.Task{}, err
	}
	return s.GetTask(ctx, accountID, jobID, taskID)
}

// DeleteTask deletes a task; if it runs, its node stops it at the next
// Reconcile. Errors: ErrJobNotFound, ErrTaskNotFound, EPreconditionFailed.
func (s *Service) DeleteTask(ctx context.Context, accountID, jobID, taskID string, cond Conditions) error {
	if _, err := s.updateTask(ctx, accountID, jobID, taskID, cond, func(*store.TaskRecord, *taskExec, *cobalt.TaskSpec) error { return nil }); err != nil {
		return err
	}
	return errTaskNotFound(s.st.TaskDelete(ctx, accountID, jobID, taskID))
}

// TerminateTask ends a task: it completes with result failure and failure
// TaskEnded. Errors: ErrJobNotFound, ErrTaskNotFound, ErrTaskCompleted, EPreconditionFailed.
func (s *Service) TerminateTask(ctx context.Context, accountID, jobID, taskID string, cond Conditions) error {
	_, err := s.updateTask(ctx, accountID, jobID, taskID, cond, func(t *store.TaskRecord, e *taskExec, spec *cobalt.TaskSpec) error {
		if t.State == taskCompleted {
			return fail(ErrTaskCompleted, cobalt.EConflict, "The specified task is already completed.")
		}
		s.complete(t, e, spec, nil, &cobalt.TaskFailureInfo{Category: "usererror", Code: "TaskEnded", Message: "The task was ended by user request."}, nil)
		return nil
	})
	if err != nil {
		return err
	}
	return s.afterTaskCompleted(ctx, accountID, jobID, true, taskID)
}

// ReactivateTask makes a task that completed with failure active again, with
// its retry count reset. Errors: ErrJobNotFound, ErrTaskNotFound, ErrJobCompleted,
// EConflict for a task that did not fail.
func (s *Service) ReactivateTask(ctx context.Context, accountID, jobID, taskID string, cond Conditions) error {
	j, err := s.GetJob(ctx, accountID, jobID)
	if err != nil {
		return err
	}
	if err := writableJob(&j); err != nil {
		return err
	}
	waiting := false
	_, err = s.updateTask(ctx, accountID, jobID, taskID, cond, func(t *store.TaskRecord, e *taskExec, spec *cobalt.TaskSpec) error {
		if t.State != taskCompleted || t.Result != resultFailure {
			return cobalt.Errorf(cobalt.EConflict, "Only a task that completed with a failure can be reactivated.")
		}
		setTaskState(t, e, taskActive, s.now().UTC())
		t.Result, t.RetryCount, t.RetainUntil, t.NodeID, t.LeaseID = "", 0, time.Time{}, "", ""
		e.EndTime, e.ExitCode, e.FailureInfo, e.StartTime, e.LastRetryTime = nil, nil, nil, nil, nil
		// A task that depends on others waits for them again (settled below).
		waiting = false
		if spec.DependsOn != nil {
			if p := newPending(*spec.DependsOn); !p.empty() {
				e.Pending, t.Waiting, waiting = &p, true, true
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if waiting {
		if err := s.resolveAdded(ctx, accountID, jobID, []string{taskID}); err != nil {
			return err
		}
	}
	s.notify(accountID, j.PoolInfo.PoolID)
	return nil
}

// complete moves a task record to completed with the outcome given. A nil
// failure with a non-zero exit code becomes FailureExitCode.
func (s *Service) complete(t *store.TaskRecord, e *taskExec, spec *cobalt.TaskSpec, exitCode *int, fi *cobalt.TaskFailureInfo, end *time.Time) {
	now := s.now().UTC()
	if end == nil {
		end = &now
	}
	if fi == nil && exitCode != nil && *exitCode != 0 {
		fi = exitFailure(*exitCode)
	}
	if t.NodeID != "" {
		e.NodeID = t.NodeID
	}
	if fi != nil && fi.Code == "TaskEnded" && t.State == taskRunning && e.StartTime == nil && !t.StateAt.IsZero() {
		// Ended here (terminated, its job ended, its wall clock) before its
		// node reported the start (an agent reports a start after a second;
		// a task that ends sooner carries it in its completion): it started
		// when it was claimed.
		st := t.StateAt.UTC()
		e.StartTime = &st
	}
	setTaskState(t, e, taskCompleted, now)
	endInstances(e, now)
	// A task ended while it waited on dependencies waits no more.
	t.Waiting, e.Pending = false, nil
	e.EndTime, e.ExitCode, e.FailureInfo = end, exitCode, failureRecord(fi)
	t.Result = resultSuccess
	if fi != nil {
		t.Result = resultFailure
	}
	t.LeaseID, t.LeaseExpiry = "", time.Time{}
	ret := DefaultRetention
	if spec != nil && spec.Constraints != nil && !noLimit(spec.Constraints.RetentionTime) {
		ret = time.Duration(*spec.Constraints.RetentionTime)
	}
	t.RetainUntil = end.Add(ret)
}

// completeRecord is complete for callers holding only the record.
func (s *Service) completeRecord(t *store.TaskRecord, exitCode *int, fi *cobalt.TaskFailureInfo, end *time.Time) error {
	spec, err := decodeTaskSpec(t.Spec)
	if err != nil {
		return err
	}
	e := decodeExec(t.Exec)
	s.complete(t, &e, &spec, exitCode, fi, end)
	t.Exec = e.encode()
	return nil
}

func exitFailure(code int) *cobalt.TaskFailureInfo {
	return &cobalt.TaskFailureInfo{Category: "usererror", Code: "FailureExitCode",
		Message: "The task process exited with an unexpected exit code",
		Details: []cobalt.NameValue{{Name: "Message", Value: fmt.Sprintf("The task process exited with an unexpected exit code: %d", code)}}}
}
