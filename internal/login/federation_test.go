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
	"github.com/cobaltbatch/cobalt/internal/login/oidctest"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// fedEnv is a login service with a managed identity that trusts a test
// issuer's tokens for subject "system:serviceaccount:ns:sa".
type fedEnv struct {
	*testService
	issuer *oidctest.Issuer
	mi     cobalt.Principal
}

const fedSubject = "system:serviceaccount:ns:sa"

const fedMIID = "/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/mi"

func newFedEnv(t *testing.T) *fedEnv {
	t.Helper()
	issuer := oidctest.Start(t, nil)
	ts := newTestService(t, func(c *Config) { c.FederationRootCAs = issuer.RootCAs() })
	mi, err := ts.CreateManagedIdentityPrincipal(context.Background(), ts.tenant, "mi", fedMIID)
	if err != nil {
		t.Fatal(err)
	}
	e := &fedEnv{testService: ts, issuer: issuer, mi: mi}
	e.putCredential(t, "fic1", cobalt.FederatedCredential{Issuer: issuer.URL, Subject: fedSubject, Audiences: []string{cobalt.DefaultFederatedAudience}})
	return e
}

// putCredential stores a federated credential under the identity, as the
// management plane does.
func (e *fedEnv) putCredential(t testing.TB, name string, fc cobalt.FederatedCredential) {
	t.Helper()
	id, err := cobalt.ParseResourceID(fedMIID + "/federatedIdentityCredentials/" + name)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(fc)
	_, err = e.store.ResourceCreate(context.Background(), store.Resource{ID: id.String(), Key: id.Key(),
		Type: strings.ToLower(id.Type()), ParentKey: id.Parent().Key(), SubscriptionID: "s", ResourceGroup: "g", Body: body})
	if err != nil {
		t.Fatal(err)
	}
}

// exchange posts a client-credentials request with a client assertion.
func (e *fedEnv) exchange(t *testing.T, clientID, assertion string) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID},
		"client_assertion_type": {clientAssertionType}, "client_assertion": {assertion},
		"scope": {"https://management.azure.com/.default"}}
	status, _, m := post(t, "POST", e.srv.URL+"/"+e.tenant+"/oauth2/v2.0/token", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), nil)
	return status, m
}

// wantAADSTS checks an error answer's AADSTS code.
func wantAADSTS(t *testing.T, status int, m map[string]any, code int) {
	t.Helper()
	codes, _ := m["error_codes"].([]any)
	if status < 400 || len(codes) != 1 || int(codes[0].(float64)) != code {
		t.Fatalf("status %d, body %v; want AADSTS%d", status, m, code)
	}
}

func (e *fedEnv) token(t *testing.T) string {
	return e.issuer.Sign(t, e.issuer.Claims(fedSubject, cobalt.DefaultFederatedAudience, e.clk.Now()))
}

func TestFederatedExchange(t *testing.T) {
	t.Parallel()
	e := newFedEnv(t)
	status, m := e.exchange(t, e.mi.ClientID, e.token(t))
	if status != 200 {
		t.Fatalf("status %d: %v", status, m)
	}
	c := claimsOf(t, m["access_token"].(string))
	if c["oid"] != e.mi.ObjectID || c["appid"] != e.mi.ClientID || c["appidacr"] != "2" || c["xms_mirid"] != fedMIID ||
		c["aud"] != "https://management.azure.com" || c["idtyp"] != "app" {
		t.Fatalf("claims %v", c)
	}
	recs, _, err := e.store.AuditList(context.Background(), "token.issued", store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	last := recs[len(recs)-1]
	if last.Subject != e.mi.ObjectID || last.Fields["grant"] != "federated" || last.Fields["federated_issuer"] != e.issuer.URL ||
		last.Fields["federated_subject"] != fedSubject {
		t.Fatalf("audit %+v", last)
	}
}

// TestFederatedAttacks checks that no assertion but the right one gets a token.
func TestFederatedAttacks(t *testing.T) {
	t.Parallel()
	e := newFedEnv(t)
	other := oidctest.Start(t, nil) // an issuer no credential names
	now := e.clk.Now()
	claims := func(mut func(map[string]any)) map[string]any {
		c := e.issuer.Claims(fedSubject, cobalt.DefaultFederatedAudience, now)
		if mut != nil {
			mut(c)
		}
		return c
	}
	stolenKID := e.issuer.JWKS().Keys[0].KeyID
	forged := oidctest.NewKey(t)
	forged.KID = stolenKID
	sp, _, err := e.CreateServicePrincipal(context.Background(), e.tenant, "app")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		clientID  string
		assertion string
		code      int
	}{
		{"wrong issuer", e.mi.ClientID, other.Sign(t, other.Claims(fedSubject, cobalt.DefaultFederatedAudience, now)), aadNoFederatedIssuer},
		{"issuer claimed by another issuer's key", e.mi.ClientID, other.Sign(t, claims(nil)), aadInvalidAssertion},
		{"wrong subject", e.mi.ClientID, e.issuer.Sign(t, claims(func(c map[string]any) { c["sub"] = "system:serviceaccount:ns:other" })), aadNoFederatedSubject},
		{"subject differs in case", e.mi.ClientID, e.issuer.Sign(t, claims(func(c map[string]any) { c["sub"] = strings.ToUpper(fedSubject) })), aadNoFederatedSubject},
		{"wrong audience", e.mi.ClientID, e.issuer.Sign(t, claims(func(c map[string]any) { c["aud"] = "api://other" })), aadNoFederatedAudience},
		{"expired", e.mi.ClientID, e.issuer.Sign(t, claims(func(c map[string]any) { c["exp"] = now.Add(-time.Hour).Unix() })), aadAssertionLifetime},
		{"not yet valid", e.mi.ClientID, e.issuer.Sign(t, claims(func(c map[string]any) { c["nbf"] = now.Add(time.Hour).Unix() })), aadAssertionLifetime},
		{"no expiry", e.mi.ClientID, e.issuer.Sign(t, claims(func(c map[string]any) { delete(c, "exp") })), aadInvalidJWT},
		{"bad signature: another key under the issuer's kid", e.mi.ClientID, oidctest.SignWith(t, forged, claims(nil)), aadInvalidAssertion},
		{"unknown kid", e.mi.ClientID, oidctest.SignWith(t, oidctest.NewKey(t), claims(nil)), aadInvalidAssertion},
		{"alg none", e.mi.ClientID, oidctest.Unsigned(t, claims(nil)), aadInvalidJWT},
		{"tampered payload", e.mi.ClientID, tamper(e.token(t)), aadInvalidAssertion},
		{"garbage", e.mi.ClientID, "not.a.jwt", aadInvalidJWT},
		{"a service principal has no federated credentials", sp.ClientID, e.token(t), aadInvalidAssertion},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, m := e.exchange(t, tc.clientID, tc.assertion)
			wantAADSTS(t, status, m, tc.code)
		})
	}

	t.Run("wrong assertion type", func(t *testing.T) {
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {e.mi.ClientID},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:saml2-bearer"}, "client_assertion": {e.token(t)},
			"scope": {"https://management.azure.com/.default"}}
		status, _, m := post(t, "POST", e.srv.URL+"/"+e.tenant+"/oauth2/v2.0/token", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), nil)
		wantAADSTS(t, status, m, aadInvalidClientHeader)
	})
}

// tamper changes the subject in a signed token's payload, keeping the signature.
func tamper(raw string) string {
	parts := strings.Split(raw, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	payload = []byte(strings.Replace(string(payload), `"sub":"`, `"sub":"x`, 1))
	parts[1] = base64.RawURLEncoding.EncodeToString(payload)
	return strings.Join(parts, ".")
}

// TestFederatedCredentialDeleted checks that deleting the credential ends the exchange.
func TestFederatedCredentialDeleted(t *testing.T) {
	t.Parallel()
	e := newFedEnv(t)
	if status, m := e.exchange(t, e.mi.ClientID, e.token(t)); status != 200 {
		t.Fatalf("status %d: %v", status, m)
	}
	id, _ := cobalt.ParseResourceID(fedMIID + "/federatedIdentityCredentials/fic1")
	if err := e.store.ResourceDelete(context.Background(), id.Key()); err != nil {
		t.Fatal(err)
	}
	status, m := e.exchange(t, e.mi.ClientID, e.token(t))
	wantAADSTS(t, status, m, aadNoFederatedRecord)
}

// TestFederatedKeyRotation checks the key cache: keys are reused within
// the TTL, fetched again for a new key ID (at most every
// federationRefetchAfter), and a key the issuer dropped stops working.
func TestFederatedKeyRotation(t *testing.T) {
	t.Parallel()
	e := newFedEnv(t)
	old := e.token(t)
	if status, m := e.exchange(t, e.mi.ClientID, old); status != 200 {
		t.Fatalf("status %d: %v", status, m)
	}
	fetched := e.issuer.Fetches()
	if fetched != 2 {
		t.Fatalf("%d fetches for the first exchange, want 2 (discovery and keys)", fetched)
	}
	if status, m := e.exchange(t, e.mi.ClientID, e.token(t)); status != 200 || e.issuer.Fetches() != fetched {
		t.Fatalf("second exchange: status %d %v, %d fetches (want the cache)", status, m, e.issuer.Fetches())
	}

	e.issuer.Rotate(t)
	fresh := e.token(t)
	// Within federationRefetchAfter of the last fetch an unknown kid fails without a fetch.
	status, m := e.exchange(t, e.mi.ClientID, fresh)
	wantAADSTS(t, status, m, aadInvalidAssertion)
	if e.issuer.Fetches() != fetched {
		t.Fatalf("an unknown kid fetched again within %s", federationRefetchAfter)
	}
	e.clk.Add(federationRefetchAfter + time.Second)
	fresh = e.token(t)
	if status, m := e.exchange(t, e.mi.ClientID, fresh); status != 200 {
		t.Fatalf("new key after rotation: status %d: %v", status, m)
	}
	if e.issuer.Fetches() != fetched+2 {
		t.Fatalf("%d fetches, want %d", e.issuer.Fetches(), fetched+2)
	}
	// The old key is gone from the issuer's set, and from the cache with it.
	status, m = e.exchange(t, e.mi.ClientID, old)
	wantAADSTS(t, status, m, aadInvalidAssertion)

	// After the TTL the keys are fetched again.
	e.clk.Add(DefaultFederationKeyTTL)
	if status, m := e.exchange(t, e.mi.ClientID, e.token(t)); status != 200 || e.issuer.Fetches() != fetched+4 {
		t.Fatalf("after the TTL: status %d %v, %d fetches", status, m, e.issuer.Fetches())
	}
}

// TestFederatedIssuerSafety checks that issuers off loopback are never
// fetched unless allowed, and that a discovery document cannot send the
// service elsewhere.
func TestFederatedIssuerSafety(t *testing.T) {
	t.Parallel()
	e := newFedEnv(t)
	const remote = "https://issuer.example.com"
	e.putCredential(t, "remote", cobalt.FederatedCredential{Issuer: remote, Subject: fedSubject, Audiences: []string{cobalt.DefaultFederatedAudience}})
	c := e.issuer.Claims(fedSubject, cobalt.DefaultFederatedAudience, e.clk.Now())
	c["iss"] = remote
	status, m := e.exchange(t, e.mi.ClientID, e.issuer.Sign(t, c))
	wantAADSTS(t, status, m, aadExternalOIDCFailed)
	if !strings.Contains(m["error_description"].(string), "--federation-issuer") {
		t.Fatalf("the error does not name the rule: %v", m["error_description"])
	}

	e.issuer.SetJWKSURI("https://keys.example.com/keys")
	e.clk.Add(DefaultFederationKeyTTL) // past any cached keys
	status, m = e.exchange(t, e.mi.ClientID, e.token(t))
	wantAADSTS(t, status, m, aadExternalOIDCFailed)
}

// TestIssuerKeyCacheGuards checks the cache's own rules: what it may fetch,
// that its dialer refuses non-loopback addresses for hosts no allowed
// issuer names, and that it holds a bounded number of issuers.
func TestIssuerKeyCacheGuards(t *testing.T) {
	t.Parallel()
	clk := newClock()
	c := newIssuerKeyCache([]string{"https://allowed.example.com/tenant"}, nil, 0, clk.Now)
	for iss, want := range map[string]bool{
		"https://127.0.0.1:8443":             true,
		"https://localhost/x":                true,
		"https://[::1]:9000":                 true,
		"https://allowed.example.com/tenant": true,
		"https://allowed.example.com/other":  false,
		"http://127.0.0.1:8443":              false,
		"https://evil.example.com":           false,
		"https://127.0.0.1.example.com":      false,
		"https://u:p@127.0.0.1":              false,
		"https://127.0.0.1/?q=1":             false,
	} {
		if got := c.issuerAllowed(iss); got != want {
			t.Errorf("issuerAllowed(%q) = %v, want %v", iss, got, want)
		}
	}
	// The dialer refuses a non-loopback address before connecting.
	if err := loopbackOnly("tcp", "192.0.2.1:443", nil); err == nil {
		t.Fatal("loopbackOnly accepted 192.0.2.1")
	}
	if err := loopbackOnly("tcp", "[::ffff:10.0.0.1]:443", nil); err == nil {
		t.Fatal("loopbackOnly accepted a mapped private address")
	}
	for _, a := range []string{"127.0.0.1:443", "[::1]:443"} {
		if err := loopbackOnly("tcp", a, nil); err != nil {
			t.Fatalf("loopbackOnly(%s): %v", a, err)
		}
	}
	for i := 0; i < federationMaxIssuers+10; i++ {
		c.mu.Lock()
		if len(c.entries) >= federationMaxIssuers {
			c.evictOldest()
		}
		c.entries["https://127.0.0.1/"+itoa(i)] = &issuerKeys{fetched: clk.Now()}
		c.mu.Unlock()
		clk.Add(time.Second)
	}
	if len(c.entries) != federationMaxIssuers || c.entries["https://127.0.0.1/0"] != nil {
		t.Fatalf("cache holds %d issuers (the oldest kept: %v)", len(c.entries), c.entries["https://127.0.0.1/0"] != nil)
	}
}

// TestFederationIssuersValidated checks that New refuses an allowed issuer
// that is not an https URL, so that a typo cannot allow plain http.
func TestFederationIssuersValidated(t *testing.T) {
	t.Parallel()
	for _, iss := range []string{"http://issuer.example.com", "issuer.example.com", "https://u:p@issuer.example.com", "https://issuer.example.com/?a=b"} {
		_, err := New(context.Background(), Config{Store: openStore(t, t.TempDir()), AuthorityURL: "https://127.0.0.1:1",
			SealKey: sealKey(t), FederationIssuers: []string{iss}})
		if err == nil {
			t.Errorf("New accepted the federation issuer %q", iss)
		}
	}
}
