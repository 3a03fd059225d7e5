package batchapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	cobalt "github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/jobs"
)

// JobTasks is the task half of the jobs service.
type JobTasks interface {
	AddTask(ctx context.Context, accountID, jobID string, spec jobs.TaskSpec) (jobs.Task, error)
	// AddTaskCollection adds a collection; per-task failures are in the results.
	AddTaskCollection(ctx context.Context, accountID, jobID string, specs []jobs.TaskSpec) ([]jobs.TaskAddResult, error)
	GetTask(ctx context.Context, accountID, jobID, taskID string) (jobs.Task, error)
	ListTasks(ctx context.Context, accountID, jobID string, opt jobs.ListOptions) ([]jobs.Task, string, error)
	ReplaceTask(ctx context.Context, accountID, jobID, taskID string, c jobs.TaskConstraints, cond jobs.Conditions) (jobs.Task, error)
	DeleteTask(ctx context.Context, accountID, jobID, taskID string, cond jobs.Conditions) error
	TerminateTask(ctx context.Context, accountID, jobID, taskID string, cond jobs.Conditions) error
	ReactivateTask(ctx context.Context, accountID, jobID, taskID string, cond jobs.Conditions) error
}

func taskPath(jobID, taskID string) string {
	return jobPath(jobID) + "/tasks/" + url.PathEscape(taskID)
}

// renderTask fills the URLs that depend on the endpoint and encodes the task.
func (rc *reqCtx) renderTask(jobID string, t *jobs.Task) []byte {
	t.URL = rc.entityURL(taskPath(jobID, t.ID))
	if t.NodeInfo != nil && t.NodeInfo.NodeID != "" {
		t.NodeInfo.NodeURL = rc.entityURL(nodePath(t.NodeInfo.PoolID, t.NodeInfo.NodeID))
		if t.NodeInfo.TaskRootDirectory != "" {
			t.NodeInfo.TaskRootDirectoryURL = rc.entityURL(nodePath(t.NodeInfo.PoolID, t.NodeInfo.NodeID) +
				"/files/" + url.PathEscape(strings.TrimPrefix(t.NodeInfo.TaskRootDirectory, "/")))
		}
	}
	b, _ := json.Marshal(t)
	return b
}

func hAddTask(rc *reqCtx, p pathParams) {
	if !rc.requireJobs() {
		return
	}
	var spec jobs.TaskSpec
	if err := rc.decodeJSON(maxBody, &spec, false); err != nil {
		rc.writeError(err)
		return
	}
	if err := checkTaskSpec(&spec); err != nil {
		rc.writeError(err)
		return
	}
	t, err := rc.s.cfg.Jobs.AddTask(rc.r.Context(), rc.account.ID, p.job, spec)
	if err != nil {
		rc.writeError(err)
		return
	}
	u := rc.entityURL(taskPath(p.job, t.ID))
	rc.setEntityHeaders(t.ETag, t.LastModified, u)
	rc.w.Header().Set("Location", u)
	rc.writeEmpty(http.StatusCreated)
}

// checkTaskSpec checks the required properties of an added task.
func checkTaskSpec(spec *jobs.TaskSpec) *apiError {
	if spec.ID == "" {
		return missingProperty("id")
	}
	if spec.CommandLine == "" {
		return missingProperty("commandLine")
	}
	return nil
}

// taskAddResult is one entry of an add collection response.
type taskAddResult struct {
	Status       string     `json:"status"`
	TaskID       string     `json:"taskId"`
	ETag         string     `json:"eTag,omitempty"`
	LastModified string     `json:"lastModified,omitempty"`
	Location     string     `json:"location,omitempty"`
	Error        *errorBody `json:"error,omitempty"`
}

func hAddTaskCollection(rc *reqCtx, p pathParams) {
	if !rc.requireJobs() {
		return
	}
	var body struct {
		Value []json.RawMessage `json:"value"`
	}
	if err := rc.decodeJSON(maxCollectionBody-1, &body, false); err != nil {
		rc.writeError(err)
		return
	}
	if len(body.Value) == 0 {
		rc.writeError(missingProperty("value"))
		return
	}
	if len(body.Value) > maxCollectionTasks {
		rc.writeError(newError(http.StatusRequestEntityTooLarge, codeBodyTooLarge,
			"The number of tasks in the request exceeds the maximum permissible limit.",
			"MaxLimit", "100"))
		return
	}
	// Tasks that fail their own checks get a clienterror result; the rest
	// go to the service together.
	results := make([]taskAddResult, 0, len(body.Value))
	var specs []jobs.TaskSpec
	for i, raw := range body.Value {
		var spec jobs.TaskSpec
		err := decodeBody(raw, &spec, false)
		if err == nil {
			if e := checkTaskSpec(&spec); e != nil {
				err = e
			}
		}
		if err != nil {
			id := spec.ID
			if id == "" {
				id = "value[" + itoa64(int64(i)) + "]"
			}
			results = append(results, rc.addResultError(id, jobs.AddClientError, err))
			continue
		}
		specs = append(specs, spec)
	}
	if len(specs) > 0 {
		rs, err := rc.s.cfg.Jobs.AddTaskCollection(rc.r.Context(), rc.account.ID, p.job, specs)
		if err != nil {
			rc.writeError(err)
			return
		}
		for _, r := range rs {
			if r.Err != nil || (r.Status != "" && r.Status != jobs.AddSuccess) {
				status := r.Status
				if status == "" || status == jobs.AddSuccess {
					status = jobs.AddServerError
					if c := cobalt.ErrorCode(r.Err); c != cobalt.EInternal {
						status = jobs.AddClientError
					}
				}
				results = append(results, rc.addResultError(r.TaskID, status, r.Err))
				continue
			}
			out := taskAddResult{Status: jobs.AddSuccess, TaskID: r.TaskID, ETag: r.ETag,
				Location: rc.entityURL(taskPath(p.job, r.TaskID))}
			if !r.LastModified.IsZero() {
				out.LastModified = jsonTime(r.LastModified)
			}
			results = append(results, out)
		}
	}
	rc.writeJSON(http.StatusOK, struct {
		Metadata string          `json:"odata.metadata"`
		Value    []taskAddResult `json:"value"`
	}{rc.baseURL() + "/$metadata#taskaddresult", results})
}

// addResultError renders a failed task add.
func (rc *reqCtx) addResultError(taskID, status string, err error) taskAddResult {
	if err == nil {
		err = cobalt.Errorf(cobalt.EInternal, "the task was not added")
	}
	e := toAPIError(err)
	return taskAddResult{Status: status, TaskID: taskID, Error: &errorBody{Code: e.Code,
		Message: errorMessage{Lang: "en-US", Value: e.Msg}, Values: e.Values}}
}

func hGetTask(rc *reqCtx, p pathParams) {
	if !rc.requireJobs() {
		return
	}
	t, err := rc.s.cfg.Jobs.GetTask(rc.r.Context(), rc.account.ID, p.job, p.task)
	if err != nil {
		rc.writeError(err)
		return
	}
	if err := rc.checkConditions(t.ETag, t.LastModified, true); err != nil {
		rc.writeError(err)
		return
	}
	rc.setEntityHeaders(t.ETag, t.LastModified, "")
	rc.writeRaw(http.StatusOK, applySelect(rc.renderTask(p.job, &t), rc.selectParam()))
}

var taskFilterFields = []string{"state", "id", "executionInfo/result", "displayName", "nodeInfo/nodeId"}

func hListTasks(rc *reqCtx, p pathParams) {
	if !rc.requireJobs() {
		return
	}
	if err := rc.expandParam(); err != nil {
		rc.writeError(err)
		return
	}
	filter, err := rc.filterParam(taskFilterFields)
	if err != nil {
		rc.writeError(err)
		return
	}
	rc.writePaged("tasks", func(ctx context.Context, max int, token string) ([]listItem, string, error) {
		list, next, err := rc.s.cfg.Jobs.ListTasks(ctx, rc.account.ID, p.job, jobs.ListOptions{Filter: filter, MaxResults: max, PageToken: token})
		items := make([]listItem, 0, len(list))
		for i := range list {
			t := &list[i]
			fields := map[string]string{"state": t.State, "id": t.ID, "executionInfo/result": t.ExecutionInfo.Result,
				"displayName": t.DisplayName}
			if t.NodeInfo != nil {
				fields["nodeInfo/nodeId"] = t.NodeInfo.NodeID
			}
			items = append(items, listItem{body: rc.renderTask(p.job, t), fields: fields})
		}
		return items, next, err
	}, filter)
}

func hReplaceTask(rc *reqCtx, p pathParams) {
	if !rc.requireJobs() {
		return
	}
	var body struct {
		Constraints *jobs.TaskConstraints `json:"constraints"`
	}
	if err := rc.decodeJSON(maxBody, &body, false); err != nil {
		rc.writeError(err)
		return
	}
	var c jobs.TaskConstraints
	if body.Constraints != nil {
		c = *body.Constraints
	}
	cond, err := rc.conditions()
	if err != nil {
		rc.writeError(err)
		return
	}
	t, err := rc.s.cfg.Jobs.ReplaceTask(rc.r.Context(), rc.account.ID, p.job, p.task, c, cond)
	if err != nil {
		rc.writeError(err)
		return
	}
	rc.setEntityHeaders(t.ETag, t.LastModified, rc.entityURL(taskPath(p.job, t.ID)))
	rc.writeEmpty(http.StatusOK)
}

func hDeleteTask(rc *reqCtx, p pathParams) {
	if !rc.requireJobs() {
		return
	}
	cond, err := rc.conditions()
	if err != nil {
		rc.writeError(err)
		return
	}
	if err := rc.s.cfg.Jobs.DeleteTask(rc.r.Context(), rc.account.ID, p.job, p.task, cond); err != nil {
		rc.writeError(err)
		return
	}
	rc.writeEmpty(http.StatusOK)
}

func hTaskAction(rc *reqCtx, p pathParams) {
	if !rc.requireJobs() {
		return
	}
	cond, err := rc.conditions()
	if err != nil {
		rc.writeError(err)
		return
	}
	ctx := rc.r.Context()
	switch p.action {
	case "terminate":
		err = rc.s.cfg.Jobs.TerminateTask(ctx, rc.account.ID, p.job, p.task, cond)
	case "reactivate":
		err = rc.s.cfg.Jobs.ReactivateTask(ctx, rc.account.ID, p.job, p.task, cond)
	default:
		rc.writeError(badURI())
		return
	}
	if err != nil {
		rc.writeError(err)
		return
	}
	if t, gerr := rc.s.cfg.Jobs.GetTask(ctx, rc.account.ID, p.job, p.task); gerr == nil {
		rc.setEntityHeaders(t.ETag, t.LastModified, rc.entityURL(taskPath(p.job, t.ID)))
	}
	rc.writeEmpty(http.StatusNoContent)
}

// hSubtasks lists a task's subtasks: multi-instance tasks are not supported,
// so the list is empty (after checking that the task exists).
func hSubtasks(rc *reqCtx, p pathParams) {
	if !rc.requireJobs() {
		return
	}
	if _, err := rc.s.cfg.Jobs.GetTask(rc.r.Context(), rc.account.ID, p.job, p.task); err != nil {
		rc.writeError(err)
		return
	}
	rc.writeJSON(http.StatusOK, struct {
		Metadata string   `json:"odata.metadata"`
		Value    []string `json:"value"`
	}{rc.baseURL() + "/$metadata#subtaskinformation", []string{}})
}
