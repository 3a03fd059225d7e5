package portal

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/login"
	"github.com/cobaltbatch/cobalt/internal/store/sqlite"
)

const (
	tenant   = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	password = "correct horse battery staple"
)

// upstream is a stand-in for ARM and a Batch endpoint that records the
// bearer tokens it receives.
type upstream struct {
	mu    sync.Mutex
	auths []string
	srv   *httptest.Server
}

func (u *upstream) last() map[string]any {
	u.mu.Lock()
	defer u.mu.Unlock()
	raw := strings.TrimPrefix(u.auths[len(u.auths)-1], "Bearer ")
	parts := strings.Split(raw, ".")
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

type env struct {
	t       *testing.T
	login   *login.Service
	portal  *httptest.Server
	up      *upstream
	browser *http.Client
	upn     string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "cobalt.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	seal := make([]byte, 32)
	_, _ = rand.Read(seal)
	loginSrv := httptest.NewUnstartedServer(nil)
	svc, err := login.New(context.Background(), login.Config{Store: st, AuthorityURL: "https://" + loginSrv.Listener.Addr().String(), SealKey: seal})
	if err != nil {
		t.Fatal(err)
	}
	loginSrv.Config.Handler = svc.Handler()
	loginSrv.StartTLS()
	t.Cleanup(loginSrv.Close)
	u, err := svc.CreateUser(context.Background(), tenant, "alice", password)
	if err != nil {
		t.Fatal(err)
	}

	up := &upstream{}
	up.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		up.mu.Lock()
		up.auths = append(up.auths, r.Header.Get("Authorization"))
		up.mu.Unlock()
		if strings.HasPrefix(r.URL.Path, "/acct/") {
			if r.Header.Get("x-ms-version") == "" {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, "<script>alert(1)</script>")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if strings.Contains(r.URL.Path, "/storageAccounts/") {
			_, _ = io.WriteString(w, `{"properties":{"primaryEndpoints":{"blob":"`+up.srv.URL+`/acct/"}}}`)
			return
		}
		if strings.Contains(r.URL.Path, "/batchAccounts/") && !strings.Contains(r.URL.Path, "/pools") {
			_, _ = io.WriteString(w, `{"properties":{"accountEndpoint":"`+up.srv.Listener.Addr().String()+`"}}`)
			return
		}
		_, _ = io.WriteString(w, `{"value":[]}`)
	}))
	up.srv.StartTLS()
	t.Cleanup(up.srv.Close)

	portalSrv := httptest.NewUnstartedServer(nil)
	p, err := New(Config{PublicURL: "https://" + portalSrv.Listener.Addr().String(), AuthorityURL: loginSrv.URL, TenantID: tenant,
		ResourceManager: up.srv.URL, HTTPClient: loginSrv.Client(), Login: svc})
	if err != nil {
		t.Fatal(err)
	}
	portalSrv.Config.Handler = p.Handler()
	portalSrv.StartTLS()
	t.Cleanup(portalSrv.Close)

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Transport: loginSrv.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &env{t: t, login: svc, portal: portalSrv, up: up, browser: browser, upn: u.UserPrincipalName}
}

func (e *env) get(u string) *http.Response {
	e.t.Helper()
	resp, err := e.browser.Get(u)
	if err != nil {
		e.t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// signIn walks the browser through the portal's sign-in and returns the
// callback URL the login service sent it to.
func (e *env) signIn() string {
	e.t.Helper()
	resp := e.get(e.portal.URL + "/")
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/signin" {
		e.t.Fatalf("GET / without a session: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp = e.get(e.portal.URL + "/signin")
	authURL, _ := url.Parse(resp.Header.Get("Location"))
	q := authURL.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("nonce") == "" || q.Get("client_id") != ClientID {
		e.t.Fatalf("authorize URL %s", authURL)
	}
	q.Set("username", "alice")
	q.Set("password", password)
	resp, err := e.browser.PostForm(authURL.Scheme+"://"+authURL.Host+authURL.Path, q)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	cb := resp.Header.Get("Location")
	if !strings.HasPrefix(cb, e.portal.URL+"/signin-oidc?") || strings.Contains(cb, "token") {
		e.t.Fatalf("sign-in redirect %q", cb)
	}
	resp = e.get(cb)
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/" {
		e.t.Fatalf("callback: %d", resp.StatusCode)
	}
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || !session.Secure || session.SameSite != http.SameSiteStrictMode || session.Path != "/" {
		e.t.Fatalf("session cookie %+v", session)
	}
	return cb
}

func (e *env) api(method, path, origin string, portalHeader bool) (int, string) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.portal.URL+path, strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if portalHeader {
		req.Header.Set("X-Cobalt-Portal", "1")
	}
	resp, err := e.browser.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestSessionCallsWithTheUsersToken signs in, then checks that ARM and the
// Batch endpoint receive the user's own tokens (never the browser), that
// writes need the portal header and the portal's origin, and that sign-out
// ends the session.
func TestSessionCallsWithTheUsersToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cb := e.signIn()

	if code, body := e.api("GET", "/api/me", "", false); code != 200 || !strings.Contains(body, e.upn) || strings.Contains(body, "eyJ") {
		t.Fatalf("/api/me: %d %s", code, body)
	}
	if code, _ := e.api("GET", "/api/arm/subscriptions?api-version=2022-12-01", "", false); code != 200 {
		t.Fatalf("ARM list: %d", code)
	}
	c := e.up.last()
	if strings.TrimSuffix(c["aud"].(string), "/") != "https://management.azure.com" || c["idtyp"] != "user" || c["upn"] != e.upn || c["appid"] != ClientID {
		t.Fatalf("ARM saw claims %v", c)
	}
	acct := "/subscriptions/s/resourceGroups/g/providers/Microsoft.Batch/batchAccounts/a"
	if code, body := e.api("GET", "/api/batch"+acct+"/-/pools", "", false); code != 200 {
		t.Fatalf("Batch list: %d %s", code, body)
	}
	if c := e.up.last(); c["aud"] != "https://batch.core.windows.net/" || c["upn"] != e.upn {
		t.Fatalf("Batch saw claims %v", c)
	}
	if code, _ := e.api("GET", "/api/batch/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/a/-/x", "", false); code != 400 {
		t.Fatalf("a Batch call to a non-Batch resource: %d", code)
	}
	// A blob goes out with the user's storage token and comes back as an
	// inert download, whatever its content type.
	req, _ := http.NewRequest("GET", e.portal.URL+"/api/blob/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/a/-/c/evil.html", nil)
	resp, err := e.browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/octet-stream" || resp.Header.Get("Content-Disposition") != "attachment" ||
		!strings.HasPrefix(resp.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Fatalf("blob download: %d %v", resp.StatusCode, resp.Header)
	}
	if c := e.up.last(); c["aud"] != "https://storage.azure.com/" || c["upn"] != e.upn {
		t.Fatalf("Blob Storage saw claims %v", c)
	}
	if code, _ := e.api("GET", "/api/arm/metadata", "", false); code != 404 {
		t.Fatalf("a non-ARM path: %d", code)
	}

	put := "/api/arm" + acct + "/pools/p?api-version=2024-07-01"
	n := len(e.up.auths)
	if code, _ := e.api("PUT", put, "", false); code != 403 {
		t.Fatalf("PUT without the portal header: %d", code)
	}
	if code, _ := e.api("PUT", put, "https://evil.example", true); code != 403 {
		t.Fatalf("PUT from another origin: %d", code)
	}
	if len(e.up.auths) != n {
		t.Fatal("a refused write reached ARM")
	}
	if code, _ := e.api("PUT", put, e.portal.URL, true); code != 200 {
		t.Fatalf("PUT from the portal: %d", code)
	}

	// The callback cannot be replayed.
	if resp := e.get(cb); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("replayed callback: %d", resp.StatusCode)
	}
	// Sign-out ends the session.
	if code, _ := e.api("POST", "/signout", e.portal.URL, false); code != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", code)
	}
	if code, _ := e.api("GET", "/api/me", "", false); code != 401 {
		t.Fatalf("/api/me after sign-out: %d", code)
	}
}

// TestCallbackNeedsTheBrowserThatStarted refuses a sign-in response that
// arrives in another browser (login CSRF).
func TestCallbackNeedsTheBrowserThatStarted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	resp := e.get(e.portal.URL + "/signin")
	authURL, _ := url.Parse(resp.Header.Get("Location"))
	q := authURL.Query()
	q.Set("username", "alice")
	q.Set("password", password)
	resp, err := e.browser.PostForm(authURL.Scheme+"://"+authURL.Host+authURL.Path, q)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	other := &http.Client{Transport: e.browser.Transport, CheckRedirect: e.browser.CheckRedirect}
	resp, err = other.Get(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("callback in another browser: %d", resp.StatusCode)
	}
	if code, _ := e.api("GET", "/api/me", "", false); code != 401 {
		t.Fatalf("signed in without a callback: %d", code)
	}
}

// FuzzAPIPath feeds arbitrary /api paths to a signed-in portal: it must
// never answer 5xx other than the upstream's, and never reach a host other
// than its upstream.
func FuzzAPIPath(f *testing.F) {
	f.Add("/api/arm/subscriptions/s/resources", "GET")
	f.Add("/api/batch/subscriptions/s/resourceGroups/g/providers/Microsoft.Batch/batchAccounts/a/-/pools", "GET")
	f.Add("/api/batch/%zz/-/x", "GET")
	f.Add("/api/batch//-/", "POST")
	f.Add("/api/arm/../../x", "DELETE")
	f.Fuzz(func(t *testing.T, path, method string) {
		if !strings.HasPrefix(path, "/api/") || strings.ContainsAny(path, " \r\n\t#?") || len(method) == 0 || strings.ContainsAny(method, " \r\n\t") {
			return
		}
		p := &Portal{cfg: Config{PublicURL: "https://portal", ResourceManager: "https://127.0.0.1:1", HTTPClient: &http.Client{Transport: refuse{}}},
			now: timeNow, sessions: map[string]*session{}, pending: map[string]*pending{}, log: discard()}
		id, _ := p.addSession(&session{objectID: "o", expires: timeNow().Add(3600e9), tokens: map[string]accessToken{
			ARMResource: {raw: "a", expires: timeNow().Add(3600e9)}, BatchResource: {raw: "b", expires: timeNow().Add(3600e9)}}})
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Method = method
		r.URL.Path = path
		r.URL.RawPath = ""
		r.Header.Set("X-Cobalt-Portal", "1")
		r.AddCookie(&http.Cookie{Name: sessionCookie, Value: id})
		w := httptest.NewRecorder()
		p.Handler().ServeHTTP(w, r)
		if w.Code >= 500 && w.Code != http.StatusBadGateway {
			t.Fatalf("%s %s: %d", method, path, w.Code)
		}
	})
}

// refuse is a transport that reaches nothing: it fails every request, and
// panics on one for a host other than the configured upstream.
type refuse struct{}

func (refuse) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host != "127.0.0.1:1" {
		panic("request to " + r.URL.Host)
	}
	return nil, io.ErrUnexpectedEOF
}

func timeNow() time.Time { return time.Unix(1_800_000_000, 0) }

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
