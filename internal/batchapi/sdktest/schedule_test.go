package sdktest

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/batch/azbatch"

	"github.com/cobaltbatch/cobalt/internal/rbac"
	"github.com/cobaltbatch/cobalt/internal/testenv"
)

func scheduleJobIDs(ctx context.Context, t *testing.T, c *azbatch.Client, id string) []string {
	t.Helper()
	var ids []string
	for pg := c.NewListJobsFromSchedulePager(id, &azbatch.ListJobsFromScheduleOptions{MaxResults: to.Ptr[int32](1)}); pg.More(); {
		page, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListJobsFromSchedule: %v", err)
		}
		for _, j := range page.Value {
			ids = append(ids, *j.ID)
		}
	}
	return ids
}

// TestGoSDKJobSchedules drives every job schedule operation through azbatch:
// add (201), exists (200/404), get with $select, list with $filter and
// paging, patch, replace (PUT), disable and enable (204), the jobs it
// creates ({id}:job-{n}, listed from the schedule), terminate (202, which
// ends its active job) and delete (202, which deletes its jobs), with
// Batch's error codes.
func TestGoSDKJobSchedules(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, _ := e.goClient(e.newPrincipal(rbac.RoleBatchJobSubmitter))
	spec := &azbatch.JobSpecification{PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr("spool")}, Priority: to.Ptr[int32](5),
		Constraints: &azbatch.JobConstraints{MaxTaskRetryCount: to.Ptr[int32](2)}}
	add := azbatch.CreateJobScheduleContent{ID: to.Ptr("nightly"), DisplayName: to.Ptr("Nightly"),
		Schedule:         &azbatch.JobScheduleConfiguration{RecurrenceInterval: to.Ptr("PT1H"), StartWindow: to.Ptr("PT10M")},
		JobSpecification: spec, Metadata: []azbatch.MetadataItem{{Name: to.Ptr("team"), Value: to.Ptr("a")}}}
	created, err := c.CreateJobSchedule(ctx, add, nil)
	if err != nil {
		t.Fatalf("CreateJobSchedule: %v", err)
	}
	if created.ETag == nil || created.DataServiceID == nil {
		t.Fatalf("create response headers: %+v", created)
	}
	if _, err := c.CreateJobSchedule(ctx, add, nil); !hasCode(err, 409, "JobScheduleExists") {
		t.Fatalf("duplicate: %v", err)
	}
	bad := add
	bad.ID, bad.Schedule = to.Ptr("bad"), &azbatch.JobScheduleConfiguration{RecurrenceInterval: to.Ptr("PT30S")}
	if _, err := c.CreateJobSchedule(ctx, bad, nil); !hasCode(err, 400, "InvalidPropertyValue") {
		t.Fatalf("30 s recurrence: %v", err)
	}
	bad.Schedule = nil
	if _, err := c.CreateJobSchedule(ctx, bad, nil); !hasCode(err, 400, "MissingRequiredProperty") {
		t.Fatalf("no schedule: %v", err)
	}
	bad.Schedule = &azbatch.JobScheduleConfiguration{}
	bad.JobSpecification = &azbatch.JobSpecification{PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr("p")},
		JobReleaseTask: &azbatch.JobReleaseTask{CommandLine: to.Ptr("/bin/true")}}
	if _, err := c.CreateJobSchedule(ctx, bad, nil); !hasCode(err, 400, "InvalidPropertyValue") {
		t.Fatalf("a job release task without a preparation task: %v", err)
	}

	// JobScheduleExists answers both 200 and 404 without error: the status tells.
	var raw *http.Response
	capture := policy.WithCaptureResponse(ctx, &raw)
	if ex, err := c.JobScheduleExists(capture, "NIGHTLY", nil); err != nil || raw.StatusCode != 200 || ex.ETag == nil {
		t.Fatalf("JobScheduleExists: %+v %v", ex, err)
	}
	if _, err := c.JobScheduleExists(capture, "missing", nil); err != nil || raw.StatusCode != 404 {
		t.Fatalf("JobScheduleExists(missing): %d %v", raw.StatusCode, err)
	}
	if _, err := c.GetJobSchedule(ctx, "missing", nil); !hasCode(err, 404, "JobScheduleNotFound") {
		t.Fatalf("get missing: %v", err)
	}

	// It is due at once: the firing sweep creates its first job.
	if err := e.jobs.FireDueSchedules(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetJobSchedule(ctx, "nightly", nil)
	if err != nil {
		t.Fatalf("GetJobSchedule: %v", err)
	}
	s := got.JobSchedule
	if *s.ID != "nightly" || *s.DisplayName != "Nightly" || *s.State != azbatch.JobScheduleStateActive ||
		*s.Schedule.RecurrenceInterval != "PT1H" || *s.Schedule.StartWindow != "PT10M" ||
		*s.JobSpecification.PoolInfo.PoolID != "spool" || *s.JobSpecification.Priority != 5 || len(s.Metadata) != 1 ||
		s.ExecutionInfo == nil || s.ExecutionInfo.RecentJob == nil || *s.ExecutionInfo.RecentJob.ID != "nightly:job-1" ||
		s.ExecutionInfo.NextRunTime == nil || s.ExecutionInfo.NextRunTime.Sub(*s.StateTransitionTime) != time.Hour || s.URL == nil {
		t.Fatalf("GetJobSchedule: %+v", s)
	}
	job, err := c.GetJob(ctx, "nightly:job-1", nil)
	if err != nil || *job.PoolInfo.PoolID != "spool" || *job.Priority != 5 || *job.Constraints.MaxTaskRetryCount != 2 {
		t.Fatalf("the schedule's job: %+v %v", job.Job, err)
	}
	sel, err := c.GetJobSchedule(ctx, "nightly", &azbatch.GetJobScheduleOptions{SelectParam: []string{"id", "state"}})
	if err != nil || sel.Schedule != nil || *sel.State != azbatch.JobScheduleStateActive {
		t.Fatalf("$select: %+v %v", sel.JobSchedule, err)
	}

	// A second, one-off schedule, for the lists.
	if _, err := c.CreateJobSchedule(ctx, azbatch.CreateJobScheduleContent{ID: to.Ptr("once"),
		Schedule:         &azbatch.JobScheduleConfiguration{DoNotRunUntil: to.Ptr(time.Now().Add(time.Hour))},
		JobSpecification: spec}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DisableJobSchedule(ctx, "once", nil); err != nil {
		t.Fatalf("DisableJobSchedule: %v", err)
	}
	list := func(opts *azbatch.ListJobSchedulesOptions) []string {
		var ids []string
		for pg := c.NewListJobSchedulesPager(opts); pg.More(); {
			page, err := pg.NextPage(ctx)
			if err != nil {
				t.Fatalf("ListJobSchedules: %v", err)
			}
			for _, s := range page.Value {
				ids = append(ids, *s.ID)
			}
		}
		return ids
	}
	if ids := list(&azbatch.ListJobSchedulesOptions{MaxResults: to.Ptr[int32](1)}); !slices.Equal(ids, []string{"nightly", "once"}) {
		t.Fatalf("list = %v", ids)
	}
	if ids := list(&azbatch.ListJobSchedulesOptions{Filter: to.Ptr("state eq 'disabled'")}); !slices.Equal(ids, []string{"once"}) {
		t.Fatalf("list disabled = %v", ids)
	}
	if _, err := c.EnableJobSchedule(ctx, "once", nil); err != nil {
		t.Fatalf("EnableJobSchedule: %v", err)
	}
	if g, _ := c.GetJobSchedule(ctx, "once", nil); *g.State != azbatch.JobScheduleStateActive || *g.PreviousState != azbatch.JobScheduleStateDisabled {
		t.Fatalf("enabled: %s (previous %v)", *g.State, g.PreviousState)
	}

	// Patch and replace.
	if _, err := c.UpdateJobSchedule(ctx, "nightly", azbatch.UpdateJobScheduleContent{
		Metadata: []azbatch.MetadataItem{{Name: to.Ptr("team"), Value: to.Ptr("b")}}}, nil); err != nil {
		t.Fatalf("UpdateJobSchedule: %v", err)
	}
	if _, err := c.UpdateJobSchedule(ctx, "nightly", azbatch.UpdateJobScheduleContent{},
		&azbatch.UpdateJobScheduleOptions{IfMatch: created.ETag}); !hasCode(err, 412, "ConditionNotMet") {
		t.Fatalf("patch with a stale If-Match: %v", err)
	}
	g, _ := c.GetJobSchedule(ctx, "nightly", nil)
	if *g.Metadata[0].Value != "b" || *g.Schedule.RecurrenceInterval != "PT1H" {
		t.Fatalf("patched: %+v", g.JobSchedule)
	}
	if _, err := c.ReplaceJobSchedule(ctx, "nightly", azbatch.JobSchedule{
		Schedule:         &azbatch.JobScheduleConfiguration{RecurrenceInterval: to.Ptr("PT2H")},
		JobSpecification: &azbatch.JobSpecification{PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr("other")}}}, nil); err != nil {
		t.Fatalf("ReplaceJobSchedule: %v", err)
	}
	g, _ = c.GetJobSchedule(ctx, "nightly", nil)
	if len(g.Metadata) != 0 || *g.Schedule.RecurrenceInterval != "PT2H" || g.Schedule.StartWindow != nil ||
		*g.JobSpecification.PoolInfo.PoolID != "other" || g.ExecutionInfo.NextRunTime.Sub(*g.StateTransitionTime) != 2*time.Hour {
		t.Fatalf("replaced: %+v", g.JobSchedule)
	}

	if ids := scheduleJobIDs(ctx, t, c, "nightly"); !slices.Equal(ids, []string{"nightly:job-1"}) {
		t.Fatalf("ListJobsFromSchedule = %v", ids)
	}
	if _, err := c.GetJob(ctx, "nightly:job-1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.TerminateJobSchedule(ctx, "nightly", nil); err != nil {
		t.Fatalf("TerminateJobSchedule: %v", err)
	}
	g, _ = c.GetJobSchedule(ctx, "nightly", nil)
	if *g.State != azbatch.JobScheduleStateCompleted || g.ExecutionInfo.EndTime == nil || g.ExecutionInfo.NextRunTime != nil {
		t.Fatalf("terminated: %+v", g.JobSchedule)
	}
	if j, _ := c.GetJob(ctx, "nightly:job-1", nil); *j.State != azbatch.JobStateCompleted {
		t.Fatalf("its job is %s", *j.State)
	}
	if _, err := c.UpdateJobSchedule(ctx, "nightly", azbatch.UpdateJobScheduleContent{}, nil); !hasCode(err, 409, "JobScheduleCompleted") {
		t.Fatalf("patch a completed schedule: %v", err)
	}
	if _, err := c.DeleteJobSchedule(ctx, "nightly", nil); err != nil {
		t.Fatalf("DeleteJobSchedule: %v", err)
	}
	if _, err := c.GetJob(ctx, "nightly:job-1", nil); !hasCode(err, 404, "JobNotFound") {
		t.Fatalf("the schedule's job after delete: %v", err)
	}
	if _, err := c.DeleteJobSchedule(ctx, "nightly", nil); !hasCode(err, 404, "JobScheduleNotFound") {
		t.Fatalf("delete twice: %v", err)
	}
	if _, err := c.NewListJobsFromSchedulePager("nightly", nil).NextPage(ctx); !hasCode(err, 404, "JobScheduleNotFound") {
		t.Fatalf("jobs of a deleted schedule: %v", err)
	}

	// A reader may read schedules but not change them.
	r, _ := e.goClient(e.newPrincipal(rbac.RoleBatchAccountReader))
	if _, err := r.GetJobSchedule(ctx, "once", nil); err != nil {
		t.Fatalf("reader get: %v", err)
	}
	if _, err := r.DisableJobSchedule(ctx, "once", nil); !hasCode(err, 403, "AuthorizationFailure") {
		t.Fatalf("reader disable: %v", err)
	}
}

func hasCode(err error, status int, code string) bool {
	s, c := respCode(err)
	return s == status && c == code
}

// TestNodeSDKJobSchedules runs test/node/batch/schedules.js (@azure/batch
// with SharedKey): add, get, list, the schedule's job, terminate.
func TestNodeSDKJobSchedules(t *testing.T) {
	testenv.Require(t, testenv.NodeModule(batchModule))
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var got struct {
		Duplicate struct {
			StatusCode int    `json:"statusCode"`
			Code       string `json:"code"`
		} `json:"duplicate"`
		Get struct {
			ID                 string `json:"id"`
			DisplayName        string `json:"displayName"`
			State              string `json:"state"`
			RecurrenceInterval string `json:"recurrenceInterval"`
			StartWindow        string `json:"startWindow"`
			PoolID             string `json:"poolId"`
			Priority           int    `json:"priority"`
			Metadata           []struct{ Name, Value string }
			HasNextRunTime     bool `json:"hasNextRunTime"`
		} `json:"get"`
		Listed         []string `json:"listed"`
		RecentJob      string   `json:"recentJob"`
		RecentJobState string   `json:"recentJobState"`
		Terminated     struct {
			State      string `json:"state"`
			HasEndTime bool   `json:"hasEndTime"`
		} `json:"terminated"`
		RecentJobAfter string `json:"recentJobAfter"`
	}
	testenv.RunNodeJSON(ctx, t, testenv.NodeRun{Script: "batch/schedules.js", Modules: []string{batchModule}, CAFile: e.ca.CAFile(),
		Env: map[string]string{"BATCH_URL": "https://" + e.endpoint, "BATCH_ACCOUNT": e.account, "BATCH_KEY": e.key, "POOL_ID": "npool"}}, &got)
	if got.Duplicate.StatusCode != 409 || got.Duplicate.Code != "JobScheduleExists" {
		t.Errorf("duplicate add: %+v", got.Duplicate)
	}
	g := got.Get
	if g.ID != "node-hourly" || g.DisplayName != "Hourly" || g.State != "active" || g.RecurrenceInterval != "PT1H" ||
		g.StartWindow != "PT10M" || g.PoolID != "npool" || g.Priority != 4 || len(g.Metadata) != 1 || !g.HasNextRunTime {
		t.Errorf("get: %+v", g)
	}
	if !slices.Equal(got.Listed, []string{"node-hourly", "node-later"}) {
		t.Errorf("listed %v", got.Listed)
	}
	if got.RecentJob != "node-hourly:job-1" || got.RecentJobState != "active" {
		t.Errorf("the schedule's job: %s %s", got.RecentJob, got.RecentJobState)
	}
	if got.Terminated.State != "completed" || !got.Terminated.HasEndTime || got.RecentJobAfter != "completed" {
		t.Errorf("terminated: %+v, its job %s", got.Terminated, got.RecentJobAfter)
	}
}
