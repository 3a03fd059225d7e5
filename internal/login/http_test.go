package login

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cobaltbatch/cobalt/internal/store"
)

var update = flag.Bool("update", false, "rewrite golden files")

// post sends a token request and decodes the JSON answer.
func post(t *testing.T, method, u, contentType string, body io.Reader, hdr http.Header) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s %s: status %d, body %q is not JSON", method, u, resp.StatusCode, b)
		}
	}
	return resp.StatusCode, resp.Header, m
}

func basic(id, secret string) http.Header {
	return http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))}}
}

func TestTokenEndpointErrors(t *testing.T) {
	t.Parallel()
	ts := newTestService(t, nil)
	ctx := context.Background()
	mi, err := ts.CreateManagedIdentityPrincipal(ctx, ts.tenant, "mi", "/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/mi")
	if err != nil {
		t.Fatal(err)
	}
	disabled, disabledSecret, _ := ts.CreateServicePrincipal(ctx, ts.tenant, "disabled")
	if _, err := ts.store.PrincipalUpdate(ctx, disabled.ObjectID, func(p *store.PrincipalRecord) error { p.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	expired, expiredSecret, _ := ts.CreateServicePrincipal(ctx, ts.tenant, "expired")
	if _, err := ts.store.PrincipalUpdate(ctx, expired.ObjectID, func(p *store.PrincipalRecord) error {
		p.Secrets[0].ExpiresAt = ts.clk.Now().Add(-time.Hour)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	deleted, deletedSecret, _ := ts.CreateServicePrincipal(ctx, ts.tenant, "deleted")
	if err := ts.DeletePrincipal(ctx, deleted.ObjectID); err != nil {
		t.Fatal(err)
	}

	v2 := "/" + ts.tenant + "/oauth2/v2.0/token"
	v1 := "/" + ts.tenant + "/oauth2/token"
	good := func(kv ...string) url.Values {
		f := url.Values{"grant_type": {"client_credentials"}, "client_id": {ts.clientID}, "client_secret": {ts.secret}, "scope": {"https://management.azure.com/.default"}}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				f.Del(kv[i])
			} else {
				f.Set(kv[i], kv[i+1])
			}
		}
		return f
	}
	const form = "application/x-www-form-urlencoded"
	cases := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		hdr         http.Header
		status      int
		oauthErr    string
		code        int
	}{
		{"ok v2", "POST", v2, form, good().Encode(), nil, 200, "", 0},
		{"ok v2 with oidc scopes, claims and telemetry", "POST", v2, form, good("scope", "https://management.azure.com/.default openid offline_access profile",
			"claims", `{"access_token":{"xms_cc":{"values":["CP1"]}}}`, "x-client-SKU", "msal.js.node", "x-client-VER", "3.0", "client-request-id", "1c9a9c41-41b9-4d4b-8f0c-1f3e0e6f1a2b",
			"x-ms-lib-capability", "retry-after, h429", "x-client-current-telemetry", "5|771,2,,,|,").Encode(), nil, 200, "", 0},
		{"ok v1", "POST", v1, form, good("scope", "", "resource", "https://management.core.windows.net/").Encode(), nil, 200, "", 0},
		{"ok tenant GUID in upper case", "POST", "/" + strings.ToUpper(ts.tenant) + "/oauth2/v2.0/token", form, good().Encode(), nil, 200, "", 0},
		{"ok basic auth", "POST", v2, form, good("client_id", "", "client_secret", "").Encode(), basic(ts.clientID, ts.secret), 200, "", 0},
		{"GET", "GET", v2, "", "", nil, 400, "invalid_request", aadMethodNotAllowed},
		{"PUT v1", "PUT", v1, form, good().Encode(), nil, 400, "invalid_request", aadMethodNotAllowed},
		{"unknown tenant", "POST", "/0b7e6c2e-0000-4000-8000-000000000000/oauth2/v2.0/token", form, good().Encode(), nil, 400, "invalid_request", aadTenantNotFound},
		{"bad tenant name", "POST", "/%3Cscript%3E/oauth2/v2.0/token", form, good().Encode(), nil, 400, "invalid_request", aadTenantNotFound},
		{"common tenant", "POST", "/common/oauth2/v2.0/token", form, good().Encode(), nil, 400, "invalid_request", aadNoTenantInfo},
		{"missing grant_type", "POST", v2, form, good("grant_type", "").Encode(), nil, 400, "invalid_request", aadMissingParameter},
		{"password grant", "POST", v2, form, good("grant_type", "password").Encode(), nil, 400, "unsupported_grant_type", aadUnsupportedGrant},
		{"authorization_code grant", "POST", v1, form, good("grant_type", "authorization_code").Encode(), nil, 400, "unsupported_grant_type", aadUnsupportedGrant},
		{"missing client_id", "POST", v2, form, good("client_id", "").Encode(), nil, 400, "invalid_request", aadMissingParameter},
		{"unknown client", "POST", v2, form, good("client_id", "3f1e6f4c-1111-4222-8333-944455556666").Encode(), nil, 400, "unauthorized_client", aadAppNotFound},
		{"deleted client", "POST", v2, form, good("client_id", deleted.ClientID, "client_secret", deletedSecret).Encode(), nil, 400, "unauthorized_client", aadAppNotFound},
		{"wrong secret", "POST", v2, form, good("client_secret", ts.secret[:39]+"!").Encode(), nil, 401, "invalid_client", aadInvalidSecret},
		{"wrong secret v1", "POST", v1, form, good("client_secret", "x", "resource", "https://management.azure.com/").Encode(), nil, 401, "invalid_client", aadInvalidSecret},
		{"secret of another client", "POST", v2, form, good("client_secret", disabledSecret).Encode(), nil, 401, "invalid_client", aadInvalidSecret},
		{"missing secret", "POST", v2, form, good("client_secret", "").Encode(), nil, 401, "invalid_client", aadMissingCredential},
		{"client assertion", "POST", v2, form, good("client_secret", "", "client_assertion", "eyJ.x.y", "client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer").Encode(), nil, 401, "invalid_client", aadInvalidAssertion},
		{"managed identity", "POST", v2, form, good("client_id", mi.ClientID, "client_secret", "anything").Encode(), nil, 401, "invalid_client", aadInvalidSecret},
		{"disabled", "POST", v2, form, good("client_id", disabled.ClientID, "client_secret", disabledSecret).Encode(), nil, 400, "unauthorized_client", aadAppDisabled},
		{"expired secret", "POST", v2, form, good("client_id", expired.ClientID, "client_secret", expiredSecret).Encode(), nil, 401, "invalid_client", aadExpiredSecret},
		{"missing scope", "POST", v2, form, good("scope", "").Encode(), nil, 400, "invalid_request", aadMissingParameter},
		{"blank scope", "POST", v2, form, good("scope", "   ").Encode(), nil, 400, "invalid_request", aadMissingParameter},
		{"scope without .default", "POST", v2, form, good("scope", "https://graph.microsoft.com/User.Read").Encode(), nil, 400, "invalid_scope", aadScopeNeedsDefault},
		{"only oidc scopes", "POST", v2, form, good("scope", "openid profile").Encode(), nil, 400, "invalid_scope", aadInvalidScope},
		{"two .default scopes", "POST", v2, form, good("scope", "https://management.azure.com/.default https://storage.azure.com/.default").Encode(), nil, 400, "invalid_scope", aadInvalidScope},
		{"not a resource", "POST", v2, form, good("scope", "ftp://example/.default").Encode(), nil, 400, "invalid_resource", aadResourceNotFound},
		{"bare word resource", "POST", v2, form, good("scope", "management/.default").Encode(), nil, 400, "invalid_resource", aadResourceNotFound},
		{"v1 missing resource", "POST", v1, form, good("scope", "").Encode(), nil, 400, "invalid_request", aadMissingParameter},
		{"v1 bad resource", "POST", v1, form, good("resource", "http://insecure.example").Encode(), nil, 400, "invalid_resource", aadResourceNotFound},
		{"json body", "POST", v2, "application/json", `{"grant_type":"client_credentials"}`, nil, 400, "invalid_request", aadMissingParameter},
		{"no content type", "POST", v2, "", good().Encode(), nil, 400, "invalid_request", aadMissingParameter},
		{"bad form escape", "POST", v2, form, "grant_type=%zz", nil, 400, "invalid_request", aadMissingParameter},
		{"body too large", "POST", v2, form, good("claims", strings.Repeat("x", maxBodyBytes)).Encode(), nil, 413, "invalid_request", aadQueryTooLong},
		{"basic wrong secret", "POST", v2, form, good("client_id", "", "client_secret", "").Encode(), basic(ts.clientID, "nope"), 401, "invalid_client", aadInvalidSecret},
		{"basic malformed", "POST", v2, form, good("client_secret", "").Encode(), http.Header{"Authorization": {"Basic !!!"}}, 401, "invalid_client", aadInvalidClientHeader},
		{"basic no colon", "POST", v2, form, good().Encode(), http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("abc"))}}, 401, "invalid_client", aadInvalidClientHeader},
		{"bearer header", "POST", v2, form, good().Encode(), http.Header{"Authorization": {"Bearer x"}}, 401, "invalid_client", aadInvalidClientHeader},
		{"basic and body ids differ", "POST", v2, form, good("client_id", disabled.ClientID).Encode(), basic(ts.clientID, ts.secret), 400, "invalid_request", aadClientIDMismatch},
		{"basic and body secrets differ", "POST", v2, form, good("client_secret", "other").Encode(), basic(ts.clientID, ts.secret), 401, "invalid_client", aadInvalidClientHeader},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			hdr := http.Header{"Client-Request-Id": {"7d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d"}}
			for k, v := range c.hdr {
				hdr[k] = v
			}
			status, h, body := post(t, c.method, ts.srv.URL+c.path, c.contentType, strings.NewReader(c.body), hdr)
			if status != c.status {
				t.Fatalf("status %d, want %d; body %v", status, c.status, body)
			}
			if cc := h.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
				t.Errorf("Cache-Control %q", cc)
			}
			if c.status == 200 {
				if body["token_type"] != "Bearer" || body["access_token"] == "" {
					t.Errorf("body %v", body)
				}
				return
			}
			if body["error"] != c.oauthErr {
				t.Errorf("error %v, want %s", body["error"], c.oauthErr)
			}
			codes, _ := body["error_codes"].([]any)
			if len(codes) != 1 || codes[0] != float64(c.code) {
				t.Errorf("error_codes %v, want [%d]", body["error_codes"], c.code)
			}
			desc, _ := body["error_description"].(string)
			if !strings.HasPrefix(desc, "AADSTS"+itoa(c.code)+": ") {
				t.Errorf("error_description %q does not start with AADSTS%d", desc, c.code)
			}
			if strings.Contains(desc, ts.secret) || strings.Contains(desc, disabledSecret) {
				t.Error("the error description echoes a secret")
			}
			for _, k := range []string{"timestamp", "trace_id", "correlation_id"} {
				if s, _ := body[k].(string); s == "" {
					t.Errorf("%s is missing", k)
				}
			}
			if body["correlation_id"] != "7d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d" {
				t.Errorf("correlation_id %v is not the client-request-id", body["correlation_id"])
			}
		})
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestTokenResponses(t *testing.T) {
	t.Parallel()
	ts := newTestService(t, nil)
	f := url.Values{"grant_type": {"client_credentials"}, "client_id": {ts.clientID}, "client_secret": {ts.secret}}
	f.Set("scope", "https://management.azure.com/.default")
	_, _, body := post(t, "POST", ts.srv.URL+"/"+ts.tenant+"/oauth2/v2.0/token", "application/x-www-form-urlencoded", strings.NewReader(f.Encode()), nil)
	want := float64(DefaultTokenLifetime / time.Second)
	if body["expires_in"] != want || body["ext_expires_in"] != want {
		t.Errorf("v2 expires_in %v ext_expires_in %v, want the number %v", body["expires_in"], body["ext_expires_in"], want)
	}
	f.Del("scope")
	f.Set("resource", "https://management.azure.com/")
	_, _, body = post(t, "POST", ts.srv.URL+"/"+ts.tenant+"/oauth2/token", "application/x-www-form-urlencoded", strings.NewReader(f.Encode()), nil)
	if body["expires_in"] != "4500" || body["resource"] != "https://management.azure.com/" || body["token_type"] != "Bearer" {
		t.Errorf("v1 body %v", body)
	}
	if body["expires_on"] != itoa(int(ts.clk.Now().Add(DefaultTokenLifetime).Unix())) {
		t.Errorf("v1 expires_on %v", body["expires_on"])
	}
}

func TestMetricsAndAudit(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	ts := newTestService(t, func(c *Config) { c.Registerer = reg })
	f := url.Values{"grant_type": {"client_credentials"}, "client_id": {ts.clientID}, "client_secret": {ts.secret}, "scope": {"https://storage.azure.com/.default"}}
	post(t, "POST", ts.srv.URL+"/"+ts.tenant+"/oauth2/v2.0/token", "application/x-www-form-urlencoded", strings.NewReader(f.Encode()), nil)
	f.Set("client_secret", "wrong")
	post(t, "POST", ts.srv.URL+"/"+ts.tenant+"/oauth2/v2.0/token", "application/x-www-form-urlencoded", strings.NewReader(f.Encode()), nil)
	if n := testutil.ToFloat64(ts.metrics.tokens.WithLabelValues("client_credentials", "success")); n != 1 {
		t.Errorf("success count %v", n)
	}
	if n := testutil.ToFloat64(ts.metrics.tokens.WithLabelValues("client_credentials", "invalid_client")); n != 1 {
		t.Errorf("invalid_client count %v", n)
	}
	if n, err := testutil.GatherAndCount(reg, "cobalt_login_token_request_duration_seconds"); err != nil || n != 1 {
		t.Errorf("latency histogram: %d series, %v", n, err)
	}
	// A second service on the same registry reuses the collectors.
	if _, err := newMetrics(reg); err != nil {
		t.Fatal(err)
	}

	recs, _, err := ts.store.AuditList(context.Background(), "token.issued", store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Fatalf("%d audit records, want 1", len(recs))
	}
	r := recs[0]
	if r.Subject != ts.objectID || r.Actor != ts.objectID || r.Fields["audience"] != "https://storage.azure.com" || r.Fields["address"] != "127.0.0.1" || r.Fields["grant"] != "client_credentials" {
		t.Errorf("audit record %+v", r)
	}
	b, _ := json.Marshal(r)
	if bytes.Contains(b, []byte(ts.secret)) || bytes.Contains(b, []byte("eyJ")) {
		t.Error("the audit record holds a secret or a token")
	}
}

// TestDiscovery compares the discovery documents with golden files, with the
// authority and tenant replaced by placeholders.
func TestDiscovery(t *testing.T) {
	t.Parallel()
	ts := newTestService(t, nil)
	for _, c := range []struct{ path, golden string }{
		{"/" + ts.tenant + "/v2.0/.well-known/openid-configuration", "discovery_v2.json"},
		{"/" + ts.tenant + "/.well-known/openid-configuration", "discovery_v1.json"},
		{"/organizations/v2.0/.well-known/openid-configuration", "discovery_organizations_v2.json"},
		{"/common/.well-known/openid-configuration", "discovery_common_v1.json"},
	} {
		resp, err := http.Get(ts.srv.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d: %s", c.path, resp.StatusCode, b)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		pretty, _ := json.MarshalIndent(v, "", "  ")
		got := strings.ReplaceAll(strings.ReplaceAll(string(pretty), ts.srv.URL, "{authority}"), ts.tenant, "{tenant}") + "\n"
		golden := filepath.Join("testdata", c.golden)
		if *update {
			if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		if got != string(want) {
			t.Errorf("%s differs from %s:\n%s", c.path, golden, got)
		}
	}
	status, _, doc := post(t, "GET", ts.srv.URL+"/"+strings.ToUpper(ts.tenant)+"/v2.0/.well-known/openid-configuration", "", nil, nil)
	if status != 200 || doc["issuer"] != ts.IssuerV2(ts.tenant) {
		t.Errorf("upper-case tenant GUID: %d, issuer %v", status, doc["issuer"])
	}
	for _, p := range []string{"/9e3b3f0a-0000-4000-8000-000000000000/v2.0/.well-known/openid-configuration", "/nope/.well-known/openid-configuration", "/nope/discovery/keys"} {
		status, _, body := post(t, "GET", ts.srv.URL+p, "", nil, nil)
		if status != 400 || body["error"] != "invalid_tenant" || !strings.HasPrefix(body["error_description"].(string), "AADSTS90002: ") {
			t.Errorf("%s: %d %v", p, status, body)
		}
	}
}

func TestJWKS(t *testing.T) {
	t.Parallel()
	ts := newTestService(t, nil)
	for _, c := range []struct {
		path   string
		issuer string
	}{
		{"/" + ts.tenant + "/discovery/v2.0/keys", ts.IssuerV2(ts.tenant)},
		{"/" + ts.tenant + "/discovery/keys", ""},
		{"/common/discovery/keys", ""},
		{"/common/discovery/v2.0/keys", ts.IssuerV2("{tenantid}")},
	} {
		resp, err := http.Get(ts.srv.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		var set struct{ Keys []map[string]any }
		err = json.NewDecoder(resp.Body).Decode(&set)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || len(set.Keys) != 1 {
			t.Fatalf("%s: %d %v %v", c.path, resp.StatusCode, set, err)
		}
		k := set.Keys[0]
		for _, f := range []string{"kty", "use", "kid", "x5t", "n", "e", "x5c"} {
			if k[f] == nil {
				t.Errorf("%s: key has no %s", c.path, f)
			}
		}
		if k["kty"] != "RSA" || k["use"] != "sig" || k["e"] != "AQAB" || k["kid"] != k["x5t"] {
			t.Errorf("%s: key %v", c.path, k)
		}
		if got, _ := k["issuer"].(string); got != c.issuer {
			t.Errorf("%s: issuer %q, want %q", c.path, got, c.issuer)
		}
	}
}

// TestLogsHoldNoSecrets runs the service's operations with debug logging and
// checks that no secret, token or key reaches the log.
func TestLogsHoldNoSecrets(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	ts := newTestService(t, func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	ctx := context.Background()
	second, err := ts.AddSecret(ctx, ts.objectID)
	if err != nil {
		t.Fatal(err)
	}
	var tokens []string
	for _, sec := range []string{ts.secret, second, "wrong"} {
		f := url.Values{"grant_type": {"client_credentials"}, "client_id": {ts.clientID}, "client_secret": {sec}, "scope": {"https://management.azure.com/.default"}}
		_, _, body := post(t, "POST", ts.srv.URL+"/"+ts.tenant+"/oauth2/v2.0/token", "application/x-www-form-urlencoded", strings.NewReader(f.Encode()), nil)
		if tok, ok := body["access_token"].(string); ok {
			tokens = append(tokens, tok)
		}
	}
	tok, err := ts.IssueToken(ctx, IssueRequest{ObjectID: ts.objectID, Resource: "https://storage.azure.com/"})
	if err != nil {
		t.Fatal(err)
	}
	tokens = append(tokens, tok.AccessToken)
	if err := ts.RotateKeys(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ts.DeletePrincipal(ctx, ts.objectID); err != nil {
		t.Fatal(err)
	}
	logs := buf.String()
	if !strings.Contains(logs, "token issued") || !strings.Contains(logs, "signing key rotated") {
		t.Fatalf("the log lacks the expected events:\n%s", logs)
	}
	for _, secret := range append([]string{ts.secret, second}, tokens...) {
		if strings.Contains(logs, secret) {
			t.Fatal("a secret or token is in the log")
		}
	}
	if strings.Contains(logs, "eyJ") || strings.Contains(logs, "PRIVATE") {
		t.Fatal("something token- or key-like is in the log")
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
