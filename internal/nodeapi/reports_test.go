package nodeapi

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// TestReportsApplyThenLease: a batch of reports applies each report as
// PathReport would (a stale lease's is ignored, a refused one is named and
// the others still apply), then leases the queue's next task for the freed
// slot in the same response.
func TestReportsApplyThenLease(t *testing.T) {
	t.Parallel()
	f := newJobsFixture(t)
	f.register(t)
	f.heartbeat(t)
	l1 := f.leaseStarted(t, "t1")
	zero := 0
	if _, err := f.jobs.AddTask(context.Background(), f.acct.Key(), "j", cobalt.TaskSpec{ID: "t2", CommandLine: "/bin/true",
		Constraints: &cobalt.TaskConstraints{MaxTaskRetryCount: &zero}}); err != nil {
		t.Fatal(err)
	}
	exit, end := 0, time.Now()
	done := nodeproto.ReportRequest{LeaseID: l1.LeaseID, Event: "completed", StartTime: end, EndTime: &end, ExitCode: &exit}
	req := nodeproto.ReportsRequest{FreeSlots: 1, Reports: []nodeproto.ReportRequest{
		done,
		done, // sent again: its lease has ended, so it is ignored
		{LeaseID: "other", Event: "started", NodeID: "tvmps_someone_else_d"},
		{LeaseID: l1.LeaseID, Event: "exploded"},
	}}
	var resp nodeproto.ReportsResponse
	if st, e := f.call(t, f.node.Credential, nodeproto.PathReports, req, &resp); st != 200 {
		t.Fatalf("reports: %d %+v", st, e)
	}
	if tk := f.task(t, "t1"); tk.State != cobalt.TaskCompleted || tk.ExecutionInfo.Result != "success" || tk.ExecutionInfo.StartTime == nil {
		t.Fatalf("t1 after its batched completion: %s %q", tk.State, tk.ExecutionInfo.Result)
	}
	if len(resp.Errors) != 2 || resp.Errors[0].LeaseID != "other" || resp.Errors[0].Code != "Forbidden" ||
		resp.Errors[1].LeaseID != l1.LeaseID || resp.Errors[1].Code != string(cobalt.EInvalid) {
		t.Errorf("errors %+v, want the other node's report (Forbidden) and the unknown event (Invalid)", resp.Errors)
	}
	if len(resp.Leases) != 1 || resp.Leases[0].TaskID != "t2" {
		t.Fatalf("leases %+v, want t2 for the freed slot", resp.Leases)
	}
	if tk := f.task(t, "t2"); tk.State != cobalt.TaskRunning {
		t.Fatalf("t2 leased in the reports' response is %s", tk.State)
	}

	// No free slot: reports only, nothing leased.
	if _, err := f.jobs.AddTask(context.Background(), f.acct.Key(), "j", cobalt.TaskSpec{ID: "t3", CommandLine: "/bin/true"}); err != nil {
		t.Fatal(err)
	}
	done2 := nodeproto.ReportRequest{LeaseID: resp.Leases[0].LeaseID, Event: "completed", StartTime: end, EndTime: &end, ExitCode: &exit}
	resp = nodeproto.ReportsResponse{}
	if st, e := f.call(t, f.node.Credential, nodeproto.PathReports, nodeproto.ReportsRequest{Reports: []nodeproto.ReportRequest{done2}}, &resp); st != 200 {
		t.Fatalf("reports: %d %+v", st, e)
	}
	if len(resp.Leases) != 0 || len(resp.Errors) != 0 {
		t.Fatalf("response %+v, want no lease and no error", resp)
	}
	if tk := f.task(t, "t2"); tk.State != cobalt.TaskCompleted {
		t.Fatalf("t2 is %s", tk.State)
	}
	if tk := f.task(t, "t3"); tk.State != cobalt.TaskActive {
		t.Fatalf("t3 is %s, want active (no slot was offered)", tk.State)
	}

	// A free slot and nothing left to run: the claim stops before the
	// store, and the report is applied all the same.
	resp = nodeproto.ReportsResponse{}
	if st, e := f.call(t, f.node.Credential, nodeproto.PathReports, nodeproto.ReportsRequest{FreeSlots: 1}, &resp); st != 200 || len(resp.Leases) != 1 {
		t.Fatalf("lease t3: %d %+v %+v", st, e, resp)
	}
	done3 := nodeproto.ReportRequest{LeaseID: resp.Leases[0].LeaseID, Event: "completed", StartTime: end, EndTime: &end, ExitCode: &exit}
	resp = nodeproto.ReportsResponse{}
	if st, e := f.call(t, f.node.Credential, nodeproto.PathReports, nodeproto.ReportsRequest{FreeSlots: 1, Reports: []nodeproto.ReportRequest{done3}}, &resp); st != 200 {
		t.Fatalf("reports: %d %+v", st, e)
	}
	if len(resp.Leases) != 0 || len(resp.Errors) != 0 {
		t.Fatalf("response %+v, want no lease and no error", resp)
	}
	if tk := f.task(t, "t3"); tk.State != cobalt.TaskCompleted {
		t.Fatalf("t3 is %s after its completion with no work left", tk.State)
	}
}

// TestReportsBadRequests: a malformed batch gets the protocol's error body
// with a 4xx status, and changes nothing.
func TestReportsBadRequests(t *testing.T) {
	t.Parallel()
	f := newJobsFixture(t)
	f.register(t)
	many := nodeproto.ReportsRequest{Reports: make([]nodeproto.ReportRequest, nodeproto.MaxReports+1)}
	for _, c := range []struct {
		name string
		req  any
		cred string
		want int
	}{
		{"negative free slots", nodeproto.ReportsRequest{FreeSlots: -1}, f.node.Credential, 400},
		{"too many reports", many, f.node.Credential, 400},
		{"another node", nodeproto.ReportsRequest{NodeID: "tvmps_other_d"}, f.node.Credential, 403},
		{"no credential", nodeproto.ReportsRequest{}, "wrong", 401},
	} {
		var resp nodeproto.ReportsResponse
		if st, e := f.call(t, c.cred, nodeproto.PathReports, c.req, &resp); st != c.want || e.Code == "" {
			t.Errorf("%s: %d %+v, want %d with an error code", c.name, st, e, c.want)
		}
	}
}

// FuzzReportsBody: no body of a reports request makes the node API fail
// with a 5xx or crash.
func FuzzReportsBody(f *testing.F) {
	fx := newJobsFixture(f)
	var reg nodeproto.RegisterResponse
	fx.call(f, fx.node.Credential, nodeproto.PathRegister, nodeproto.RegisterRequest{NodeID: fx.node.NodeID}, &reg)
	for _, s := range []string{`{}`, `{"reports":[{"leaseId":"x","event":"completed"}],"freeSlots":2}`,
		`{"reports":[{"event":"coordinated"}]}`, `{"reports":null,"freeSlots":-3}`, `[`, `{"reports":[{"startTime":"x"}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		hr, _ := http.NewRequest("POST", fx.srv.URL+nodeproto.PathReports, bytes.NewReader(body))
		hr.Header.Set("Authorization", "Bearer "+fx.node.Credential)
		r, err := fx.srv.Client().Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode >= 500 {
			t.Fatalf("status %d for %q", r.StatusCode, body)
		}
	})
}
