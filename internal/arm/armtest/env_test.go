package armtest

import (
	"context"
	"crypto/rand"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/cobaltbatch/cobalt"
	armfd "github.com/cobaltbatch/cobalt/internal/arm"
	"github.com/cobaltbatch/cobalt/internal/bearer"
	"github.com/cobaltbatch/cobalt/internal/login"
	"github.com/cobaltbatch/cobalt/internal/pki"
	"github.com/cobaltbatch/cobalt/internal/pki/pkitest"
	"github.com/cobaltbatch/cobalt/internal/rbac"
	"github.com/cobaltbatch/cobalt/internal/store"
	"github.com/cobaltbatch/cobalt/internal/store/sqlite"
)

const (
	tenantID = "8f2b6a4e-3c1d-4e5f-9a7b-1c2d3e4f5a6b"
	subID    = "5a1c9e2d-7b3f-4d6a-8e1c-2f4b6d8a0c1e"
)

// env is a login service and the ARM front door, each over HTTPS with a
// test CA, and an admin service principal with Owner on the subscription.
type env struct {
	ca      *pki.CA
	store   store.Store
	login   *login.Service
	arm     *armfd.Server
	authURL string // https://127.0.0.1:PORT
	armURL  string
	client  *http.Client
	admin   cobalt.Principal
	secret  string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ctx := context.Background()
	ca := pkitest.NewCA(t)
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "cobalt.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	loginSrv := httptest.NewUnstartedServer(nil)
	loginSrv.TLS = ca.ServerTLSConfig()
	authURL := "https://" + loginSrv.Listener.Addr().String()
	seal := make([]byte, 32)
	_, _ = rand.Read(seal)
	ls, err := login.New(ctx, login.Config{Store: st, AuthorityURL: authURL, SealKey: seal})
	if err != nil {
		t.Fatal(err)
	}
	loginSrv.Config.Handler = ls.Handler()
	loginSrv.StartTLS()
	t.Cleanup(loginSrv.Close)

	authz := rbac.New(st)
	v := bearer.New(bearer.Config{Keys: ls, TenantID: tenantID, Issuers: []string{ls.IssuerV1(tenantID), ls.IssuerV2(tenantID)}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fd, err := armfd.New(armfd.Config{Store: st, Validator: v, Authz: authz, Directory: ls, TenantID: tenantID,
		SubscriptionID: subID, Location: "eastus", BlobEndpoint: "https://127.0.0.1:1", AuthorityURL: authURL})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = fd.Run(runCtx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	armSrv := &http.Server{Handler: fd.Handler(), ReadHeaderTimeout: 10 * time.Second, TLSConfig: ca.ServerTLSConfig()}
	go func() { _ = armSrv.Serve(armfd.NewListener(ln, ca.ServerTLSConfig())) }()
	t.Cleanup(func() { _ = armSrv.Close() })

	admin, secret, err := ls.CreateServicePrincipal(ctx, tenantID, "admin")
	if err != nil {
		t.Fatal(err)
	}
	sub, _ := cobalt.ParseResourceID("/subscriptions/" + subID)
	if err := authz.Assign(ctx, rbac.RoleAssignmentInput{Scope: sub, RoleDefinitionID: rbac.RoleOwner, PrincipalID: admin.ObjectID}); err != nil {
		t.Fatal(err)
	}
	return &env{ca: ca, store: st, login: ls, arm: fd, authURL: authURL, armURL: "https://" + ln.Addr().String(),
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: ca.ClientTLSConfig()}},
		admin:  admin, secret: secret}
}

// credential returns azidentity's ClientSecretCredential for a principal.
func (e *env) credential(t testing.TB, clientID, secret string) azcore.TokenCredential {
	t.Helper()
	cred, err := azidentity.NewClientSecretCredential(tenantID, clientID, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions{
			Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: e.authURL + "/"},
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

// options returns ARM client options pointed at the front door.
func (e *env) options() *arm.ClientOptions {
	return &arm.ClientOptions{ClientOptions: policy.ClientOptions{
		Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: e.authURL + "/",
			Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
				cloud.ResourceManager: {Endpoint: e.armURL, Audience: "https://management.azure.com"}}},
		Transport: e.client,
		Retry:     policy.RetryOptions{MaxRetries: -1, RetryDelay: 10 * time.Millisecond},
	}}
}
