package server_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/cobaltbatch/cobalt/internal/server"
	"github.com/cobaltbatch/cobalt/internal/server/servertest"
	"github.com/cobaltbatch/cobalt/internal/testenv"
)

func TestMain(m *testing.M) { testenv.LoopbackOnly(m) }

func TestEndpointsFileHonoursTheContract(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, server.Options{})
	path := filepath.Join(s.DataDir(), "endpoints.json")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("endpoints.json mode = %v, want 0600", st.Mode().Perm())
	}
	e, err := server.ReadEndpoints(s.DataDir())
	if err != nil {
		t.Fatal(err)
	}
	if e != s.Endpoints() {
		t.Errorf("file %+v differs from the server's %+v", e, s.Endpoints())
	}
	for name, v := range map[string]string{"tenantId": e.TenantID, "subscriptionId": e.SubscriptionID, "location": e.Location,
		"adminClientId": e.AdminClientID, "adminClientSecret": e.AdminClientSecret} {
		if v == "" {
			t.Errorf("%s is empty", name)
		}
	}
	for name, u := range map[string]string{"authorityHost": e.AuthorityHost, "resourceManager": e.ResourceManager, "portal": e.Portal} {
		if !strings.HasPrefix(u, "https://127.0.0.1:") || strings.Count(u, "/") != 2 {
			t.Errorf("%s = %q, want an https URL at a host root on 127.0.0.1", name, u)
		}
	}
	if e.ResourceManagerAudience != "https://management.azure.com" {
		t.Errorf("resourceManagerAudience = %q", e.ResourceManagerAudience)
	}
	if !filepath.IsAbs(e.CACertFile) {
		t.Errorf("caCertFile %q is not absolute", e.CACertFile)
	}
	// Every listener answers over TLS with the installation CA.
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: s.CA().ClientTLSConfig()}}
	for _, u := range []string{e.AuthorityHost, e.ResourceManager, e.Portal} {
		resp, err := c.Get(u + "/")
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		resp.Body.Close()
	}
}

func TestSecondInstanceOnTheSameDataDirFails(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, server.Options{})
	_, err := server.Start(context.Background(), server.Options{DataDir: s.DataDir()})
	if !errors.Is(err, server.ErrDataDirInUse) {
		t.Fatalf("second start: %v, want ErrDataDirInUse", err)
	}
	if !strings.Contains(err.Error(), s.DataDir()) {
		t.Errorf("error %q does not name the directory", err)
	}
}

// TestFederationIssuerMustBeHTTPS checks that `cobalt up --federation-issuer`
// with a plain http URL fails at start rather than allowing it.
func TestFederationIssuerMustBeHTTPS(t *testing.T) {
	t.Parallel()
	s, err := server.Start(context.Background(), server.Options{DataDir: t.TempDir(), Isolation: "process",
		FederationIssuers: []string{"http://issuer.example.com"}})
	if err == nil {
		s.Close()
		t.Fatal("started with an http federation issuer")
	}
	if !strings.Contains(err.Error(), "http://issuer.example.com") {
		t.Errorf("error %q does not name the issuer", err)
	}
}

func TestRestartReusesIdentityCredentialsAndCA(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := server.Start(context.Background(), server.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	first := s.Endpoints()
	ca1, _ := os.ReadFile(first.CACertFile)
	tok1 := adminToken(t, first)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := servertest.Start(t, server.Options{DataDir: dir})
	second := s2.Endpoints()
	ca2, _ := os.ReadFile(second.CACertFile)
	if first.TenantID != second.TenantID || first.SubscriptionID != second.SubscriptionID ||
		first.AdminClientID != second.AdminClientID || first.AdminClientSecret != second.AdminClientSecret {
		t.Fatalf("restart changed the installation:\n%+v\n%+v", first, second)
	}
	if string(ca1) != string(ca2) {
		t.Fatal("restart changed the CA")
	}
	// A token issued before the restart still verifies against the keys published after it.
	if _, err := s2.Validator().Validate(context.Background(), tok1, server.ResourceManagerAudience); err != nil {
		t.Fatalf("token from before the restart: %v", err)
	}
}

// adminToken gets a management token for the admin principal with the official Go client.
func adminToken(t *testing.T, e server.Endpoints) string {
	t.Helper()
	caPEM, err := os.ReadFile(e.CACertFile)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: tlsConfigFor(t, caPEM)}
	cred, err := azidentity.NewClientSecretCredential(e.TenantID, e.AdminClientID, e.AdminClientSecret,
		&azidentity.ClientSecretCredentialOptions{
			ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: e.AuthorityHost + "/"}, Transport: &http.Client{Transport: tr}},
			DisableInstanceDiscovery: true,
		})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{e.ResourceManagerAudience + "/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Token
}

func TestAdminGetsManagementTokenWithTheGoSDK(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, server.Options{})
	tok := adminToken(t, s.Endpoints())
	caller, err := s.Validator().Validate(context.Background(), tok, server.ResourceManagerAudience)
	if err != nil {
		t.Fatal(err)
	}
	if caller.ClientID != s.Endpoints().AdminClientID || caller.TenantID != s.Endpoints().TenantID {
		t.Fatalf("caller %+v is not the admin", caller)
	}
}

// TestBinaryShutsDownGracefully runs the real binary: it prints one ready line
// after endpoints.json exists, and exits 0 on SIGTERM.
func TestBinaryShutsDownGracefully(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "cobalt")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/cobalt").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	cmd := exec.Command(bin, "up", "--data", dir, "--port-base", "0", "--isolation", "process")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("no ready line: %v", err)
	}
	if !strings.Contains(line, "ready") {
		t.Fatalf("first line %q does not say ready", line)
	}
	if _, err := server.ReadEndpoints(dir); err != nil {
		t.Fatalf("ready before endpoints.json: %v", err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	// The lock is released: the directory can be used again.
	s := servertest.Start(t, server.Options{DataDir: dir})
	_ = s
}

func tlsConfigFor(t *testing.T, caPEM []byte) *tls.Config {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("CA file holds no certificate")
	}
	return &tls.Config{RootCAs: pool}
}
