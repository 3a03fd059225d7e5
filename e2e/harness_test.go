package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/cobaltbatch/cobalt/internal/sandbox"
	"github.com/cobaltbatch/cobalt/internal/server"
	"github.com/cobaltbatch/cobalt/internal/testenv"
)

func TestMain(m *testing.M) {
	sandbox.Main()
	runTaskMode() // when a node started this binary as a task
	testenv.LoopbackOnly(m)
}

// env is one running Cobalt and the clients' view of it.
type env struct {
	t   testing.TB
	srv *server.Server
	ep  server.Endpoints
	// transport trusts the installation CA.
	transport *http.Client
	cloud     cloud.Configuration
}

func startWith(t testing.TB, opts server.Options) *env {
	t.Helper()
	s := server.StartTest(t, opts)
	ep := s.Endpoints()
	caPEM, err := os.ReadFile(ep.CACertFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &env{
		t: t, srv: s, ep: ep,
		transport: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
		cloud: cloud.Configuration{
			ActiveDirectoryAuthorityHost: ep.AuthorityHost + "/",
			Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
				cloud.ResourceManager: {Endpoint: ep.ResourceManager, Audience: ep.ResourceManagerAudience},
			},
		},
	}
}

// clientOptions are azcore options pointing at this Cobalt, with fast retries.
func (e *env) clientOptions() azcore.ClientOptions {
	return azcore.ClientOptions{Cloud: e.cloud, Transport: e.transport,
		Retry: policy.RetryOptions{MaxRetries: 2, RetryDelay: 50 * time.Millisecond}}
}

func (e *env) armOptions() *arm.ClientOptions {
	return &arm.ClientOptions{ClientOptions: e.clientOptions()}
}

// credential returns a client-secret credential for a service principal.
func (e *env) credential(clientID, secret string) azcore.TokenCredential {
	e.t.Helper()
	cred, err := azidentity.NewClientSecretCredential(e.ep.TenantID, clientID, secret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: e.clientOptions(), DisableInstanceDiscovery: true})
	if err != nil {
		e.t.Fatal(err)
	}
	return cred
}

// admin is the admin principal's credential.
func (e *env) admin() azcore.TokenCredential {
	return e.credential(e.ep.AdminClientID, e.ep.AdminClientSecret)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	return c
}

// node runs a script from test/node/e2e with the Node SDK clients and returns
// its stdout decoded as JSON into out (when out is not nil).
func (e *env) node(script string, input any, out any) {
	e.t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		e.t.Fatal("node is not on PATH; the end-to-end tests need Node 20 (see README)")
	}
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "test", "node")
	in, err := json.Marshal(input)
	if err != nil {
		e.t.Fatal(err)
	}
	cmd := exec.Command("node", filepath.Join("e2e", script))
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(in)
	cmd.Env = append(os.Environ(),
		"NODE_EXTRA_CA_CERTS="+e.ep.CACertFile,
		"COBALT_ENDPOINTS="+filepath.Join(e.srv.DataDir(), "endpoints.json"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		e.t.Fatalf("node %s: %v\nstdout:\n%s\nstderr:\n%s", script, err, stdout.String(), stderr.String())
	}
	if out != nil {
		if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
			e.t.Fatalf("node %s printed %q: %v", script, stdout.String(), err)
		}
	}
}
