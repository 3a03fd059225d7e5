package logintest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"

	"github.com/cobaltbatch/cobalt/internal/bearer"
)

// sdkToken gets a token for scope with the Go SDK.
func (e *env) sdkToken(t *testing.T, scope string) string {
	t.Helper()
	tok, err := e.goCredential(t, e.secret).GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{scope}})
	if err != nil {
		t.Fatalf("GetToken(%s): %v", scope, err)
	}
	return tok.Token
}

// forge re-signs the payload of a real token with a key the service never published.
func forge(t *testing.T, real string) string {
	t.Helper()
	parts := strings.Split(real, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: k, KeyID: "unknown-key"}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	jws, err := sig.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestOIDCVerifier checks the SDK's tokens with github.com/coreos/go-oidc/v3,
// which knows only the issuer URL and finds everything else by discovery.
func TestOIDCVerifier(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := oidc.ClientContext(context.Background(), e.client)
	cases := []struct {
		name     string
		issuer   string
		scope    string
		audience string
	}{
		{"v1 management", e.svc.IssuerV1(e.tenant), armScope, "https://management.azure.com"},
		{"v1 management trailing slash", e.svc.IssuerV1(e.tenant), "https://management.azure.com//.default", "https://management.azure.com/"},
		{"v1 storage", e.svc.IssuerV1(e.tenant), "https://storage.azure.com/.default", "https://storage.azure.com"},
		{"v2 api uri", e.svc.IssuerV2(e.tenant), "api://cobalt-test/.default", "api://cobalt-test"},
		{"v2 app id", e.svc.IssuerV2(e.tenant), "6dae42f8-4368-4678-94ff-3960e28e3630/.default", "6dae42f8-4368-4678-94ff-3960e28e3630"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			prov, err := oidc.NewProvider(ctx, c.issuer)
			if err != nil {
				t.Fatalf("NewProvider(%s): %v", c.issuer, err)
			}
			raw := e.sdkToken(t, c.scope)
			v := prov.VerifierContext(ctx, &oidc.Config{ClientID: c.audience})
			tok, err := v.Verify(ctx, raw)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if tok.Subject != e.objectID || tok.Issuer != c.issuer {
				t.Errorf("subject %q issuer %q", tok.Subject, tok.Issuer)
			}

			if _, err := v.Verify(ctx, forge(t, raw)); err == nil {
				t.Error("a token signed by an unknown key verified")
			}
			late := prov.VerifierContext(ctx, &oidc.Config{ClientID: c.audience, Now: func() time.Time { return time.Now().Add(91 * time.Minute) }})
			var expired *oidc.TokenExpiredError
			if _, err := late.Verify(ctx, raw); !errors.As(err, &expired) {
				t.Errorf("an expired token: %v, want expired", err)
			}
			other := prov.VerifierContext(ctx, &oidc.Config{ClientID: "https://vault.azure.net"})
			if _, err := other.Verify(ctx, raw); err == nil {
				t.Error("a token for another audience verified")
			}
		})
	}
}

// TestRemoteKeys validates an SDK token with keys fetched from the JWKS
// endpoint over HTTPS, as a service in another process would.
func TestRemoteKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	raw := e.sdkToken(t, armScope)
	for _, path := range []string{"/discovery/keys", "/discovery/v2.0/keys"} {
		v := bearer.New(bearer.Config{
			Keys:     bearer.RemoteKeys{URL: e.url + "/" + e.tenant + path, Client: e.client},
			TenantID: e.tenant, Issuers: []string{e.svc.IssuerV1(e.tenant)},
		})
		c, err := v.Validate(context.Background(), raw, "https://management.azure.com")
		if err != nil || c.ObjectID != e.objectID {
			t.Fatalf("%s: %+v, %v", path, c, err)
		}
	}
	v := bearer.New(bearer.Config{Keys: bearer.RemoteKeys{URL: e.url + "/nope/discovery/keys", Client: e.client}, Issuers: []string{e.svc.IssuerV1(e.tenant)}})
	if _, err := v.Validate(context.Background(), raw, "https://management.azure.com"); err == nil {
		t.Fatal("validated with keys from an unknown tenant's endpoint")
	}
}
