package batchapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	cobalt "github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/batchwire"
	"github.com/cobaltbatch/cobalt/internal/jobs"
	"github.com/cobaltbatch/cobalt/internal/par"
)

// JobTasks is the task half of the jobs service.
type JobTasks interface {
	AddTask(ctx context.Context, accountID, jobID string, spec cobalt.TaskSpec) (cobalt.Task, error)
	// AddTaskCollection adds a collection; per-task failures are in the results.
	AddTaskCollection(ctx context.Context, accountID, jobID string, specs []cobalt.TaskSpec) ([]jobs.TaskAddResult, error)
	GetTask(ctx context.Context, accountID, jobID, taskID string) (cobalt.Task, error)
	ListTasks(ctx context.Context, accountID, jobID string, opt jobs.ListOptions) ([]cobalt.Task, string, error)
	ReplaceTask(ctx context.Context, accountID, jobID, taskID string, c cobalt.TaskConstraints, cond jobs.Conditions) (cobalt.Task, error)
	DeleteTask(ctx context.Context, accountID, jobID, taskID string, cond jobs.Conditions) error
	TerminateTask(ctx context.Context, accountID, jobID, taskID string, cond jobs.Conditions) error
	ReactivateTask(ctx context.Context, accountID, jobID, taskID string, cond jobs.Conditions) error
	// ListSubtasks lists a multi-instance task's subtasks (none for an
	// ordinary task).
	ListSubtasks(ctx context.Context, accountID, jobID, taskID string) ([]cobalt.SubtaskInformation, error)
}

// filePathEscape escapes a node-relative path for a files URL segment by
// segment, as Batch writes taskRootDirectoryUrl
// (".../files/workitems/job/job-1/task"): the slashes stay.
func filePathEscape(p string) string {
	segs := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

func taskPath(jobID, taskID string) string {
	return jobPath(jobID) + "/tasks/" + url.PathEscape(taskID)
}

// renderTask fills the URLs that depend on the endpoint and encodes the task.
func (rc *reqCtx) renderTask(jobID string, t *cobalt.Task) []byte {
	w := taskToWire(*t)
	w.URL = rc.entityURL(taskPath(jobID, t.ID))
	if n := w.NodeInfo; n != nil && n.NodeID != "" {
		node := nodePath(n.PoolID, n.NodeID)
		n.NodeURL = rc.entityURL(node)
		if n.TaskRootDirectory != "" {
			n.TaskRootDirectoryURL = rc.entityURL(node + "/files/" + filePathEscape(n.TaskRootDirectory))
		}
	}
	b, _ := json.Marshal(w)
	return b
}

func handleAddTask(rc *reqCtx, p pathParams) error {
	js, err := rc.jobs()
	if err != nil {
		return err
	}
	var w taskSpecWire
	if err := rc.decodeJSON(maxBody, &w, false); err != nil {
		return err
	}
	if err := checkTaskSpec(&w); err != nil {
		return err
	}
	spec, err := w.domain()
	if err != nil {
		return err
	}
	t, err := js.AddTask(rc.r.Context(), rc.account.ID, p.job, spec)
	if err != nil {
		return err
	}
	u := rc.entityURL(taskPath(p.job, t.ID))
	rc.setEntityHeaders(t.ETag, t.LastModified, u)
	rc.w.Header().Set("Location", u)
	rc.writeEmpty(http.StatusCreated)
	return nil
}

// checkTaskSpec checks the required properties of an added task.
func checkTaskSpec(spec *taskSpecWire) *cobalt.Error {
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

func handleAddTaskCollection(rc *reqCtx, p pathParams) error {
	js, err := rc.jobs()
	if err != nil {
		return err
	}
	var body struct {
		Value []json.RawMessage `json:"value"`
	}
	if err := rc.decodeJSON(maxCollectionBody-1, &body, false); err != nil {
		return err
	}
	if len(body.Value) == 0 {
		return missingProperty("value")
	}
	if len(body.Value) > maxCollectionTasks {
		return batchError(cobalt.ETooLarge, codeBodyTooLarge,
			"The number of tasks in the request exceeds the maximum permissible limit.",
			"MaxLimit", "100")
	}
	// Tasks that fail their own checks get a clienterror result; the rest
	// go to the service together.
	results := make([]taskAddResult, 0, len(body.Value))
	var specs []cobalt.TaskSpec
	for i, raw := range body.Value {
		var w taskSpecWire
		var spec cobalt.TaskSpec
		err := decodeBody(raw, &w, false)
		if err == nil {
			if e := checkTaskSpec(&w); e != nil {
				err = e
			}
		}
		if err == nil {
			spec, err = w.domain()
		}
		if err != nil {
			id := w.ID
			if id == "" {
				id = "value[" + itoa64(int64(i)) + "]"
			}
			results = append(results, rc.addResultError(id, jobs.AddClientError, err))
			continue
		}
		specs = append(specs, spec)
	}
	if len(specs) > 0 {
		rs, err := js.AddTaskCollection(rc.r.Context(), rc.account.ID, p.job, specs)
		if err != nil {
			return err
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
	return nil
}

// addResultError renders a failed task add.
func (rc *reqCtx) addResultError(taskID, status string, err error) taskAddResult {
	if err == nil {
		err = cobalt.Errorf(cobalt.EInternal, "the task was not added")
	}
	e := toWireError(err)
	return taskAddResult{Status: status, TaskID: taskID, Error: &errorBody{Code: e.Code,
		Message: errorMessage{Lang: "en-US", Value: e.Msg}, Values: e.Values}}
}

func handleGetTask(rc *reqCtx, p pathParams) error {
	js, err := rc.jobs()
	if err != nil {
		return err
	}
	t, err := js.GetTask(rc.r.Context(), rc.account.ID, p.job, p.task)
	if err != nil {
		return err
	}
	if err := rc.checkConditions(t.ETag, t.LastModified, true); err != nil {
		return err
	}
	rc.setEntityHeaders(t.ETag, t.LastModified, "")
	rc.writeRaw(http.StatusOK, applySelect(rc.renderTask(p.job, &t), rc.selectParam()))
	return nil
}

var taskFilterFields = []string{"state", "id", "executionInfo/result", "displayName", "nodeInfo/nodeId"}

func handleListTasks(rc *reqCtx, p pathParams) error {
	js, err := rc.jobs()
	if err != nil {
		return err
	}
	if err := rc.expandParam(); err != nil {
		return err
	}
	filter, err := rc.filterParam(taskFilterFields)
	if err != nil {
		return err
	}
	return rc.paged("tasks", func(ctx context.Context, max int, token string) ([]listItem, string, error) {
		list, next, err := js.ListTasks(ctx, rc.account.ID, p.job, jobs.ListOptions{Filter: filter, MaxResults: max, PageToken: token})
		// Up to 1,000 tasks a page, each a json.Marshal: rendered on every core.
		items := make([]listItem, len(list))
		par.For(len(list), func(i int) {
			t := &list[i]
			var fields map[string]string // only a $filter reads them
			if filter != nil {
				fields = map[string]string{"state": string(t.State), "id": t.ID, "executionInfo/result": string(t.ExecutionInfo.Result),
					"displayName": t.DisplayName}
				if t.NodeInfo != nil {
					fields["nodeInfo/nodeId"] = t.NodeInfo.NodeID
				}
			}
			items[i] = listItem{body: rc.renderTask(p.job, t), fields: fields}
		})
		return items, next, err
	}, filter)
}

func handleReplaceTask(rc *reqCtx, p pathParams) error {
	js, err := rc.jobs()
	if err != nil {
		return err
	}
	var body struct {
		Constraints *batchwire.TaskConstraints `json:"constraints"`
	}
	if err := rc.decodeJSON(maxBody, &body, false); err != nil {
		return err
	}
	var c cobalt.TaskConstraints
	if w := body.Constraints; w != nil {
		c = w.ToDomain()
	}
	cond, err := rc.conditions()
	if err != nil {
		return err
	}
	t, err := js.ReplaceTask(rc.r.Context(), rc.account.ID, p.job, p.task, c, cond)
	if err != nil {
		return err
	}
	rc.setEntityHeaders(t.ETag, t.LastModified, rc.entityURL(taskPath(p.job, t.ID)))
	rc.writeEmpty(http.StatusOK)
	return nil
}

func handleDeleteTask(rc *reqCtx, p pathParams) error {
	js, err := rc.jobs()
	if err != nil {
		return err
	}
	cond, err := rc.conditions()
	if err != nil {
		return err
	}
	if err := js.DeleteTask(rc.r.Context(), rc.account.ID, p.job, p.task, cond); err != nil {
		return err
	}
	rc.writeEmpty(http.StatusOK)
	return nil
}

func handleTaskAction(rc *reqCtx, p pathParams) error {
	js, err := rc.jobs()
	if err != nil {
		return err
	}
	cond, err := rc.conditions()
	if err != nil {
		return err
	}
	ctx := rc.r.Context()
	switch p.action {
	case "terminate":
		err = js.TerminateTask(ctx, rc.account.ID, p.job, p.task, cond)
	case "reactivate":
		err = js.ReactivateTask(ctx, rc.account.ID, p.job, p.task, cond)
	default:
		return badURI()
	}
	if err != nil {
		return err
	}
	if t, gerr := js.GetTask(ctx, rc.account.ID, p.job, p.task); gerr == nil {
		rc.setEntityHeaders(t.ETag, t.LastModified, rc.entityURL(taskPath(p.job, t.ID)))
	}
	rc.writeEmpty(http.StatusNoContent)
	return nil
}

// handleSubtasks lists a task's subtasks ("list subtasks"): a
// multi-instance task's, in its current or last attempt; an ordinary
// task has none.
func handleSubtasks(rc *reqCtx, p pathParams) error {
	js, err := rc.jobs()
	if err != nil {
		return err
	}
	subs, err := js.ListSubtasks(rc.r.Context(), rc.account.ID, p.job, p.task)
	if err != nil {
		return err
	}
	out := make([]subtaskWire, 0, len(subs))
	for _, st := range subs {
		w := subtaskToWire(st)
		if n := w.NodeInfo; n != nil && n.NodeID != "" {
			node := nodePath(n.PoolID, n.NodeID)
			n.NodeURL = rc.entityURL(node)
			if n.TaskRootDirectory != "" {
				n.TaskRootDirectoryURL = rc.entityURL(node + "/files/" + filePathEscape(n.TaskRootDirectory))
			}
		}
		out = append(out, w)
	}
	rc.writeJSON(http.StatusOK, struct {
		Metadata string        `json:"odata.metadata"`
		Value    []subtaskWire `json:"value"`
	}{rc.baseURL() + "/$metadata#subtaskinformation", out})
	return nil
}
