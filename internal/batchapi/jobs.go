package batchapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	cobalt "github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/jobs"
)

// Jobs is the jobs and tasks service; *jobs.Service implements it. accountID
// is the Batch account's ARM resource ID. Errors are *cobalt.Error whose
// Reason is the Batch error code (JobNotFound, TaskExists, ...).
type Jobs interface {
	AddJob(ctx context.Context, accountID string, spec jobs.JobSpec) (jobs.Job, error)
	GetJob(ctx context.Context, accountID, jobID string) (jobs.Job, error)
	ListJobs(ctx context.Context, accountID string, opt jobs.ListOptions) ([]jobs.Job, string, error)
	PatchJob(ctx context.Context, accountID, jobID string, p jobs.JobPatch, cond jobs.Conditions) (jobs.Job, error)
	ReplaceJob(ctx context.Context, accountID, jobID string, p jobs.JobReplace, cond jobs.Conditions) (jobs.Job, error)
	DeleteJob(ctx context.Context, accountID, jobID string, cond jobs.Conditions) error
	TerminateJob(ctx context.Context, accountID, jobID, reason string, cond jobs.Conditions) error
	DisableJob(ctx context.Context, accountID, jobID, option string, cond jobs.Conditions) error
	EnableJob(ctx context.Context, accountID, jobID string, cond jobs.Conditions) error
	JobTaskCounts(ctx context.Context, accountID, jobID string) (jobs.TaskCountsResult, error)
	JobTasks
}

// conditions reads the conditional headers of a write for the jobs service.
func (rc *reqCtx) conditions() (jobs.Conditions, error) {
	h := rc.r.Header
	c := jobs.Conditions{IfMatch: h.Get("If-Match"), IfNoneMatch: h.Get("If-None-Match")}
	for _, hd := range []struct {
		name string
		dst  **time.Time
	}{{"If-Modified-Since", &c.IfModifiedSince}, {"If-Unmodified-Since", &c.IfUnmodifiedSince}} {
		if v := h.Get(hd.name); v != "" {
			t, err := parseHTTPDate(v)
			if err != nil {
				return c, newError(http.StatusBadRequest, codeInvalidHeader,
					"The value for one of the HTTP headers is not in the correct format.",
					"HeaderName", hd.name, "HeaderValue", truncate(v, 100))
			}
			*hd.dst = &t
		}
	}
	return c, nil
}

func jobPath(id string) string { return "/jobs/" + url.PathEscape(id) }

func (rc *reqCtx) renderJob(j *jobs.Job) []byte {
	j.URL = rc.entityURL(jobPath(j.ID))
	b, _ := json.Marshal(j)
	return b
}

// requireJobs writes 501 when no jobs service is configured.
func (rc *reqCtx) requireJobs() bool {
	if rc.s.cfg.Jobs == nil {
		rc.writeError(newError(http.StatusNotImplemented, "NotImplemented", "Jobs are not available on this server."))
		return false
	}
	return true
}

func hAddJob(rc *reqCtx, _ pathParams) {
	if !rc.requireJobs() {
		return
	}
	var spec jobs.JobSpec
	if err := rc.decodeJSON(maxBody, &spec, false); err != nil {
		rc.writeError(err)
		return
	}
	if spec.ID == "" {
		rc.writeError(missingProperty("id"))
		return
	}
	j, err := rc.s.cfg.Jobs.AddJob(rc.r.Context(), rc.account.ID, spec)
	if err != nil {
		rc.writeError(err)
		return
	}
	rc.setEntityHeaders(j.ETag, j.LastModified, rc.entityURL(jobPath(j.ID)))
	rc.w.Header().Set("Location", rc.entityURL(jobPath(j.ID)))
	rc.writeEmpty(http.StatusCreated)
}

func hGetJob(rc *reqCtx, p pathParams) {
	if !rc.requireJobs() {
		return
	}
	if err := rc.expandParam(); err != nil {
		rc.writeError(err)
		return
	}
	j, err := rc.s.cfg.Jobs.GetJob(rc.r.Context(), rc.account.ID, p.job)
	if err != nil {
		rc.writeError(err)
		return
	}
	if err := rc.checkConditions(j.ETag, j.LastModified, true); err != nil {
		rc.writeError(err)
		return
	}
	rc.setEntityHeaders(j.ETag, j.LastModified, "")
	rc.writeRaw(http.StatusOK, applySelect(rc.renderJob(&j), rc.selectParam()))
}

var jobFilterFields = []string{"state", "id", "executionInfo/poolId", "displayName"}

func hListJobs(rc *reqCtx, _ pathParams) {
	if !rc.requireJobs() {
		return
	}
	if err := rc.expandParam(); err != nil {
		rc.writeError(err)
		return
	}
	filter, err := rc.filterParam(jobFilterFields)
	if err != nil {
		rc.writeError(err)
		return
	}
	rc.writePaged("jobs", func(ctx context.Context, max int, token string) ([]listItem, string, error) {
		list, next, err := rc.s.cfg.Jobs.ListJobs(ctx, rc.account.ID, jobs.ListOptions{Filter: filter, MaxResults: max, PageToken: token})
		items := make([]listItem, 0, len(list))
		for i := range list {
			j := &list[i]
			items = append(items, listItem{body: rc.renderJob(j), fields: map[string]string{
				"state": j.State, "id": j.ID, "executionInfo/poolId": j.ExecutionInfo.PoolID, "displayName": j.DisplayName}})
		}
		return items, next, err
	}, filter)
}

func hPatchJob(rc *reqCtx, p pathParams) {
	if !rc.requireJobs() {
		return
	}
	var patch jobs.JobPatch
	if err := rc.decodeJSON(maxBody, &patch, false); err != nil {
		rc.writeError(err)
		return
	}
	cond, err := rc.conditions()
	if err != nil {
		rc.writeError(err)
		return
	}
	j, err := rc.s.cfg.Jobs.PatchJob(rc.r.Context(), rc.account.ID, p.job, patch, cond)
	rc.finishJobWrite(j, err, http.StatusOK)
}

func hReplaceJob(rc *reqCtx, p pathParams) {
	if !rc.requireJobs() {
		return
	}
	var repl jobs.JobReplace
	if err := rc.decodeJSON(maxBody, &repl, false); err != nil {
		rc.writeError(err)
		return
	}
	if repl.PoolInfo == nil {
		rc.writeError(missingProperty("poolInfo"))
		return
	}
	cond, err := rc.conditions()
	if err != nil {
		rc.writeError(err)
		return
	}
	j, err := rc.s.cfg.Jobs.ReplaceJob(rc.r.Context(), rc.account.ID, p.job, repl, cond)
	rc.finishJobWrite(j, err, http.StatusOK)
}

// finishJobWrite answers a job write with the job's new ETag.
func (rc *reqCtx) finishJobWrite(j jobs.Job, err error, status int) {
	if err != nil {
		rc.writeError(err)
		return
	}
	rc.setEntityHeaders(j.ETag, j.LastModified, rc.entityURL(jobPath(j.ID)))
	rc.writeEmpty(status)
}

// afterJobAction answers a job action (202) with the job's current ETag.
func (rc *reqCtx) afterJobAction(jobID string, err error, status int) {
	if err != nil {
		rc.writeError(err)
		return
	}
	if j, gerr := rc.s.cfg.Jobs.GetJob(rc.r.Context(), rc.account.ID, jobID); gerr == nil {
		rc.setEntityHeaders(j.ETag, j.LastModified, rc.entityURL(jobPath(j.ID)))
	} else {
		rc.w.Header().Set("DataServiceId", rc.entityURL(jobPath(jobID)))
	}
	rc.writeEmpty(status)
}

func hDeleteJob(rc *reqCtx, p pathParams) {
	if !rc.requireJobs() {
		return
	}
	if _, err := rc.boolParam("force"); err != nil {
		rc.writeError(err)
		return
	}
	cond, err := rc.conditions()
	if err != nil {
		rc.writeError(err)
		return
	}
	if err := rc.s.cfg.Jobs.DeleteJob(rc.r.Context(), rc.account.ID, p.job, cond); err != nil {
		rc.writeError(err)
		return
	}
	rc.writeEmpty(http.StatusAccepted)
}

func hJobAction(rc *reqCtx, p pathParams) {
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
		if _, err := rc.boolParam("force"); err != nil {
			rc.writeError(err)
			return
		}
		var body struct {
			TerminateReason string `json:"terminateReason"`
		}
		if err := rc.decodeJSON(maxBody, &body, true); err != nil {
			rc.writeError(err)
			return
		}
		rc.afterJobAction(p.job, rc.s.cfg.Jobs.TerminateJob(ctx, rc.account.ID, p.job, body.TerminateReason, cond), http.StatusAccepted)
	case "disable":
		var body struct {
			DisableTasks string `json:"disableTasks"`
		}
		if err := rc.decodeJSON(maxBody, &body, false); err != nil {
			rc.writeError(err)
			return
		}
		if body.DisableTasks == "" {
			rc.writeError(missingProperty("disableTasks"))
			return
		}
		rc.afterJobAction(p.job, rc.s.cfg.Jobs.DisableJob(ctx, rc.account.ID, p.job, body.DisableTasks, cond), http.StatusAccepted)
	case "enable":
		rc.afterJobAction(p.job, rc.s.cfg.Jobs.EnableJob(ctx, rc.account.ID, p.job, cond), http.StatusAccepted)
	default:
		rc.writeError(badURI())
	}
}

func hTaskCounts(rc *reqCtx, p pathParams) {
	if !rc.requireJobs() {
		return
	}
	c, err := rc.s.cfg.Jobs.JobTaskCounts(rc.r.Context(), rc.account.ID, p.job)
	if err != nil {
		rc.writeError(err)
		return
	}
	rc.writeJSON(http.StatusOK, c)
}

// writePaged writes one page of a list whose service pages itself. The
// service's page token becomes $skiptoken in an absolute nextLink. Pages the
// handler filters further may come out short; clients follow nextLink.
func (rc *reqCtx) writePaged(metadata string, fetch func(ctx context.Context, max int, token string) ([]listItem, string, error), filter *Filter) {
	max, err := rc.maxResults()
	if err != nil {
		rc.writeError(err)
		return
	}
	token, _ := rc.param("$skiptoken")
	items, next, err := fetch(rc.r.Context(), max, token)
	if err != nil {
		if cobalt.IsCode(err, cobalt.EInvalid) && token != "" {
			err = invalidQuery("$skiptoken", token, "The continuation token is not valid.")
		}
		rc.writeError(err)
		return
	}
	sel := rc.selectParam()
	page := make([]json.RawMessage, 0, len(items))
	for _, it := range items {
		if filter.Match(it.get) {
			page = append(page, applySelect(it.body, sel))
		}
	}
	out := struct {
		Metadata string            `json:"odata.metadata"`
		Value    []json.RawMessage `json:"value"`
		NextLink string            `json:"odata.nextLink,omitempty"`
	}{Metadata: rc.baseURL() + "/$metadata#" + metadata, Value: page}
	if next != "" {
		out.NextLink = rc.nextLinkToken(next)
	}
	rc.writeJSON(http.StatusOK, out)
}
