package login

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/login/oidctest"
)

// FuzzClientAssertion feeds arbitrary client assertions to the parser and,
// for a managed identity with a federated credential on a live test issuer,
// to the whole exchange. The parser must return claims with an issuer, a
// subject, an audience and an expiry, or AADSTS50027; the exchange must
// answer Entra's JSON, never 5xx, and issue a token only for an assertion
// that the issuer signed.
func FuzzClientAssertion(f *testing.F) {
	issuer := oidctest.Start(f, nil)
	ts := newTestService(f, func(c *Config) { c.FederationRootCAs = issuer.RootCAs() })
	e := &fedEnv{testService: ts, issuer: issuer}
	mi, err := ts.CreateManagedIdentityPrincipal(f.Context(), ts.tenant, "mi", fedMIID)
	if err != nil {
		f.Fatal(err)
	}
	e.mi = mi
	e.putCredential(f, "fic1", cobalt.FederatedCredential{Issuer: issuer.URL, Subject: fedSubject, Audiences: []string{cobalt.DefaultFederatedAudience}})
	now := ts.clk.Now()
	good := issuer.Sign(f, issuer.Claims(fedSubject, cobalt.DefaultFederatedAudience, now))
	f.Add(good)
	f.Add(oidctest.Unsigned(f, issuer.Claims(fedSubject, cobalt.DefaultFederatedAudience, now)))
	f.Add(tamper(good))
	f.Add(good[:len(good)/2])
	f.Add("eyJhbGciOiJSUzI1NiJ9.e30.")
	f.Add("eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln")
	f.Add("a.b.c.d.e")
	f.Add("")

	h := ts.Handler()
	f.Fuzz(func(t *testing.T, raw string) {
		pa, err := parseAssertion(raw)
		if err == nil {
			c := pa.claims
			if c.Issuer == "" || c.Subject == "" || len(c.Audience) == 0 || c.Expiry == nil {
				t.Fatalf("parsed claims %+v lack a required claim", c)
			}
		} else if code, ok := aadCode(err); !ok || code != aadInvalidJWT {
			t.Fatalf("parse error %v is not AADSTS50027", err)
		}
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {mi.ClientID},
			"client_assertion_type": {clientAssertionType}, "client_assertion": {raw},
			"scope": {"https://management.azure.com/.default"}}
		req := httptest.NewRequest("POST", "/"+ts.tenant+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch {
		case rec.Code >= 500:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		case rec.Code == http.StatusOK && !issuerSigned(issuer, raw):
			t.Fatalf("a token for assertion %q, which the issuer did not sign", raw)
		case !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json"):
			t.Fatalf("content type %q", rec.Header().Get("Content-Type"))
		}
	})
}

// issuerSigned reports whether raw is a token for the credential's subject
// that verifies with one of the issuer's published keys, checked here
// with go-jose directly.
func issuerSigned(issuer *oidctest.Issuer, raw string) bool {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return false
	}
	for _, k := range issuer.JWKS().Keys {
		var c jwt.Claims
		if tok.Claims(k.Key, &c) == nil {
			return c.Issuer == issuer.URL && c.Subject == fedSubject
		}
	}
	return false
}
