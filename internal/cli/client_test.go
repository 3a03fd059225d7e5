package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/cobaltbatch/cobalt/internal/server"
)

func TestParseErrorBody(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body, code, msg string
	}{
		{"arm", `{"error":{"code":"ResourceGroupNotFound","message":"Resource group 'x' could not be found."}}`, "ResourceGroupNotFound", "Resource group 'x' could not be found."},
		{"batch", `{"odata.metadata":"m","code":"PoolNotFound","message":{"lang":"en-US","value":"The specified pool does not exist.\nRequestId:1\nTime:2"}}`, "PoolNotFound", "The specified pool does not exist."},
		{"oauth", `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret.\r\nTrace ID: x"}`, "invalid_client", "AADSTS7000215: Invalid client secret."},
		{"imds", `{"error":"invalid_request","error_description":"Identity not found"}`, "invalid_request", "Identity not found"},
		{"odata", `{"odata.error":{"code":"JobNotFound","message":{"value":"gone"}}}`, "JobNotFound", "gone"},
		{"blob", `<?xml version="1.0" encoding="utf-8"?><Error><Code>BlobNotFound</Code><Message>The specified blob does not exist.
RequestId:abc
Time:now</Message></Error>`, "BlobNotFound", "The specified blob does not exist."},
		{"empty", ``, "", ""},
		{"html", `<html>oops</html>`, "", ""},
		{"nocode", `{"message":"x"}`, "", ""},
		{"null error", `{"error":null}`, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := parseErrorBody([]byte(tc.body))
			if tc.code == "" {
				if e != nil {
					t.Fatalf("got %+v, want nil", e)
				}
				return
			}
			if e == nil || e.Code != tc.code || e.Message != tc.msg {
				t.Fatalf("got %+v, want %s %q", e, tc.code, tc.msg)
			}
		})
	}
}

func FuzzParseErrorBody(f *testing.F) {
	for _, s := range []string{`{"error":{"code":"a","message":"b"}}`, `{"code":"c","message":{"value":"d"}}`,
		`{"error":"e","error_description":"f"}`, `<Error><Code>g</Code></Error>`, `{"error":[1]}`, `<`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if e := parseErrorBody(b); e != nil && e.Code == "" {
			t.Fatalf("error without a code: %+v", e)
		}
	})
}

func TestDecodeErrorHeaderOnly(t *testing.T) {
	t.Parallel()
	resp := &http.Response{StatusCode: 404, Header: http.Header{"X-Ms-Error-Code": {"BlobNotFound"}}, Body: io.NopCloser(strings.NewReader(""))}
	e := decodeError(resp)
	if e == nil || e.Code != "BlobNotFound" || e.Status != 404 {
		t.Fatalf("got %+v", e)
	}
}

// fakeCred counts token requests and issues tokens that live for life.
type fakeCred struct {
	calls atomic.Int32
	now   func() time.Time
	life  time.Duration
}

func (f *fakeCred) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	n := f.calls.Add(1)
	return azcore.AccessToken{Token: o.Scopes[0] + "#" + string(rune('0'+n)), ExpiresOn: f.now().Add(f.life)}, nil
}

func TestTokenCache(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	cred := &fakeCred{now: clock, life: time.Hour}
	c := newTokenCache(dir, cred)
	c.now = clock
	ctx := context.Background()

	a, err := c.token(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := c.token(ctx, "s1")
	if a != b || cred.calls.Load() != 1 {
		t.Fatalf("second call not cached: %v %v calls=%d", a, b, cred.calls.Load())
	}
	if _, err := c.token(ctx, "s2"); err != nil || cred.calls.Load() != 2 {
		t.Fatalf("per-scope cache: calls=%d err=%v", cred.calls.Load(), err)
	}
	// A new process (a new cache on the same directory) reads the files.
	c2 := newTokenCache(dir, cred)
	c2.now = clock
	if got, _ := c2.token(ctx, "s1"); got.AccessToken != a.AccessToken || cred.calls.Load() != 2 {
		t.Fatalf("file cache not used: %v calls=%d", got, cred.calls.Load())
	}
	fi, err := os.Stat(c.file("s1"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode: %v %v", fi.Mode(), err)
	}
	// Inside the refresh margin the token is replaced.
	now = now.Add(time.Hour - refreshMargin + time.Second)
	if got, _ := c2.token(ctx, "s1"); got.AccessToken == a.AccessToken || cred.calls.Load() != 3 {
		t.Fatalf("token not refreshed before expiry: %v calls=%d", got, cred.calls.Load())
	}
}

func TestProfileFiles(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "cfg")
	if _, err := loadProfile(dir); err != errNotLoggedIn {
		t.Fatalf("got %v, want errNotLoggedIn", err)
	}
	if err := writeFileAtomic(filepath.Join(dir, tokenDir, "x.json"), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	p := &profile{TenantID: "t", ClientID: "c", ClientSecret: "s"}
	if err := saveProfile(dir, p); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, profileFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("profile mode: %v %v", fi, err)
	}
	if _, err := os.Stat(filepath.Join(dir, tokenDir)); !os.IsNotExist(err) {
		t.Fatalf("old tokens kept after a new login: %v", err)
	}
	got, err := loadProfile(dir)
	if err != nil || *got != *p {
		t.Fatalf("got %+v %v", got, err)
	}
}

func TestTokenClaims(t *testing.T) {
	t.Parallel()
	if _, err := tokenClaims("a.b"); err == nil {
		t.Fatal("two parts accepted")
	}
	if _, err := tokenClaims("a.!!!.c"); err == nil {
		t.Fatal("bad base64 accepted")
	}
	m, err := tokenClaims("e30.eyJvaWQiOiJ4In0.sig")
	if err != nil || m["oid"] != "x" {
		t.Fatalf("got %v %v", m, err)
	}
}

// testClient returns a client for an httptest server whose tokens come from a fake credential.
func testClient(t *testing.T, srv *httptest.Server, verbose io.Writer) *client {
	t.Helper()
	hc := srv.Client()
	if verbose != nil {
		hc.Transport = &verboseTransport{next: hc.Transport, w: verbose}
	}
	p := &profile{ResourceManager: srv.URL, SubscriptionID: "sub1", ResourceManagerAudience: "https://management.azure.com"}
	return &client{http: hc, profile: p, tokens: newTokenCache(t.TempDir(), &fakeCred{now: time.Now, life: time.Hour}), poll: 10 * time.Millisecond}
}

func TestLongRunningOperations(t *testing.T) {
	t.Parallel()
	var polls atomic.Int32
	mux := http.NewServeMux()
	// Location polling (Microsoft.Batch accounts): 202 until done, then the resource.
	mux.HandleFunc("PUT /loc", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "https://"+r.Host+"/op1")
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(http.StatusAccepted)
	})
	mux.HandleFunc("GET /op1", func(w http.ResponseWriter, r *http.Request) {
		if polls.Add(1) < 3 {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("GET /loc", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"name":"loc","properties":{"provisioningState":"Succeeded"}}`)
	})
	// Azure-AsyncOperation polling that fails.
	mux.HandleFunc("DELETE /async", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Azure-AsyncOperation", "https://"+r.Host+"/op2")
		w.WriteHeader(http.StatusAccepted)
	})
	mux.HandleFunc("GET /op2", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"status":"Failed","error":{"code":"Conflict","message":"busy"}}`)
	})
	// A resource that reports Creating, then Succeeded.
	var gets atomic.Int32
	mux.HandleFunc("PUT /prov", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"properties":{"provisioningState":"Creating"}}`)
	})
	mux.HandleFunc("GET /prov", func(w http.ResponseWriter, r *http.Request) {
		state := "Creating"
		if gets.Add(1) > 1 {
			state = "Succeeded"
		}
		io.WriteString(w, `{"properties":{"provisioningState":"`+state+`"}}`)
	})
	srv := httptest.NewTLSServer(mux)
	defer srv.Close()
	var log bytes.Buffer
	c := testClient(t, srv, &log)
	ctx := context.Background()

	out, err := c.armWrite(ctx, http.MethodPut, "/loc", "v1", map[string]any{})
	if err != nil || !strings.Contains(string(out), `"name":"loc"`) || polls.Load() != 3 {
		t.Fatalf("location LRO: %s %v polls=%d", out, err, polls.Load())
	}
	err = c.armDelete(ctx, "/async", "v1", false)
	if e, ok := err.(*apiError); !ok || e.Code != "Conflict" || e.Message != "busy" {
		t.Fatalf("async LRO failure: %v", err)
	}
	if err := c.armDelete(ctx, "/async", "v1", true); err != nil {
		t.Fatalf("--no-wait polled: %v", err)
	}
	out, err = c.armWrite(ctx, http.MethodPut, "/prov", "v1", map[string]any{})
	if err != nil || !strings.Contains(string(out), "Succeeded") {
		t.Fatalf("provisioning wait: %s %v", out, err)
	}
	if strings.Contains(log.String(), "Bearer") || !strings.Contains(log.String(), "PUT https://") {
		t.Fatalf("verbose log:\n%s", log.String())
	}
}

func TestListPaging(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /things", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer https://management.azure.com/.default#1" {
			http.Error(w, `{"error":{"code":"AuthenticationFailed","message":"no"}}`, http.StatusUnauthorized)
			return
		}
		if r.URL.Query().Get("page") == "2" {
			io.WriteString(w, `{"value":[{"n":3}]}`)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"value": []any{map[string]int{"n": 1}, map[string]int{"n": 2}},
			"nextLink": "https://" + r.Host + "/things?page=2&api-version=v1"})
	})
	srv := httptest.NewTLSServer(mux)
	defer srv.Close()
	c := testClient(t, srv, nil)
	all, err := c.armList(context.Background(), "/things", "v1")
	if err != nil || len(all) != 3 {
		t.Fatalf("got %d items, %v", len(all), err)
	}
}

func TestFollowEndpoints(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := server.Endpoints{TenantID: "t", SubscriptionID: "s", AuthorityHost: "https://127.0.0.1:2", ResourceManager: "https://127.0.0.1:3", CACertFile: "/ca"}
	b, _ := json.Marshal(e)
	os.WriteFile(filepath.Join(dir, "endpoints.json"), b, 0o600)
	p := &profile{TenantID: "t", SubscriptionID: "s", AuthorityHost: "https://127.0.0.1:1", ResourceManager: "https://127.0.0.1:1", DataDir: dir, ClientSecret: "x"}
	followEndpoints(p)
	if p.AuthorityHost != e.AuthorityHost || p.ResourceManager != e.ResourceManager || p.CACertFile != "/ca" || p.ClientSecret != "x" {
		t.Fatalf("not followed: %+v", p)
	}
	other := &profile{TenantID: "other", SubscriptionID: "s", ResourceManager: "https://127.0.0.1:1", DataDir: dir}
	followEndpoints(other)
	if other.ResourceManager != "https://127.0.0.1:1" {
		t.Fatalf("another installation's endpoints taken: %+v", other)
	}
}

func TestRetryOnceAfter401(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if strings.HasSuffix(r.Header.Get("Authorization"), "#1") { // the stale cached token
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":{"code":"InvalidAuthenticationToken","message":"The access token is invalid."}}`)
			return
		}
		io.WriteString(w, `{"ok":true}`)
	}))
	defer srv.Close()
	c := testClient(t, srv, nil)
	ctx := context.Background()
	scope := c.profile.armScope()
	// A token cached by an earlier process.
	if _, err := c.tokens.token(ctx, scope); err != nil {
		t.Fatal(err)
	}
	c.tokens = &tokenCache{dir: c.tokens.dir, cred: c.tokens.cred, now: time.Now, mem: map[string]cachedToken{}, fromFile: map[string]bool{}}
	if _, err := c.armGet(ctx, "/x", "v1"); err != nil || calls.Load() != 2 {
		t.Fatalf("no retry with a new token: %v calls=%d", err, calls.Load())
	}
	// A fresh token that is refused is not retried.
	calls.Store(0)
	c2 := testClient(t, srv, nil)
	_, err := c2.armGet(ctx, "/x", "v1")
	if e, ok := err.(*apiError); !ok || e.Code != "InvalidAuthenticationToken" || calls.Load() != 1 {
		t.Fatalf("got %v calls=%d", err, calls.Load())
	}
}

func TestWarnings(t *testing.T) {
	t.Parallel()
	var w bytes.Buffer
	c := &client{warn: &w}
	c.printWarnings(http.Header{"Warning": {`299 - "Existing nodes keep their identities."`, "plain"}})
	if w.String() != "WARNING: Existing nodes keep their identities.\nWARNING: plain\n" {
		t.Fatalf("got %q", w.String())
	}
}
