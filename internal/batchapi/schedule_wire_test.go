package batchapi

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	cobalt "github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/batchwire"
)

const scheduleAddBody = `{"id":"s","displayName":"S","schedule":{"doNotRunUntil":"2026-01-01T00:00:00Z","doNotRunAfter":"2026-02-01T00:00:00.1234567Z",
	"startWindow":"PT5M","recurrenceInterval":"P1DT2H"},"jobSpecification":{"poolInfo":{"poolId":"p"},"priority":3,
	"constraints":{"maxWallClockTime":"PT1H"},"onAllTasksComplete":"terminatejob","commonEnvironmentSettings":[{"name":"A","value":"1"}]},
	"metadata":[{"name":"m","value":"v"}]}`

func TestDecodeJobScheduleAdd(t *testing.T) {
	t.Parallel()
	s, err := decodeJobScheduleAdd([]byte(scheduleAddBody))
	if err != nil {
		t.Fatal(err)
	}
	c := s.Schedule
	if s.ID != "s" || c.DoNotRunUntil == nil || !c.DoNotRunUntil.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) ||
		c.StartWindow.Std() != 5*time.Minute || c.RecurrenceInterval.Std() != 26*time.Hour ||
		s.JobSpecification.PoolInfo.PoolID != "p" || *s.JobSpecification.Priority != 3 || s.JobSpecification.ID != "" ||
		len(s.Metadata) != 1 || len(s.JobSpecification.CommonEnvironmentSettings) != 1 {
		t.Fatalf("decoded %+v", s)
	}
	for body, code := range map[string]string{
		`{"schedule":{},"jobSpecification":{"poolInfo":{"poolId":"p"}}}`:                             codeMissingProperty,
		`{"id":"s","jobSpecification":{"poolInfo":{"poolId":"p"}}}`:                                  codeMissingProperty,
		`{"id":"s","schedule":{}}`:                                                                   codeMissingProperty,
		`{"id":"s","schedule":{"recurrenceInterval":"1 hour"},"jobSpecification":{}}`:                codeInvalidBody,
		`{"id":"s","schedule":{"doNotRunUntil":"tomorrow"},"jobSpecification":{}}`:                   codeInvalidBody,
		`{"id":"s","schedule":{},"jobSpecification":{"poolInfo":{"autoPoolSpecification":{"x":1}}}}`: codeUnsupportedProp,
		`{"id":"s","schedule":{},"jobSpecification":{"priority":"high"}}`:                            codeInvalidProperty,
		`[]`: codeInvalidBody,
	} {
		_, err := decodeJobScheduleAdd([]byte(body))
		if cobalt.ErrorCode(err) != cobalt.EInvalid || cobalt.ErrorReason(err) != code {
			t.Errorf("%s: %v (%s), want %s", body, err, cobalt.ErrorReason(err), code)
		}
	}
	if _, err := decodeJobSchedulePatch([]byte(`{"schedule":{}}`), true); cobalt.ErrorReason(err) != codeMissingProperty {
		t.Errorf("PUT without jobSpecification: %v", err)
	}
	p, err := decodeJobSchedulePatch([]byte(`{"metadata":[]}`), false)
	if err != nil || p.Metadata == nil || len(*p.Metadata) != 0 || p.Schedule != nil || p.JobSpecification != nil {
		t.Fatalf("patch clearing metadata: %+v %v", p, err)
	}
}

// TestJobScheduleRendering: the jobSpecification of a returned schedule
// has no id, and recentJob carries the job's URL.
func TestJobScheduleRendering(t *testing.T) {
	t.Parallel()
	spec, err := decodeJobScheduleAdd([]byte(scheduleAddBody))
	if err != nil {
		t.Fatal(err)
	}
	rc := &reqCtx{r: httptest.NewRequest("GET", "https://acct.example/jobschedules/s", nil)}
	b, _ := json.Marshal(rc.jobScheduleToWire(cobalt.JobSchedule{JobScheduleSpec: spec, State: cobalt.JobScheduleActive,
		ExecutionInfo: cobalt.JobScheduleExecutionInfo{RecentJob: &cobalt.RecentJob{ID: "s:job-1"}}}))
	var got map[string]any
	_ = json.Unmarshal(b, &got)
	js := got["jobSpecification"].(map[string]any)
	if _, ok := js["id"]; ok {
		t.Errorf("jobSpecification has an id: %s", b)
	}
	rj := got["executionInfo"].(map[string]any)["recentJob"].(map[string]any)
	if rj["id"] != "s:job-1" || !strings.HasSuffix(rj["url"].(string), "/jobs/s:job-1") {
		t.Errorf("recentJob = %v", rj)
	}
	if got["schedule"].(map[string]any)["recurrenceInterval"] != "P1DT2H" {
		t.Errorf("schedule = %v", got["schedule"])
	}
}

// FuzzDecodeJobSchedule: any add, patch or replace body decodes or gets a
// 400 with a Batch code, and what decodes survives the stored form
// unchanged.
func FuzzDecodeJobSchedule(f *testing.F) {
	f.Add([]byte(scheduleAddBody), 0)
	f.Add([]byte(`{"schedule":{"recurrenceInterval":"PT1M"},"metadata":[]}`), 1)
	f.Add([]byte(`{"jobSpecification":{"poolInfo":{"poolId":"p"},"jobManagerTask":null}}`), 2)
	f.Add([]byte(`{"id":"s","schedule":{"startWindow":"P10675199DT2H48M5.4775807S"},"jobSpecification":{}}`), 0)
	f.Fuzz(func(t *testing.T, body []byte, mode int) {
		var spec cobalt.JobScheduleSpec
		switch ((mode % 3) + 3) % 3 {
		case 0:
			s, err := decodeJobScheduleAdd(body)
			if err != nil {
				if cobalt.ErrorCode(err) != cobalt.EInvalid || cobalt.ErrorReason(err) == "" {
					t.Fatalf("not a Batch 400: %v", err)
				}
				return
			}
			spec = s
		default:
			p, err := decodeJobSchedulePatch(body, mode%3 != 1)
			if err != nil {
				if cobalt.ErrorCode(err) != cobalt.EInvalid || cobalt.ErrorReason(err) == "" {
					t.Fatalf("not a Batch 400: %v", err)
				}
				return
			}
			if p.Schedule != nil {
				spec.Schedule = *p.Schedule
			}
			if p.JobSpecification != nil {
				spec.JobSpecification = *p.JobSpecification
			}
		}
		once, _ := json.Marshal(batchwire.FromJobScheduleSpec(spec))
		var back batchwire.JobScheduleSpec
		if err := json.Unmarshal(once, &back); err != nil {
			t.Fatalf("the stored form does not decode: %v\n%s", err, once)
		}
		twice, _ := json.Marshal(batchwire.FromJobScheduleSpec(back.ToDomain()))
		if !bytes.Equal(once, twice) {
			t.Fatalf("the stored form changes on a round trip:\n%s\n%s", once, twice)
		}
	})
}
