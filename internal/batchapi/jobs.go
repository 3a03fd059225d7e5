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
// is the Batch account's ARM resource ID. Errors are *cobalt.Error, and
// match the jobs package's conditions (jobs.ErrJobNotFound, ...), which
// jobReasons names in Batch's codes.
type Jobs interface {
	AddJob(ctx context.Context, accountID string, spec cobalt.JobSpec) (cobalt.Job, error)
	GetJob(ctx context.Context, accountID, jobID string) (cobalt.Job, error)
	ListJobs(ctx context.Context, accountID string, opt jobs.ListOptions) ([]cobalt.Job, string, error)
	PatchJob(ctx context.Context, accountID, jobID string, p jobs.JobPatch, cond jobs.Conditions) (cobalt.Job, error)
	ReplaceJob(ctx context.Context, accountID, jobID string, p jobs.JobReplace, cond jobs.Conditions) (cobalt.Job, error)
	DeleteJob(ctx context.Context, accountID, jobID string, cond jobs.Conditions) error
	TerminateJob(ctx context.Context, accountID, jobID, reason string, cond jobs.Conditions) error
	DisableJob(ctx context.Context, accountID, jobID, option string, cond jobs.Conditions) error
	EnableJob(ctx context.Context, accountID, jobID string, cond jobs.Conditions) error
	JobTaskCounts(ctx context.Context, accountID, jobID string) (jobs.TaskCountsResult, error)
	PrepReleaseStatus(ctx context.Context, accountID, jobID string, opt jobs.ListOptions) ([]cobalt.JobPrepReleaseStatus, string, error)
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
				return c, batchError(cobalt.EInvalid, codeInvalidHeader,
					"The value for one of the HTTP headers is not in the correct format.",
					"HeaderName", hd.name, "HeaderValue", truncate(v, 100))
			}
			*hd.dst = &t
		}
	}
	return c, nil
}

func jobPath(id string) string { return "/jobs/" + url.PathEscape(id) }

func (rc *reqCtx) renderJob(j *cobalt.Job) []byte {
	b, _ := json.Marshal(jobToWire(*j, rc.entityURL(jobPath(j.ID))))
	return b
}

// jobs returns the jobs service, or a 501 error when none is configured.
func (rc *reqCtx) jobs() (Jobs, error) {
	if rc.s.cfg.Jobs == nil {
		return nil, batchError(cobalt.EInvalid, codeNotImplemented, "Jobs are not available on this server.")
	}
	return rc.s.cfg.Jobs, nil
}

func handleAddJob(rc *reqCtx, _ pathParams) error {
	js, err := rc.jobs()
	if err != nil {
		return err
	}
	var w jobSpecWire
	if err := rc.decodeJSON(maxBody, &w, false); err != nil {
		return err
	}
	if w.ID == "" {
		return missingProperty("id")
	}
	spec, err := w.domain()
	if err != nil {
		return err
	}
	j, err := js.AddJob(rc.r.Context(), rc.account.ID, spec)
	if err != nil {
		return err
	}
	rc.setEntityHeaders(j.ETag, j.LastModified, rc.entityURL(jobPath(j.ID)))
	rc.w.Header().Set("Location", rc.entityURL(jobPath(j.ID)))
	rc.writeEmpty(http.StatusCreated)
	return nil
}

func handleGetJob(rc *reqCtx, p pathParams) error {
	js, err := rc.jobs()
	if err != nil {
		return err
	}
	if err := rc.expandParam(); err != nil {
		return err
	}
	j, err := js.GetJob(rc.r.Context(), rc.account.ID, p.job)
	if err != nil {
		return err
	}
	if err := rc.checkConditions(j.ETag, j.LastModified, true); err != nil {
		return err
	}
	body, err := rc.renderJobExpanded(rc.r.Context(), js, &j)
	if err != nil {
		return err
	}
	rc.setEntityHeaders(j.ETag, j.LastModified, "")
	rc.writeRaw(http.StatusOK, applySelect(body, rc.selectParam()))
	return nil
}

var jobFilterFields = []string{"state", "id", "executionInfo/poolId", "displayName"}

func handleListJobs(rc *reqCtx, _ pathParams) error {
	js, err := rc.jobs()
	if err != nil {
		return err
	}
	if err := rc.expandParam(); err != nil {
		return err
	}
	filter, err := rc.filterParam(jobFilterFields)
	if err != nil {
		return err
	}
	return rc.paged("jobs", func(ctx context.Context, max int, token string) ([]listItem, string, error) {
		list, next, err := js.ListJobs(ctx, rc.account.ID, jobs.ListOptions{Filter: filter, MaxResults: max, PageToken: token})
		items := make([]listItem, 0, len(list))
		for i := range list {
			j := &list[i]
			body, err := rc.renderJobExpanded(ctx, js, j)
			if err != nil {
				continue // deleted since listed
			}
			items = append(items, listItem{body: body, fields: map[string]string{
				"state": string(j.State), "id": j.ID, "executionInfo/poolId": j.ExecutionInfo.PoolID, "displayName": j.DisplayName}})
		}
		return items, next, err
	}, filter)
}

func handlePatchJob(rc *reqCtx, p pathParams) error {
	js, err := rc.jobs()
	if err != nil {
		return err
	}
	var w jobPatchWire
	if err := rc.decodeJSON(maxBody, &w, false); err != nil {
		return err
	}
	patch, err := w.domain()
	if err != nil {
		return err
	}
	cond, err := rc.conditions()
	if err != nil {
		return err
	}
	j, err := js.PatchJob(rc.r.Context(), rc.account.ID, p.job, patch, cond)
	if err != nil {
		return err
	}
	rc.finishJobWrite(j)
	return nil
}

func handleReplaceJob(rc *reqCtx, p pathParams) error {
	js, err := rc.jobs()
	if err != nil {
		return err
	}
	var w jobReplaceWire
	if err := rc.decodeJSON(maxBody, &w, false); err != nil {
		return err
	}
	if w.PoolInfo == nil {
		return missingProperty("poolInfo")
	}
	repl, err := w.domain()
	if err != nil {
		return err
	}
	cond, err := rc.conditions()
	if err != nil {
		return err
	}
	j, err := js.ReplaceJob(rc.r.Context(), rc.account.ID, p.job, repl, cond)
	if err != nil {
		return err
	}
	rc.finishJobWrite(j)
	return nil
}

// finishJobWrite answers a job write (200) with the job's new ETag.
func (rc *reqCtx) finishJobWrite(j cobalt.Job) {
	rc.setEntityHeaders(j.ETag, j.LastModified, rc.entityURL(jobPath(j.ID)))
	rc.writeEmpty(http.StatusOK)
}

// afterJobAction answers a job action (202) with the job's current ETag.
func (rc *reqCtx) afterJobAction(js Jobs, jobID string) {
	if j, gerr := js.GetJob(rc.r.Context(), rc.account.ID, jobID); gerr == nil {
		rc.setEntityHeaders(j.ETag, j.LastModified, rc.entityURL(jobPath(j.ID)))
	} else {
		rc.w.Header().Set("DataServiceId", rc.entityURL(jobPath(jobID)))
	}
	rc.writeEmpty(http.StatusAccepted)
}

func handleDeleteJob(rc *reqCtx, p pathParams) error {
	js, err := rc.jobs()
	if err != nil {
		return err
	}
	if _, err := rc.boolParam("force"); err != nil {
		return err
	}
	cond, err := rc.conditions()
	if err != nil {
		return err
	}
	if err := js.DeleteJob(rc.r.Context(), rc.account.ID, p.job, cond); err != nil {
		return err
	}
	rc.writeEmpty(http.StatusAccepted)
	return nil
}

func handleJobAction(rc *reqCtx, p pathParams) error {
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
		if _, err := rc.boolParam("force"); err != nil {
			return err
		}
		var body struct {
			TerminateReason string `json:"terminateReason"`
		}
		if err := rc.decodeJSON(maxBody, &body, true); err != nil {
			return err
		}
		err = js.TerminateJob(ctx, rc.account.ID, p.job, body.TerminateReason, cond)
	case "disable":
		var body struct {
			DisableTasks string `json:"disableTasks"`
		}
		if err := rc.decodeJSON(maxBody, &body, false); err != nil {
			return err
		}
		if body.DisableTasks == "" {
			return missingProperty("disableTasks")
		}
		err = js.DisableJob(ctx, rc.account.ID, p.job, body.DisableTasks, cond)
	case "enable":
		err = js.EnableJob(ctx, rc.account.ID, p.job, cond)
	default:
		return badURI()
	}
	if err != nil {
		return err
	}
	rc.afterJobAction(js, p.job)
	return nil
}

func handleTaskCounts(rc *reqCtx, p pathParams) error {
	js, err := rc.jobs()
	if err != nil {
		return err
	}
	c, err := js.JobTaskCounts(rc.r.Context(), rc.account.ID, p.job)
	if err != nil {
		return err
	}
	rc.writeJSON(http.StatusOK, taskCountsToWire(c))
	return nil
}

// paged writes one page of a list whose service pages itself. The
// service's page token becomes $skiptoken in an absolute nextLink. Pages the
// handler filters further may come out short; clients follow nextLink.
func (rc *reqCtx) paged(metadata string, fetch func(ctx context.Context, max int, token string) ([]listItem, string, error), filter *Filter) error {
	max, err := rc.maxResults()
	if err != nil {
		return err
	}
	token, _ := rc.param("$skiptoken")
	items, next, err := fetch(rc.r.Context(), max, token)
	if err != nil {
		if cobalt.IsCode(err, cobalt.EInvalid) && token != "" {
			err = invalidQuery("$skiptoken", token, "The continuation token is not valid.")
		}
		return err
	}
	sel := rc.selectParam()
	page := make([]json.RawMessage, 0, len(items))
	for _, it := range items {
		if filter.Match(it.get) {
			page = append(page, applySelect(it.body, sel))
		}
	}
	nextLink := ""
	if next != "" {
		nextLink = rc.nextLinkToken(next)
	}
	rc.writeRaw(http.StatusOK, listBody(rc.baseURL()+"/$metadata#"+metadata, page, nextLink))
	return nil
}

// listBody is the JSON of a list page, as json.Marshal would write it, from
// items already encoded by json.Marshal: they are copied, not compacted and
// validated again (for 1,000 tasks a page, the second pass over every
// byte was a fifth of a list request).
func listBody(metadata string, items []json.RawMessage, nextLink string) []byte {
	n := len(metadata) + len(nextLink) + 64
	for _, it := range items {
		n += len(it) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, `{"odata.metadata":`...)
	b = appendJSONString(b, metadata)
	b = append(b, `,"value":[`...)
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, it...)
	}
	b = append(b, ']')
	if nextLink != "" {
		b = append(b, `,"odata.nextLink":`...)
		b = appendJSONString(b, nextLink)
	}
	return append(b, '}')
}

// appendJSONString appends s as json.Marshal encodes a string.
func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always encodes
	return append(b, q...)
}
