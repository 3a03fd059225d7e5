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

// Schedules is the job schedules service; *jobs.Service implements it, and
// the data plane finds it on Config.Jobs. Errors are *cobalt.Error matching
// the jobs package's conditions (jobs.ErrJobScheduleNotFound, ...).
type Schedules interface {
	AddJobSchedule(ctx context.Context, accountID string, spec cobalt.JobScheduleSpec) (cobalt.JobSchedule, error)
	GetJobSchedule(ctx context.Context, accountID, id string) (cobalt.JobSchedule, error)
	ListJobSchedules(ctx context.Context, accountID string, opt jobs.ListOptions) ([]cobalt.JobSchedule, string, error)
	ListJobScheduleJobs(ctx context.Context, accountID, id string, opt jobs.ListOptions) ([]cobalt.Job, string, error)
	PatchJobSchedule(ctx context.Context, accountID, id string, p jobs.JobSchedulePatch, cond jobs.Conditions) (cobalt.JobSchedule, error)
	ReplaceJobSchedule(ctx context.Context, accountID, id string, sched cobalt.JobScheduleConfiguration, js cobalt.JobSpec, meta []cobalt.NameValue, cond jobs.Conditions) (cobalt.JobSchedule, error)
	DisableJobSchedule(ctx context.Context, accountID, id string, cond jobs.Conditions) error
	EnableJobSchedule(ctx context.Context, accountID, id string, cond jobs.Conditions) error
	TerminateJobSchedule(ctx context.Context, accountID, id string, cond jobs.Conditions) error
	DeleteJobSchedule(ctx context.Context, accountID, id string, cond jobs.Conditions) error
}

// Permissions of the job schedule operations: Azure's data actions.
var (
	permScheduleRead   = permission{action: "Microsoft.Batch/batchAccounts/jobSchedules/read", data: true, read: true}
	permScheduleWrite  = permission{action: "Microsoft.Batch/batchAccounts/jobSchedules/write", data: true}
	permScheduleDelete = permission{action: "Microsoft.Batch/batchAccounts/jobSchedules/delete", data: true}
)

func jobSchedulePath(id string) string { return "/jobschedules/" + url.PathEscape(id) }

// scheduleRoute routes /jobschedules and what is under it.
func scheduleRoute(m string, segs []string, p *pathParams) *route {
	switch n := len(segs); {
	case n == 1:
		return pick(m, map[string]route{"GET": {permScheduleRead, handleListJobSchedules}, "POST": {permScheduleWrite, handleAddJobSchedule}})
	case n == 2:
		p.schedule = segs[1]
		return pick(m, map[string]route{"GET": {permScheduleRead, handleGetJobSchedule}, "HEAD": {permScheduleRead, handleJobScheduleExists},
			"PATCH": {permScheduleWrite, handlePatchJobSchedule}, "PUT": {permScheduleWrite, handleReplaceJobSchedule},
			"DELETE": {permScheduleDelete, handleDeleteJobSchedule}})
	case n == 3:
		p.schedule = segs[1]
		switch strings.ToLower(segs[2]) {
		case "disable", "enable", "terminate":
			return pick(m, map[string]route{"POST": {permScheduleWrite, handleJobScheduleAction}})
		case "jobs":
			return pick(m, map[string]route{"GET": {permJobRead, handleListJobScheduleJobs}})
		}
	}
	return nil
}

// schedules returns the job schedules service, or a 501 error when none is configured.
func (rc *reqCtx) schedules() (Schedules, error) {
	if ss, ok := rc.s.cfg.Jobs.(Schedules); ok {
		return ss, nil
	}
	return nil, batchError(cobalt.EInvalid, codeNotImplemented, "Job schedules are not available on this server.")
}

func (rc *reqCtx) renderJobSchedule(s cobalt.JobSchedule) []byte {
	b, _ := json.Marshal(rc.jobScheduleToWire(s))
	return b
}

func handleAddJobSchedule(rc *reqCtx, _ pathParams) error {
	ss, err := rc.schedules()
	if err != nil {
		return err
	}
	b, err := rc.readBody(maxBody)
	if err != nil {
		return err
	}
	spec, err := decodeJobScheduleAdd(b)
	if err != nil {
		return err
	}
	s, err := ss.AddJobSchedule(rc.r.Context(), rc.account.ID, spec)
	if err != nil {
		return err
	}
	u := rc.entityURL(jobSchedulePath(s.ID))
	rc.setEntityHeaders(s.ETag, s.LastModified, u)
	rc.w.Header().Set("Location", u)
	rc.writeEmpty(http.StatusCreated)
	return nil
}

func handleGetJobSchedule(rc *reqCtx, p pathParams) error {
	ss, err := rc.schedules()
	if err != nil {
		return err
	}
	if err := rc.expandParam(); err != nil {
		return err
	}
	s, err := ss.GetJobSchedule(rc.r.Context(), rc.account.ID, p.schedule)
	if err != nil {
		return err
	}
	if err := rc.checkConditions(s.ETag, s.LastModified, true); err != nil {
		return err
	}
	rc.setEntityHeaders(s.ETag, s.LastModified, "")
	rc.writeRaw(http.StatusOK, applySelect(rc.renderJobSchedule(s), rc.selectParam()))
	return nil
}

func handleJobScheduleExists(rc *reqCtx, p pathParams) error {
	ss, err := rc.schedules()
	if err != nil {
		return err
	}
	s, err := ss.GetJobSchedule(rc.r.Context(), rc.account.ID, p.schedule)
	if err != nil {
		return err
	}
	if err := rc.checkConditions(s.ETag, s.LastModified, true); err != nil {
		return err
	}
	rc.setEntityHeaders(s.ETag, s.LastModified, "")
	rc.writeEmpty(http.StatusOK)
	return nil
}

var scheduleFilterFields = []string{"state", "id", "displayName"}

func handleListJobSchedules(rc *reqCtx, _ pathParams) error {
	ss, err := rc.schedules()
	if err != nil {
		return err
	}
	if err := rc.expandParam(); err != nil {
		return err
	}
	filter, err := rc.filterParam(scheduleFilterFields)
	if err != nil {
		return err
	}
	return rc.paged("jobschedules", func(ctx context.Context, max int, token string) ([]listItem, string, error) {
		list, next, err := ss.ListJobSchedules(ctx, rc.account.ID, jobs.ListOptions{Filter: filter, MaxResults: max, PageToken: token})
		items := make([]listItem, 0, len(list))
		for _, s := range list {
			items = append(items, listItem{body: rc.renderJobSchedule(s), fields: map[string]string{
				"state": string(s.State), "id": s.ID, "displayName": s.DisplayName}})
		}
		return items, next, err
	}, filter)
}

func handleListJobScheduleJobs(rc *reqCtx, p pathParams) error {
	ss, err := rc.schedules()
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
		list, next, err := ss.ListJobScheduleJobs(ctx, rc.account.ID, p.schedule, jobs.ListOptions{Filter: filter, MaxResults: max, PageToken: token})
		items := make([]listItem, 0, len(list))
		for i := range list {
			j := &list[i]
			items = append(items, listItem{body: rc.renderJob(j), fields: map[string]string{
				"state": string(j.State), "id": j.ID, "executionInfo/poolId": j.ExecutionInfo.PoolID, "displayName": j.DisplayName}})
		}
		return items, next, err
	}, filter)
}

func handlePatchJobSchedule(rc *reqCtx, p pathParams) error {
	return rc.writeJobSchedule(p, false)
}

func handleReplaceJobSchedule(rc *reqCtx, p pathParams) error {
	return rc.writeJobSchedule(p, true)
}

// writeJobSchedule serves PATCH and PUT (replace): 200 with the new ETag.
func (rc *reqCtx) writeJobSchedule(p pathParams, replace bool) error {
	ss, err := rc.schedules()
	if err != nil {
		return err
	}
	b, err := rc.readBody(maxBody)
	if err != nil {
		return err
	}
	patch, err := decodeJobSchedulePatch(b, replace)
	if err != nil {
		return err
	}
	cond, err := rc.conditions()
	if err != nil {
		return err
	}
	var s cobalt.JobSchedule
	if replace {
		var sched cobalt.JobScheduleConfiguration
		if patch.Schedule != nil {
			sched = *patch.Schedule
		}
		var meta []cobalt.NameValue
		if patch.Metadata != nil {
			meta = *patch.Metadata
		}
		s, err = ss.ReplaceJobSchedule(rc.r.Context(), rc.account.ID, p.schedule, sched, *patch.JobSpecification, meta, cond)
	} else {
		s, err = ss.PatchJobSchedule(rc.r.Context(), rc.account.ID, p.schedule, patch, cond)
	}
	if err != nil {
		return err
	}
	rc.setEntityHeaders(s.ETag, s.LastModified, rc.entityURL(jobSchedulePath(s.ID)))
	rc.writeEmpty(http.StatusOK)
	return nil
}

func handleDeleteJobSchedule(rc *reqCtx, p pathParams) error {
	ss, err := rc.schedules()
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
	if err := ss.DeleteJobSchedule(rc.r.Context(), rc.account.ID, p.schedule, cond); err != nil {
		return err
	}
	rc.writeEmpty(http.StatusAccepted)
	return nil
}

// handleJobScheduleAction serves disable and enable (204) and terminate (202).
func handleJobScheduleAction(rc *reqCtx, p pathParams) error {
	ss, err := rc.schedules()
	if err != nil {
		return err
	}
	cond, err := rc.conditions()
	if err != nil {
		return err
	}
	ctx, status := rc.r.Context(), http.StatusNoContent
	switch p.action {
	case "disable":
		err = ss.DisableJobSchedule(ctx, rc.account.ID, p.schedule, cond)
	case "enable":
		err = ss.EnableJobSchedule(ctx, rc.account.ID, p.schedule, cond)
	case "terminate":
		if _, err := rc.boolParam("force"); err != nil {
			return err
		}
		err, status = ss.TerminateJobSchedule(ctx, rc.account.ID, p.schedule, cond), http.StatusAccepted
	default:
		return badURI()
	}
	if err != nil {
		return err
	}
	if s, gerr := ss.GetJobSchedule(ctx, rc.account.ID, p.schedule); gerr == nil {
		rc.setEntityHeaders(s.ETag, s.LastModified, rc.entityURL(jobSchedulePath(s.ID)))
	}
	rc.writeEmpty(status)
	return nil
}
