package imds

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

var (
	idA = nodeproto.Identity{
		ResourceID:  "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/a",
		ClientID:    "aaaaaaaa-0000-0000-0000-000000000001",
		PrincipalID: "aaaaaaaa-0000-0000-0000-0000000000f1",
	}
	idB = nodeproto.Identity{
		ResourceID:  "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/b",
		ClientID:    "bbbbbbbb-0000-0000-0000-000000000002",
		PrincipalID: "bbbbbbbb-0000-0000-0000-0000000000f2",
	}
	testNow = time.Unix(1_800_000_000, 0)
)

// fakeTokens is a TokenSource over a fixed identity set that records the
// requests it saw; the token is "tok:<clientID>:<resource>".
type fakeTokens struct {
	ids []nodeproto.Identity
	err error

	mu   sync.Mutex
	reqs []TokenRequest
	hold chan struct{} // when set, Token blocks until it is closed
}

func (f *fakeTokens) Token(ctx context.Context, req TokenRequest) (Token, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	hold := f.hold
	f.mu.Unlock()
	if hold != nil {
		<-hold
	}
	if f.err != nil {
		return Token{}, f.err
	}
	id, err := SelectIdentity(f.ids, req)
	if err != nil {
		return Token{}, err
	}
	return Token{
		AccessToken: "tok:" + id.ClientID + ":" + req.Resource,
		IssuedAt:    testNow.Add(-time.Minute),
		NotBefore:   testNow.Add(-time.Minute),
		ExpiresOn:   testNow.Add(3599 * time.Second),
		ClientID:    id.ClientID,
	}, nil
}

func newTestHandler(ids ...nodeproto.Identity) (*Handler, *fakeTokens) {
	ft := &fakeTokens{ids: ids}
	return New(Config{
		Now:      func() time.Time { return testNow },
		Tokens:   ft,
		TenantID: "tenant-1",
		Instance: Instance{Name: "node1", VMID: "vm-1", Location: "westus", VMSize: "standard_d2s_v3",
			OSType: "Linux", ResourceID: "/subscriptions/s1/resourceGroups/rg/providers/x/y/node1",
			SubscriptionID: "s1", ResourceGroupName: "rg", Tags: map[string]string{"foo": "bar", "baz": "bash"},
			PrivateIP: "10.0.0.4"},
	}), ft
}

const tokenURL = "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F"

func do(h http.Handler, method, target string, hdr map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

var md = map[string]string{"Metadata": "true"}

func TestTokenRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		ids        []nodeproto.Identity
		method     string
		target     string
		hdr        map[string]string
		wantStatus int
		wantError  string // "error" field
		wantDesc   string // "error_description" field, if checked
		wantClient string // client_id of a success
	}{
		{"ok single identity", []nodeproto.Identity{idA}, "GET", tokenURL, md, 200, "", "", idA.ClientID},
		{"ok trailing slash", []nodeproto.Identity{idA}, "GET", strings.Replace(tokenURL, "token?", "token/?", 1), md, 200, "", "", idA.ClientID},
		{"ok Metadata True", []nodeproto.Identity{idA}, "GET", tokenURL, map[string]string{"Metadata": "True"}, 200, "", "", idA.ClientID},
		{"ok newest api-version", []nodeproto.Identity{idA}, "GET", strings.Replace(tokenURL, "2018-02-01", "2025-04-07", 1), md, 200, "", "", idA.ClientID},
		{"ok 2019-08-01", []nodeproto.Identity{idA}, "GET", strings.Replace(tokenURL, "2018-02-01", "2019-08-01", 1), md, 200, "", "", idA.ClientID},
		{"client_id selects", []nodeproto.Identity{idA, idB}, "GET", tokenURL + "&client_id=" + idB.ClientID, md, 200, "", "", idB.ClientID},
		{"client_id case-insensitive", []nodeproto.Identity{idA, idB}, "GET", tokenURL + "&client_id=" + strings.ToUpper(idB.ClientID), md, 200, "", "", idB.ClientID},
		{"object_id selects", []nodeproto.Identity{idA, idB}, "GET", tokenURL + "&object_id=" + idB.PrincipalID, md, 200, "", "", idB.ClientID},
		{"msi_res_id selects", []nodeproto.Identity{idA, idB}, "GET", tokenURL + "&msi_res_id=" + url.QueryEscape(idB.ResourceID), md, 200, "", "", idB.ClientID},
		{"mi_res_id selects", []nodeproto.Identity{idA, idB}, "GET", tokenURL + "&mi_res_id=" + url.QueryEscape(idA.ResourceID), md, 200, "", "", idA.ClientID},
		{"multiple identities", []nodeproto.Identity{idA, idB}, "GET", tokenURL, md, 400, "invalid_request", msgMultipleIdentities, ""},
		{"no identity", nil, "GET", tokenURL, md, 400, "invalid_request", "Identity not found", ""},
		{"unknown client_id", []nodeproto.Identity{idA}, "GET", tokenURL + "&client_id=nope", md, 400, "invalid_request", "Identity not found", ""},
		{"unknown object_id", []nodeproto.Identity{idA}, "GET", tokenURL + "&object_id=nope", md, 400, "invalid_request", "Identity not found", ""},
		{"unknown msi_res_id", []nodeproto.Identity{idA}, "GET", tokenURL + "&msi_res_id=%2Fx", md, 400, "invalid_request", "Identity not found", ""},
		{"two selectors", []nodeproto.Identity{idA, idB}, "GET", tokenURL + "&client_id=" + idA.ClientID + "&object_id=" + idA.PrincipalID, md, 400, "invalid_request", msgSelectors, ""},
		{"msi_res_id and mi_res_id", []nodeproto.Identity{idA}, "GET", tokenURL + "&msi_res_id=a&mi_res_id=a", md, 400, "invalid_request", msgSelectors, ""},
		{"missing resource", []nodeproto.Identity{idA}, "GET", "/metadata/identity/oauth2/token?api-version=2018-02-01", md, 400, "invalid_request", "Required query variable 'resource' is missing", ""},
		{"empty resource", []nodeproto.Identity{idA}, "GET", "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=", md, 400, "invalid_request", "Required query variable 'resource' is missing", ""},
		{"missing Metadata", []nodeproto.Identity{idA}, "GET", tokenURL, nil, 400, "invalid_request", msgMissingMetadata, ""},
		{"Metadata false", []nodeproto.Identity{idA}, "GET", tokenURL, map[string]string{"Metadata": "false"}, 400, "invalid_request", msgMissingMetadata, ""},
		{"X-Forwarded-For", []nodeproto.Identity{idA}, "GET", tokenURL, map[string]string{"Metadata": "true", "X-Forwarded-For": "10.0.0.1"}, 400, "invalid_request", msgForwarded, ""},
		{"empty X-Forwarded-For", []nodeproto.Identity{idA}, "GET", tokenURL, map[string]string{"Metadata": "true", "X-Forwarded-For": ""}, 400, "invalid_request", msgForwarded, ""},
		{"duplicate parameter", []nodeproto.Identity{idA}, "GET", tokenURL + "&resource=https://x", md, 400, "invalid_request", msgDuplicate, ""},
		{"duplicate api-version", []nodeproto.Identity{idA}, "GET", tokenURL + "&api-version=2018-02-01", md, 400, "invalid_request", msgDuplicate, ""},
		{"bad escape", []nodeproto.Identity{idA}, "GET", tokenURL + "&x=%zz", md, 400, "invalid_request", msgBadQuery, ""},
		{"POST", []nodeproto.Identity{idA}, "POST", tokenURL, md, 405, "method_not_allowed", "", ""},
		{"missing api-version", []nodeproto.Identity{idA}, "GET", "/metadata/identity/oauth2/token?resource=x", md, 400, msgAPIVersion, "", ""},
		{"unknown api-version", []nodeproto.Identity{idA}, "GET", strings.Replace(tokenURL, "2018-02-01", "2018-02-02", 1), md, 400, msgAPIVersion, "", ""},
		{"pre-identity api-version", []nodeproto.Identity{idA}, "GET", strings.Replace(tokenURL, "2018-02-01", "2017-12-01", 1), md, 400, msgAPIVersion, "", ""},
		{"unknown path", []nodeproto.Identity{idA}, "GET", "/metadata/identity/oauth2/tokens?api-version=2018-02-01", md, 404, msgNotFound, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, _ := newTestHandler(tc.ids...)
			w := do(h, tc.method, tc.target, tc.hdr)
			if w.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d; body %s", w.Code, tc.wantStatus, w.Body)
			}
			var body map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("body is not JSON: %v: %s", err, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			if tc.wantStatus != 200 {
				if body["error"] != tc.wantError {
					t.Errorf("error %q, want %q", body["error"], tc.wantError)
				}
				if tc.wantDesc != "" && body["error_description"] != tc.wantDesc {
					t.Errorf("error_description %q, want %q", body["error_description"], tc.wantDesc)
				}
				if tc.wantError == msgAPIVersion {
					nv, _ := body["newest-versions"].([]any)
					if len(nv) != 3 || nv[0] != "2025-04-07" {
						t.Errorf("newest-versions %v", body["newest-versions"])
					}
				}
				if tc.wantStatus == 405 && w.Header().Get("Allow") != "GET" {
					t.Errorf("Allow %q", w.Header().Get("Allow"))
				}
				return
			}
			if body["client_id"] != tc.wantClient {
				t.Errorf("client_id %v, want %s", body["client_id"], tc.wantClient)
			}
		})
	}
}

func TestTokenSuccessBody(t *testing.T) {
	t.Parallel()
	h, ft := newTestHandler(idA, idB)
	cases := []struct {
		query   string
		echoKey string
		echo    string
	}{
		{"&client_id=" + idA.ClientID, "", ""},
		{"&object_id=" + idA.PrincipalID, "object_id", idA.PrincipalID},
		{"&msi_res_id=" + url.QueryEscape(idA.ResourceID), "msi_res_id", idA.ResourceID},
		{"&mi_res_id=" + url.QueryEscape(idA.ResourceID), "msi_res_id", idA.ResourceID},
	}
	for _, c := range cases {
		w := do(h, "GET", tokenURL+c.query, md)
		if w.Code != 200 {
			t.Fatalf("%s: status %d %s", c.query, w.Code, w.Body)
		}
		var body map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{
			"access_token":   "tok:" + idA.ClientID + ":https://management.azure.com/",
			"refresh_token":  "",
			"expires_in":     "3599",
			"expires_on":     "1800003599",
			"ext_expires_in": "3599",
			"not_before":     "1799999940",
			"resource":       "https://management.azure.com/",
			"token_type":     "Bearer",
			"client_id":      idA.ClientID,
		}
		if c.echoKey != "" {
			want[c.echoKey] = c.echo
		}
		if len(body) != len(want) {
			t.Errorf("%s: body has %d fields, want %d: %s", c.query, len(body), len(want), w.Body)
		}
		for k, v := range want {
			if body[k] != v {
				t.Errorf("%s: %s = %#v, want %#v", c.query, k, body[k], v)
			}
		}
		for k, v := range body {
			if _, ok := v.(string); !ok {
				t.Errorf("%s: %s is %T, not a string", c.query, k, v)
			}
		}
	}
	// bypass_cache reaches the token source.
	do(h, "GET", tokenURL+"&client_id="+idA.ClientID+"&bypass_cache=true", md)
	ft.mu.Lock()
	last := ft.reqs[len(ft.reqs)-1]
	first := ft.reqs[0]
	ft.mu.Unlock()
	if !last.BypassCache || first.BypassCache {
		t.Errorf("bypass_cache not passed through: first %v last %v", first.BypassCache, last.BypassCache)
	}
}

func TestTokenSourceErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err        error
		status     int
		code, desc string
	}{
		{cobalt.Errorf(cobalt.EForbidden, "deleted"), 400, "invalid_request", "Identity not found"},
		{cobalt.Errorf(cobalt.ENotFound, "gone"), 400, "invalid_request", "Identity not found"},
		{cobalt.Errorf(cobalt.EInvalid, "x").WithReason(ReasonMultipleIdentities), 400, "invalid_request", msgMultipleIdentities},
		{cobalt.Errorf(cobalt.EInvalid, "bad resource"), 400, "invalid_request", "bad resource"},
		{cobalt.Errorf(cobalt.EInternal, "secret detail"), 500, "unknown", msgTokenFailure},
		{context.DeadlineExceeded, 500, "unknown", msgTokenFailure},
	} {
		h, ft := newTestHandler(idA)
		ft.err = tc.err
		w := do(h, "GET", tokenURL, md)
		var body identityError
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		if w.Code != tc.status || body.Error != tc.code || body.Description != tc.desc {
			t.Errorf("%v: got %d %+v, want %d %s %q", tc.err, w.Code, body, tc.status, tc.code, tc.desc)
		}
	}
}

func TestRateLimitRate(t *testing.T) {
	t.Parallel()
	now := testNow
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	h, _ := newTestHandler(idA)
	h.cfg.Limiter = NewLimiter(RateLimit{PerSecond: 2}, clock)
	for i := range 2 {
		if w := do(h, "GET", tokenURL, md); w.Code != 200 {
			t.Fatalf("request %d: %d", i, w.Code)
		}
	}
	w := do(h, "GET", tokenURL, md)
	if w.Code != 429 || w.Header().Get("Retry-After") == "" {
		t.Fatalf("third request: %d Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	var body identityError
	_ = json.Unmarshal(w.Body.Bytes(), &body)
	if body.Error != "too_many_requests" || body.Description != msgThrottled {
		t.Errorf("429 body %s", w.Body)
	}
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	if w := do(h, "GET", tokenURL, md); w.Code != 200 {
		t.Fatalf("after a second: %d", w.Code)
	}
}

func TestRateLimitConcurrency(t *testing.T) {
	t.Parallel()
	h, ft := newTestHandler(idA)
	h.cfg.Limiter = NewLimiter(RateLimit{Concurrent: 1}, nil)
	ft.hold = make(chan struct{})
	done := make(chan int)
	go func() { done <- do(h, "GET", tokenURL, md).Code }()
	// Wait until the first request is inside the token source.
	for {
		ft.mu.Lock()
		n := len(ft.reqs)
		ft.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if w := do(h, "GET", tokenURL, md); w.Code != 429 || w.Header().Get("Retry-After") != "1" {
		t.Errorf("concurrent request: %d Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	close(ft.hold)
	if c := <-done; c != 200 {
		t.Errorf("first request: %d", c)
	}
	if w := do(h, "GET", tokenURL, md); w.Code != 200 {
		t.Errorf("after release: %d", w.Code)
	}
}

func TestParseRateLimit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want RateLimit
		err  bool
	}{
		{"", DefaultRateLimit, false},
		{"off", RateLimit{}, false},
		{"OFF", RateLimit{}, false},
		{"100/s,20", RateLimit{PerSecond: 100, Concurrent: 20}, false},
		{"0.5/s", RateLimit{PerSecond: 0.5}, false},
		{",3", RateLimit{Concurrent: 3}, false},
		{"100", RateLimit{}, true},
		{"100/s,", RateLimit{}, true},
		{"-1/s,2", RateLimit{}, true},
		{"x/s,2", RateLimit{}, true},
		{"1/s,0", RateLimit{}, true},
		{"NaN/s", RateLimit{}, true},
	} {
		got, err := ParseRateLimit(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseRateLimit(%q) = %v, %v; want %v, err %v", tc.in, got, err, tc.want, tc.err)
		}
	}
	if DefaultRateLimit.PerSecond != 20 || DefaultRateLimit.Concurrent != 5 {
		t.Errorf("default %v is not Azure's 20/s,5", DefaultRateLimit)
	}
	if NewLimiter(RateLimit{}, nil) != nil {
		t.Error("off limit built a limiter")
	}
}
