package armtest

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/login"
	"github.com/cobaltbatch/cobalt/internal/pki"
	"github.com/cobaltbatch/cobalt/internal/sdkharness"
	"github.com/cobaltbatch/cobalt/internal/server"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// env is a whole Cobalt started by the shared SDK harness, seen from the
// management plane: the login service and the ARM front door over HTTPS
// with the installation CA, and the admin service principal, which owns the
// subscription.
type env struct {
	ca      *pki.CA
	store   store.Store
	login   *login.Service
	authURL string // https://127.0.0.1:PORT
	armURL  string
	client  *http.Client
	admin   cobalt.Principal
	secret  string
	// tenant and sub are the installation's tenant and subscription IDs.
	tenant, sub string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	h := sdkharness.Start(t, server.Options{})
	s, ep := h.Server, h.EP
	admin, err := s.Store().PrincipalGetByClientID(context.Background(), ep.TenantID, ep.AdminClientID)
	if err != nil {
		t.Fatal(err)
	}
	return &env{ca: s.CA(), store: s.Store(), login: s.Login(), authURL: ep.AuthorityHost, armURL: ep.ResourceManager,
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: s.CA().ClientTLSConfig()}},
		admin:  cobalt.Principal{ObjectID: admin.ObjectID, ClientID: admin.ClientID, TenantID: ep.TenantID},
		secret: ep.AdminClientSecret, tenant: ep.TenantID, sub: ep.SubscriptionID}
}

// credential returns azidentity's ClientSecretCredential for a principal.
func (e *env) credential(t testing.TB, clientID, secret string) azcore.TokenCredential {
	t.Helper()
	cred, err := azidentity.NewClientSecretCredential(e.tenant, clientID, secret, &azidentity.ClientSecretCredentialOptions{
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
