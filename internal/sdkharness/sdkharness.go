package sdkharness

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/cobaltbatch/cobalt/internal/server"
	"github.com/cobaltbatch/cobalt/internal/server/servertest"
	"github.com/cobaltbatch/cobalt/internal/testenv"
)

// Env is one running Cobalt and a client's view of it.
type Env struct {
	// T is the test the server belongs to; it stops when T ends.
	T testing.TB
	// Server is the running installation, nil when it runs in another
	// process (FromDataDir).
	Server *server.Server
	// DataDir is the installation's data directory.
	DataDir string
	// EP is its endpoints.json, as a client reads it.
	EP server.Endpoints
	// HTTP is an HTTP client that trusts the installation CA (read from
	// EP.CACertFile, as a client would, not taken from the server).
	HTTP *http.Client
	// Cloud points the Azure SDK for Go at the installation.
	Cloud cloud.Configuration
}

// Start starts a Cobalt with servertest.Start (opts left zero get its test
// defaults) and returns the client's view of it. It fails t when the server
// does not start or its endpoints.json does not name a readable CA.
func Start(t testing.TB, opts server.Options) *Env {
	t.Helper()
	s := servertest.Start(t, opts)
	e := FromDataDir(t, s.DataDir())
	e.Server = s
	return e
}

// FromDataDir returns the client's view of a Cobalt that serves from
// dataDir, possibly in another process: what its endpoints.json says, and a
// client that trusts the CA file it names.
func FromDataDir(t testing.TB, dataDir string) *Env {
	t.Helper()
	ep, err := server.ReadEndpoints(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(ep.CACertFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("%s holds no certificate", ep.CACertFile)
	}
	return &Env{
		T: t, DataDir: dataDir, EP: ep,
		HTTP: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
		Cloud: cloud.Configuration{
			ActiveDirectoryAuthorityHost: ep.AuthorityHost + "/",
			Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
				cloud.ResourceManager: {Endpoint: ep.ResourceManager, Audience: ep.ResourceManagerAudience},
			},
		},
	}
}

// EndpointsFile is the path of the installation's endpoints.json.
func (e *Env) EndpointsFile() string { return filepath.Join(e.DataDir, "endpoints.json") }

// ClientOptions are azcore options pointing at this Cobalt, with fast retries.
func (e *Env) ClientOptions() azcore.ClientOptions {
	return azcore.ClientOptions{Cloud: e.Cloud, Transport: e.HTTP,
		Retry: policy.RetryOptions{MaxRetries: 2, RetryDelay: 50 * time.Millisecond}}
}

// ARMOptions are ClientOptions for the management-plane clients.
func (e *Env) ARMOptions() *arm.ClientOptions {
	return &arm.ClientOptions{ClientOptions: e.ClientOptions()}
}

// Credential returns azidentity's client-secret credential for a service
// principal of the installation's tenant, with instance discovery disabled.
func (e *Env) Credential(clientID, secret string) azcore.TokenCredential {
	e.T.Helper()
	cred, err := azidentity.NewClientSecretCredential(e.EP.TenantID, clientID, secret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: e.ClientOptions(), DisableInstanceDiscovery: true})
	if err != nil {
		e.T.Fatal(err)
	}
	return cred
}

// Admin is the credential of the admin principal endpoints.json names.
func (e *Env) Admin() azcore.TokenCredential {
	return e.Credential(e.EP.AdminClientID, e.EP.AdminClientSecret)
}

// Node runs a Node SDK script (testenv.RunNode) against this Cobalt: Node
// trusts the installation CA and finds endpoints.json in COBALT_ENDPOINTS.
func (e *Env) Node(ctx context.Context, r testenv.NodeRun) []byte {
	e.T.Helper()
	return testenv.RunNode(ctx, e.T, e.nodeRun(r))
}

// NodeJSON is Node decoding the script's stdout, one JSON value, into out.
func (e *Env) NodeJSON(ctx context.Context, r testenv.NodeRun, out any) {
	e.T.Helper()
	testenv.RunNodeJSON(ctx, e.T, e.nodeRun(r), out)
}

func (e *Env) nodeRun(r testenv.NodeRun) testenv.NodeRun {
	r.CAFile = e.EP.CACertFile
	env := map[string]string{"COBALT_ENDPOINTS": e.EndpointsFile()}
	for k, v := range r.Env {
		env[k] = v
	}
	r.Env = env
	return r
}
