package batchapi

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	cobalt "github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/batchwire"
	"github.com/cobaltbatch/cobalt/internal/jobs"
)

func TestToAPIError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err    error
		status int
		code   string
	}{
		{cobalt.Errorf(cobalt.ENotFound, "x"), 404, "ResourceNotFound"},
		{cobalt.Errorf(cobalt.ENotFound, "x").WithReason("JobNotFound"), 404, "JobNotFound"},
		{cobalt.Errorf(cobalt.EConflict, "x").WithReason("TaskExists"), 409, "TaskExists"},
		{cobalt.Errorf(cobalt.EConflict, "x"), 409, codeInvalidState},
		// The jobs service's errors are a *cobalt.Error that also matches a condition.
		{fmt.Errorf("add: %w", errors.Join(cobalt.Errorf(cobalt.EConflict, "x"), jobs.ErrTaskExists)), 409, "TaskExists"},
		{errors.Join(cobalt.Errorf(cobalt.ENotFound, "x"), jobs.ErrJobNotFound), 404, "JobNotFound"},
		{errors.Join(cobalt.Errorf(cobalt.EInvalid, "x").WithTarget("id"), jobs.ErrMissingProperty), 400, codeMissingProperty},
		{cobalt.Errorf(cobalt.EInvalid, "x").WithTarget("priority"), 400, codeInvalidProperty},
		{cobalt.Errorf(cobalt.EInvalid, "x").WithReason("MissingRequiredProperty"), 400, "MissingRequiredProperty"},
		{cobalt.Errorf(cobalt.EPreconditionFailed, "x"), 412, codeConditionNotMet},
		{cobalt.Errorf(cobalt.ETooLarge, "x"), 413, codeBodyTooLarge},
		{cobalt.Errorf(cobalt.EForbidden, "x"), 403, codeAuthzFailed},
		{cobalt.Errorf(cobalt.EUnauthorized, "x"), 401, codeAuthFailed},
		{authFailed(cobalt.EForbidden, "bad signature"), 403, codeAuthFailed},
		{batchError(cobalt.EInvalid, codeInvalidRange, "x"), 416, codeInvalidRange},
		{batchError(cobalt.EInvalid, codeNotImplemented, "x"), 501, codeNotImplemented},
		{fmt.Errorf("wrapped: %w", cobalt.Errorf(cobalt.ENotFound, "x").WithReason("PoolNotFound")), 404, "PoolNotFound"},
		{errors.New("boom"), 500, codeInternal},
		{invalidQuery("maxresults", "0", "r"), 400, codeInvalidQuery},
		{tooLarge(1), 413, codeBodyTooLarge},
	}
	for _, tt := range tests {
		e := toWireError(tt.err)
		if e.Status != tt.status || e.Code != tt.code {
			t.Errorf("toWireError(%v) = %d %s, want %d %s", tt.err, e.Status, e.Code, tt.status, tt.code)
		}
	}
	if e := toWireError(errors.New("secret detail")); strings.Contains(e.Msg, "secret") {
		t.Errorf("internal error leaks its detail: %q", e.Msg)
	}
	if e := toWireError(cobalt.Errorf(cobalt.EInvalid, "x").WithTarget("priority")); len(e.Values) != 1 || e.Values[0].Value != "priority" {
		t.Errorf("target not in values: %+v", e.Values)
	}
}

func TestDecodeBody(t *testing.T) {
	t.Parallel()
	type body struct {
		ID       string `json:"id"`
		Priority *int   `json:"priority"`
	}
	tests := []struct {
		in       string
		optional bool
		code     string
	}{
		{`{"id":"a","unknownProperty":{"x":1}}`, false, ""},
		{``, true, ""},
		{``, false, codeInvalidBody},
		{`{"id":`, false, codeInvalidBody},
		{`{"id":"a"} {"id":"b"}`, false, codeInvalidBody},
		{`{"priority":"high"}`, false, codeInvalidProperty},
		{`[1,2]`, false, codeInvalidBody},
	}
	for _, tt := range tests {
		var b body
		err := decodeBody([]byte(tt.in), &b, tt.optional)
		got := ""
		if err != nil {
			got = toWireError(err).Code
		}
		if got != tt.code {
			t.Errorf("decodeBody(%q) = %q, want %q", tt.in, got, tt.code)
		}
	}
}

// FuzzDecodeBody feeds the request body decoder with the body types the
// handlers use (jobs, job patches, tasks, add collections): any input is
// either decoded or a 400, never a panic.
func FuzzDecodeBody(f *testing.F) {
	for _, s := range []string{`{"id":"a","poolInfo":{"poolId":"p"},"constraints":{"maxWallClockTime":"PT1H"}}`,
		`{"value":[{"id":"t","commandLine":"x","constraints":{"retentionTime":"P7D","maxTaskRetryCount":3}}]}`,
		`{`, `null`, `[]`, `{"priority":1e999}`, `{"constraints":{"maxWallClockTime":"P10675199DT2H48M5.4775807S"}}`,
		`{"metadata":[{"name":"a","value":"b"}],"onAllTasksComplete":"terminatejob"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(v any) {
			if err := decodeBody(b, v, false); err != nil {
				if e := toWireError(err); e.Status != 400 {
					t.Fatalf("status %d for %q", e.Status, b)
				}
			}
		}
		check(&jobSpecWire{})
		check(&jobPatchWire{})
		check(&jobReplaceWire{})
		check(&taskSpecWire{})
		check(&struct {
			Value []json.RawMessage `json:"value"`
		}{})
		check(&struct {
			Constraints *batchwire.TaskConstraints `json:"constraints"`
		}{})
	})
}

// memAccounts is a fixed account list standing in for the pools service.
type memAccounts map[string]Account

func (m memAccounts) LookupBatchAccount(_ context.Context, name string) (Account, error) {
	a, ok := m[strings.ToLower(name)]
	if !ok {
		return Account{}, cobalt.Errorf(cobalt.ENotFound, "no account")
	}
	return a, nil
}

func (m memAccounts) ListBatchAccounts(context.Context) ([]Account, error) {
	var out []Account
	for _, a := range m {
		out = append(out, a)
	}
	return out, nil
}

// fakeValidator accepts "tok-<oid>" tokens for the Batch audience.
type fakeValidator struct{}

func (fakeValidator) Validate(_ context.Context, raw string, aud ...string) (cobalt.Caller, error) {
	if len(aud) == 0 || aud[0] != BatchAudience {
		return cobalt.Caller{}, cobalt.Errorf(cobalt.EUnauthorized, "Audience validation failed.")
	}
	oid, ok := strings.CutPrefix(raw, "tok-")
	if !ok {
		return cobalt.Caller{}, cobalt.Errorf(cobalt.EUnauthorized, "Signature validation failed.")
	}
	return cobalt.Caller{ObjectID: oid}, nil
}

// grantAuthz grants per principal a set of actions and data actions.
type grantAuthz map[string][]string

func (g grantAuthz) Allowed(_ context.Context, pid string, _ cobalt.ResourceID, action string) (bool, error) {
	for _, a := range g[pid] {
		if a == action || a == "*" {
			return true, nil
		}
	}
	return false, nil
}

func (g grantAuthz) AllowedData(_ context.Context, pid string, _ cobalt.ResourceID, action string) (bool, error) {
	for _, a := range g[pid] {
		if a == "data:"+action {
			return true, nil
		}
	}
	return false, nil
}

var testNow = time.Date(2026, 11, 29, 17, 0, 0, 0, time.UTC)

const testAccountID = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Batch/batchAccounts/acct1"

func newTestService(t testing.TB, now time.Time) *Service {
	t.Helper()
	s, err := New(Config{
		TLS:       &tls.Config{},
		Now:       func() time.Time { return now },
		Accounts:  memAccounts{"acct1": {Name: "acct1", ID: testAccountID, Keys: [2]string{testKey, ""}}},
		Validator: fakeValidator{},
		Authz: grantAuthz{
			"owner":     {"*"},
			"submitter": {ActionPoolsRead, "data:" + DataActionJobsRead, "data:" + DataActionJobsWrite},
			"reader":    {ActionAccountRead},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPipeline(t *testing.T) {
	t.Parallel()
	now := testNow
	s := newTestService(t, now)
	h := s.Handler("acct1")
	sharedKey := func(r *http.Request, date time.Time) {
		r.Header.Set("ocp-date", date.Format(http.TimeFormat))
		k, _ := base64.StdEncoding.DecodeString(testKey)
		sig := signString(k, nodeSigner(r, "acct1"))
		r.Header.Set("Authorization", "SharedKey acct1:"+base64.StdEncoding.EncodeToString(sig))
	}
	bearer := func(oid string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer tok-"+oid) }
	}
	tests := []struct {
		name   string
		method string
		url    string
		auth   func(*http.Request)
		status int
		code   string
	}{
		{"no api-version", "GET", "/bogus", nil, 400, codeMissingQuery},
		{"bad api-version", "GET", "/bogus?api-version=2020", nil, 400, codeInvalidQuery},
		{"unsupported api-version", "GET", "/bogus?api-version=2019-01-01.8.0", nil, 400, codeUnsupportedVersion},
		{"no auth", "GET", "/bogus?api-version=2024-07-01.20.0", nil, 401, codeAuthFailed},
		{"bad scheme", "GET", "/bogus?api-version=2024-07-01.20.0", func(r *http.Request) { r.Header.Set("Authorization", "Basic x") }, 401, codeAuthFailed},
		{"bad token", "GET", "/bogus?api-version=2024-07-01.20.0", func(r *http.Request) { r.Header.Set("Authorization", "Bearer garbage") }, 401, codeAuthFailed},
		{"shared key ok, unknown path", "GET", "/bogus?api-version=2022-10-01.16.0", func(r *http.Request) { sharedKey(r, now) }, 400, codeInvalidURI},
		{"shared key stale", "GET", "/bogus?api-version=2022-10-01.16.0", func(r *http.Request) { sharedKey(r, now.Add(-16*time.Minute)) }, 403, codeAuthFailed},
		{"shared key wrong signature", "GET", "/bogus?api-version=2022-10-01.16.0", func(r *http.Request) {
			sharedKey(r, now)
			r.Header.Set("Authorization", "SharedKey acct1:"+base64.StdEncoding.EncodeToString(make([]byte, 32)))
		}, 403, codeAuthFailed},
		{"shared key other account", "GET", "/bogus?api-version=2022-10-01.16.0", func(r *http.Request) {
			sharedKey(r, now)
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "acct1", "acct2", 1))
		}, 403, codeAuthFailed},
		{"method not allowed", "PUT", "/pools?api-version=2024-07-01.20.0", bearer("owner"), 405, codeMethodNotAllowed},
		{"submitter may not add pools", "POST", "/pools?api-version=2024-07-01.20.0", bearer("submitter"), 403, codeAuthzFailed},
		{"reader may not add jobs", "POST", "/jobs?api-version=2024-07-01.20.0", bearer("reader"), 403, codeAuthzFailed},
		{"stranger may not read jobs", "GET", "/jobs?api-version=2024-07-01.20.0", bearer("stranger"), 403, codeAuthzFailed},
		{"bad maxresults", "GET", "/applications?api-version=2024-07-01.20.0&maxresults=0", bearer("reader"), 400, codeInvalidQuery},
		// Node deallocate and start came with 2024-07-01.20.0.
		{"deallocate at an older api-version", "POST", "/pools/p/nodes/n/deallocate?api-version=2022-10-01.16.0", bearer("owner"), 400, codeInvalidURI},
		{"start at an older api-version", "POST", "/pools/p/nodes/n/start?api-version=2022-10-01.16.0", bearer("owner"), 400, codeInvalidURI},
		// Node users and reimage write the pool; remote login settings read it.
		{"reader may not add node users", "POST", "/pools/p/nodes/n/users?api-version=2024-07-01.20.0", bearer("reader"), 403, codeAuthzFailed},
		{"reader may not delete node users", "DELETE", "/pools/p/nodes/n/users/u?api-version=2024-07-01.20.0", bearer("reader"), 403, codeAuthzFailed},
		{"submitter may not reimage", "POST", "/pools/p/nodes/n/reimage?api-version=2024-07-01.20.0", bearer("submitter"), 403, codeAuthzFailed},
		{"stranger may not read remote login", "GET", "/pools/p/nodes/n/remoteloginsettings?api-version=2024-07-01.20.0", bearer("stranger"), 403, codeAuthzFailed},
		{"node users have no GET", "GET", "/pools/p/nodes/n/users/u?api-version=2024-07-01.20.0", bearer("owner"), 405, codeMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(tt.method, "https://127.0.0.1:1"+tt.url, nil)
			r.Header.Set("client-request-id", "crid-1")
			r.Header.Set("return-client-request-id", "true")
			if tt.auth != nil {
				tt.auth(r)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			var body errorBody
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", w.Body.String(), err)
			}
			if w.Code != tt.status || body.Code != tt.code || w.Header().Get("x-ms-error-code") != tt.code {
				t.Fatalf("got %d %s (header %s), want %d %s; body %s", w.Code, body.Code,
					w.Header().Get("x-ms-error-code"), tt.status, tt.code, w.Body.String())
			}
			if ct := w.Header().Get("Content-Type"); ct != jsonContentType {
				t.Errorf("Content-Type %q", ct)
			}
			if w.Header().Get("request-id") == "" || w.Header().Get("client-request-id") != "crid-1" {
				t.Errorf("request ids: %v", w.Header())
			}
			if body.Message.Lang != "en-US" || !strings.Contains(body.Message.Value, "RequestId:") {
				t.Errorf("message %+v", body.Message)
			}
		})
	}
}

func TestCheckConditions(t *testing.T) {
	t.Parallel()
	s := newTestService(t, testNow)
	lm := testNow.Add(-time.Hour)
	etag := "0x8D00000000000005"
	tests := []struct {
		header, value string
		read          bool
		status        int
	}{
		{"If-Match", etag, false, 0},
		{"If-Match", `"` + etag + `"`, false, 0},
		{"If-Match", "*", false, 0},
		{"If-Match", "0x1", false, 412},
		{"If-None-Match", etag, true, 304},
		{"If-None-Match", etag, false, 412},
		{"If-None-Match", "0x1", true, 0},
		{"If-Modified-Since", httpDate(lm), true, 304},
		{"If-Modified-Since", httpDate(lm.Add(-time.Minute)), true, 0},
		{"If-Unmodified-Since", httpDate(lm.Add(-time.Minute)), false, 412},
		{"If-Unmodified-Since", httpDate(lm), false, 0},
		{"If-Modified-Since", "yesterday", true, 400},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "https://127.0.0.1:1/jobs/j", nil)
		r.Header.Set(tt.header, tt.value)
		rc := &reqCtx{s: s, r: r}
		err := rc.checkConditions(etag, lm, tt.read)
		got := 0
		if err != nil {
			got = toWireError(err).Status
		}
		if got != tt.status {
			t.Errorf("%s: %s (read %v) = %d, want %d", tt.header, tt.value, tt.read, got, tt.status)
		}
	}
}

func TestParseHTTPDate(t *testing.T) {
	t.Parallel()
	want := time.Date(2026, 11, 29, 17, 0, 22, 0, time.UTC)
	for _, v := range []string{"Sun, 29 Nov 2026 17:00:22 GMT", "Sun, 29 Nov 2026 17:00:22 UTC",
		"Sun, 29 Nov 2026 18:00:22 +0100", "Sunday, 29-Nov-26 17:00:22 GMT"} {
		got, err := parseHTTPDate(v)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseHTTPDate(%q) = %v, %v", v, got, err)
		}
	}
	for _, v := range []string{"", "yesterday", "2026-11-29T17:00:22Z"} {
		if _, err := parseHTTPDate(v); err == nil {
			t.Errorf("parseHTTPDate(%q) accepted", v)
		}
	}
}
