package logintest

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/cobaltbatch/cobalt/internal/bearer"
	"github.com/cobaltbatch/cobalt/internal/testenv"
)

const armScope = "https://management.azure.com/.default"

// goCredential returns azidentity's ClientSecretCredential against e.
func (e *env) goCredential(t *testing.T, secret string) *azidentity.ClientSecretCredential {
	t.Helper()
	cred, err := azidentity.NewClientSecretCredential(e.tenant, e.clientID, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions{
			Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: e.url + "/"},
			Transport: e.client,
			Retry:     policy.RetryOptions{MaxRetries: -1},
		},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

// validator returns a bearer validator for e's tenant.
func (e *env) validator() *bearer.Validator {
	return bearer.New(bearer.Config{Keys: e.svc, TenantID: e.tenant, Issuers: []string{e.svc.IssuerV1(e.tenant), e.svc.IssuerV2(e.tenant)}})
}

func TestGoClientSecretCredential(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	for _, cae := range []bool{false, true} {
		tok, err := e.goCredential(t, e.secret).GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{armScope}, EnableCAE: cae})
		if err != nil {
			t.Fatalf("CAE %v: GetToken: %v", cae, err)
		}
		if d := time.Until(tok.ExpiresOn); d < 55*time.Minute || d > 95*time.Minute {
			t.Errorf("CAE %v: token expires in %v, want 60-90 min", cae, d)
		}
		c, err := e.validator().Validate(ctx, tok.Token, "https://management.azure.com/")
		if err != nil {
			t.Fatalf("CAE %v: Validate: %v", cae, err)
		}
		if c.ObjectID != e.objectID || c.ClientID != e.clientID || c.TenantID != e.tenant {
			t.Errorf("CAE %v: caller %+v", cae, c)
		}
	}
}

func TestGoClientSecretCredentialWrongSecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// The secret with its last character changed (never to itself: a
	// secret that ended in "x" made this test pass a right secret).
	last := "x"
	if strings.HasSuffix(e.secret, "x") {
		last = "y"
	}
	wrong := e.secret[:len(e.secret)-1] + last
	_, err := e.goCredential(t, wrong).GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{armScope}})
	if err == nil || !strings.Contains(err.Error(), "AADSTS7000215") {
		t.Fatalf("GetToken with a wrong secret: %v, want AADSTS7000215", err)
	}
}

// runNode runs test/node/login/client_secret_token.js and returns its stdout, stderr and error.
func (e *env) runNode(t *testing.T, secret, scope string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, errb, err := testenv.ExecNode(ctx, t, testenv.NodeRun{Script: "login/client_secret_token.js",
		Modules: []string{"@azure/identity"}, CAFile: e.ca.CAFile(), Env: map[string]string{
			"LOGIN_AUTHORITY_HOST": e.url,
			"LOGIN_TENANT_ID":      e.tenant,
			"LOGIN_CLIENT_ID":      e.clientID,
			"LOGIN_CLIENT_SECRET":  secret,
			"LOGIN_SCOPE":          scope,
		}})
	return string(out), string(errb), err
}

func TestNodeClientSecretCredential(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	out, stderr, err := e.runNode(t, e.secret, armScope)
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr)
	}
	var res struct {
		Token              string `json:"token"`
		ExpiresOnTimestamp int64  `json:"expiresOnTimestamp"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("node output %q: %v", out, err)
	}
	if d := time.Until(time.UnixMilli(res.ExpiresOnTimestamp)); d < 55*time.Minute || d > 95*time.Minute {
		t.Errorf("token expires in %v, want 60-90 min", d)
	}
	c, err := e.validator().Validate(context.Background(), res.Token, "https://management.azure.com")
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if c.ObjectID != e.objectID || c.ClientID != e.clientID {
		t.Errorf("caller %+v", c)
	}
}

func TestNodeClientSecretCredentialWrongSecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, stderr, err := e.runNode(t, "not-the-secret", armScope)
	if err == nil {
		t.Fatal("node got a token with a wrong secret")
	}
	if !strings.Contains(stderr, "AADSTS7000215") {
		t.Fatalf("stderr %q does not name AADSTS7000215", stderr)
	}
}
