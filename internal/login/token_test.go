package login

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// decodeJWT returns a compact JWT's header and claims, unverified.
func decodeJWT(t *testing.T, raw string) (map[string]any, map[string]any) {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	var out [2]map[string]any
	for i := range out {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out[0], out[1]
}

func keysOf(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func TestTokenClaims(t *testing.T) {
	t.Parallel()
	ts := newTestService(t, nil)
	ctx := context.Background()
	const mirid = "/subscriptions/0b1f6471-1bf0-4dda-aec3-cb9272f09590/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1"
	mi, err := ts.CreateManagedIdentityPrincipal(ctx, ts.tenant, "id1", mirid)
	if err != nil {
		t.Fatal(err)
	}
	now := ts.clk.Now()
	cases := []struct {
		name     string
		issue    func() string
		aud      string
		ver      string
		acr      string
		client   string
		oid      string
		mirid    string
		v1Header bool
	}{
		{"client credentials management v1", func() string {
			return ts.clientCredentialsToken(t, "scope", "https://management.azure.com/.default")
		}, "https://management.azure.com", V1, "1", ts.clientID, ts.objectID, "", true},
		{"client credentials v1 endpoint", func() string {
			return ts.clientCredentialsToken(t, "resource", "https://batch.core.windows.net/")
		}, "https://batch.core.windows.net/", V1, "1", ts.clientID, ts.objectID, "", true},
		{"client credentials v2 app id", func() string {
			return ts.clientCredentialsToken(t, "scope", "00000003-0000-0000-c000-000000000000/.default")
		}, "00000003-0000-0000-c000-000000000000", V2, "1", ts.clientID, ts.objectID, "", false},
		{"managed identity storage v1", func() string {
			tok, err := ts.IssueToken(ctx, IssueRequest{ObjectID: mi.ObjectID, Resource: "https://storage.azure.com/", Audit: map[string]string{"node": "n1", "pool": "p1", "task": "t1"}})
			if err != nil {
				t.Fatal(err)
			}
			if tok.Principal.ObjectID != mi.ObjectID || tok.Version != V1 || !tok.ExpiresAt.Equal(now.Add(DefaultTokenLifetime)) {
				t.Errorf("token %+v", tok)
			}
			return tok.AccessToken
		}, "https://storage.azure.com/", V1, "2", mi.ClientID, mi.ObjectID, mirid, true},
		{"managed identity api v2", func() string {
			tok, err := ts.IssueToken(ctx, IssueRequest{ObjectID: mi.ObjectID, Resource: "api://my-api/.default"})
			if err != nil {
				t.Fatal(err)
			}
			return tok.AccessToken
		}, "api://my-api", V2, "2", mi.ClientID, mi.ObjectID, mirid, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hdr, cl := decodeJWT(t, c.issue())
			if hdr["alg"] != "RS256" || hdr["typ"] != "JWT" || hdr["kid"] == nil {
				t.Errorf("header %v", hdr)
			}
			if c.v1Header != (hdr["x5t"] != nil) || c.v1Header && hdr["x5t"] != hdr["kid"] {
				t.Errorf("header %v: x5t wanted %v", hdr, c.v1Header)
			}
			iss := ts.IssuerV1(ts.tenant)
			want := map[string]any{
				"aud": c.aud, "iss": iss, "idp": iss, "oid": c.oid, "sub": c.oid, "tid": ts.tenant, "ver": c.ver, "idtyp": "app",
				"iat": float64(now.Add(-5 * time.Minute).Unix()), "nbf": float64(now.Add(-5 * time.Minute).Unix()),
				"exp": float64(now.Add(DefaultTokenLifetime).Unix()),
			}
			if c.ver == V1 {
				want["appid"], want["appidacr"] = c.client, c.acr
			} else {
				iss = ts.IssuerV2(ts.tenant)
				want["iss"], want["idp"] = iss, iss
				want["azp"], want["azpacr"] = c.client, c.acr
			}
			if c.mirid != "" {
				want["xms_mirid"] = c.mirid
			}
			for k, v := range want {
				if cl[k] != v {
					t.Errorf("claim %s = %v, want %v", k, cl[k], v)
				}
			}
			for _, k := range []string{"aio", "rh", "uti"} {
				if s, _ := cl[k].(string); s == "" {
					t.Errorf("claim %s missing", k)
				}
			}
			if len(cl) != len(want)+3 {
				t.Errorf("claims %v, want exactly %v and aio, rh, uti", keysOf(cl), keysOf(want))
			}
		})
	}

	recs, _, err := ts.store.AuditList(ctx, "token.issued", store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, r := range recs {
		if r.Subject == mi.ObjectID && r.Actor == "n1" && r.Fields["node"] == "n1" && r.Fields["pool"] == "p1" && r.Fields["task"] == "t1" && r.Fields["audience"] == "https://storage.azure.com/" {
			found = true
		}
	}
	if !found {
		t.Errorf("no audit record for the managed identity token in %+v", recs)
	}
}

// clientCredentialsToken gets a token from the endpoint for a scope (v2) or resource (v1).
func (ts *testService) clientCredentialsToken(t *testing.T, param, value string) string {
	t.Helper()
	f := url.Values{"grant_type": {"client_credentials"}, "client_id": {ts.clientID}, "client_secret": {ts.secret}, param: {value}}
	path := "/oauth2/v2.0/token"
	if param == "resource" {
		path = "/oauth2/token"
	}
	status, _, body := post(t, "POST", ts.srv.URL+"/"+ts.tenant+path, "application/x-www-form-urlencoded", strings.NewReader(f.Encode()), nil)
	if status != 200 {
		t.Fatalf("status %d: %v", status, body)
	}
	return body["access_token"].(string)
}

func TestIssueTokenErrors(t *testing.T) {
	t.Parallel()
	ts := newTestService(t, nil)
	ctx := context.Background()
	mi, _ := ts.CreateManagedIdentityPrincipal(ctx, ts.tenant, "mi", "/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/mi")
	gone, _ := ts.CreateManagedIdentityPrincipal(ctx, ts.tenant, "gone", "/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/gone")
	if err := ts.DeletePrincipal(ctx, gone.ObjectID); err != nil {
		t.Fatal(err)
	}
	if err := ts.DeletePrincipal(ctx, gone.ObjectID); !cobalt.IsCode(err, cobalt.ENotFound) {
		t.Errorf("second delete: %v, want ENotFound", err)
	}
	off, _ := ts.CreateManagedIdentityPrincipal(ctx, ts.tenant, "off", "/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/off")
	ts.store.PrincipalUpdate(ctx, off.ObjectID, func(p *store.PrincipalRecord) error { p.Disabled = true; return nil })
	for _, c := range []struct {
		name string
		req  IssueRequest
		code cobalt.Code
	}{
		{"deleted", IssueRequest{ObjectID: gone.ObjectID, Resource: "https://management.azure.com/"}, cobalt.ENotFound},
		{"never existed", IssueRequest{ObjectID: "nope", Resource: "https://management.azure.com/"}, cobalt.ENotFound},
		{"disabled", IssueRequest{ObjectID: off.ObjectID, Resource: "https://management.azure.com/"}, cobalt.ENotFound},
		{"empty resource", IssueRequest{ObjectID: mi.ObjectID}, cobalt.EInvalid},
		{"http resource", IssueRequest{ObjectID: mi.ObjectID, Resource: "http://management.azure.com/"}, cobalt.EInvalid},
		{"word resource", IssueRequest{ObjectID: mi.ObjectID, Resource: "management"}, cobalt.EInvalid},
	} {
		if _, err := ts.IssueToken(ctx, c.req); !cobalt.IsCode(err, c.code) {
			t.Errorf("%s: %v, want %s", c.name, err, c.code)
		}
	}
	if _, err := ts.AddSecret(ctx, mi.ObjectID); !cobalt.IsCode(err, cobalt.EInvalid) {
		t.Errorf("AddSecret on a managed identity: %v, want EInvalid", err)
	}
	if _, err := ts.AddSecret(ctx, gone.ObjectID); !cobalt.IsCode(err, cobalt.ENotFound) {
		t.Errorf("AddSecret on a deleted principal: %v, want ENotFound", err)
	}
	if _, _, err := ts.CreateServicePrincipal(ctx, "common", "x"); !cobalt.IsCode(err, cobalt.EInvalid) {
		t.Errorf("CreateServicePrincipal in common: %v, want EInvalid", err)
	}
	if _, err := ts.CreateManagedIdentityPrincipal(ctx, ts.tenant, "x", ""); !cobalt.IsCode(err, cobalt.EInvalid) {
		t.Errorf("CreateManagedIdentityPrincipal without resource ID: %v, want EInvalid", err)
	}
}

func TestSecrets(t *testing.T) {
	t.Parallel()
	ts := newTestService(t, nil)
	if len(ts.secret) != 40 || ts.secret[3:6] != "8Q~" {
		t.Errorf("secret shape: len %d, marker %q", len(ts.secret), ts.secret[3:6])
	}
	second, err := ts.AddSecret(context.Background(), ts.objectID)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ts.store.PrincipalGet(context.Background(), ts.objectID)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Secrets) != 2 || p.Secrets[1].Hint != second[:3] {
		t.Fatalf("secrets %+v", p.Secrets)
	}
	for _, s := range p.Secrets {
		if strings.Contains(string(s.Hash), ts.secret) || len(s.Salt) != 16 {
			t.Errorf("stored secret %+v", s)
		}
	}
	for _, sec := range []string{ts.secret, second} {
		if ok, _ := secretMatches(&p, sec, ts.clk.Now()); !ok {
			t.Error("a valid secret does not match")
		}
		f := url.Values{"grant_type": {"client_credentials"}, "client_id": {ts.clientID}, "client_secret": {sec}, "scope": {"https://management.azure.com/.default"}}
		if status, _, body := post(t, "POST", ts.srv.URL+"/"+ts.tenant+"/oauth2/v2.0/token", "application/x-www-form-urlencoded", strings.NewReader(f.Encode()), nil); status != 200 {
			t.Errorf("secret rejected: %v", body)
		}
	}
	if ok, _ := secretMatches(&p, ts.secret[:39], ts.clk.Now()); ok {
		t.Error("a truncated secret matches")
	}
	if ok, _ := secretMatches(&p, "", ts.clk.Now()); ok {
		t.Error("an empty secret matches")
	}
}

func TestPrincipalCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	request := func(ts *testService, secret string) int {
		f := url.Values{"grant_type": {"client_credentials"}, "client_id": {ts.clientID}, "client_secret": {secret}, "scope": {"https://management.azure.com/.default"}}
		status, _, _ := post(t, "POST", ts.srv.URL+"/"+ts.tenant+"/oauth2/v2.0/token", "application/x-www-form-urlencoded", strings.NewReader(f.Encode()), nil)
		return status
	}
	disable := func(ts *testService) {
		if _, err := ts.store.PrincipalUpdate(ctx, ts.objectID, func(p *store.PrincipalRecord) error { p.Disabled = true; return nil }); err != nil {
			t.Fatal(err)
		}
	}

	// Changes through the Service apply at once, cached or not.
	ts := newTestService(t, func(c *Config) { c.PrincipalCacheTTL = time.Hour })
	if s := request(ts, ts.secret); s != 200 {
		t.Fatalf("status %d", s)
	}
	second, err := ts.AddSecret(ctx, ts.objectID)
	if err != nil {
		t.Fatal(err)
	}
	if s := request(ts, second); s != 200 {
		t.Fatalf("a secret added after the principal was cached: status %d", s)
	}
	if err := ts.DeletePrincipal(ctx, ts.objectID); err != nil {
		t.Fatal(err)
	}
	if s := request(ts, ts.secret); s != 400 {
		t.Fatalf("a principal deleted after it was cached: status %d, want 400", s)
	}

	// Changes made behind the Service's back (another replica) apply within
	// the TTL; with the cache disabled, at once.
	ts = newTestService(t, func(c *Config) { c.PrincipalCacheTTL = time.Hour })
	request(ts, ts.secret)
	disable(ts)
	if s := request(ts, ts.secret); s != 200 {
		t.Fatalf("within the TTL: status %d, want the cached principal's 200", s)
	}
	ts = newTestService(t, func(c *Config) { c.PrincipalCacheTTL = -1 })
	request(ts, ts.secret)
	disable(ts)
	if s := request(ts, ts.secret); s != 400 {
		t.Fatalf("without a cache: status %d, want 400", s)
	}
}
