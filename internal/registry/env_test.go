package registry

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/bearer"
	"github.com/cobaltbatch/cobalt/internal/login"
	"github.com/cobaltbatch/cobalt/internal/pki"
	"github.com/cobaltbatch/cobalt/internal/pki/pkitest"
	"github.com/cobaltbatch/cobalt/internal/rbac"
	cstore "github.com/cobaltbatch/cobalt/internal/store"
	"github.com/cobaltbatch/cobalt/internal/store/sqlite"
	"github.com/cobaltbatch/cobalt/internal/testenv"
)

func TestMain(m *testing.M) {
	if os.Getenv(envCrashChild) != "" {
		crashChild()
		return
	}
	testenv.LoopbackOnly(m)
}

const (
	testTenant = "8f2b6a4e-3c1d-4e5f-9a7b-1c2d3e4f5a6b"
	testSub    = "00000000-0000-0000-0000-000000000001"
	// acrAudience is the Entra audience of ACR tokens, as the SDKs request it.
	acrAudience = "https://containerregistry.azure.net/.default"
)

func registryID(name string) cobalt.ResourceID {
	id, err := cobalt.ParseResourceID("/subscriptions/" + testSub + "/resourceGroups/rg1/providers/Microsoft.ContainerRegistry/registries/" + name)
	if err != nil {
		panic(err)
	}
	return id
}

// testRegistries is a small Registries of fixed registries.
type testRegistries struct {
	mu sync.Mutex
	m  map[string]cobalt.Registry
}

func (r *testRegistries) LookupRegistry(_ context.Context, name string) (cobalt.Registry, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	reg, ok := r.m[strings.ToLower(name)]
	if !ok {
		return cobalt.Registry{}, cobalt.Errorf(cobalt.ENotFound, "The registry %s was not found.", name)
	}
	return reg, nil
}

func (r *testRegistries) put(reg cobalt.Registry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m[strings.ToLower(reg.Name)] = reg
}

// env is a registry service with a real login service, bearer validator
// and RBAC authorizer on one SQLite store.
type env struct {
	t         testing.TB
	ca        *pki.CA
	svc       *Service
	regs      *testRegistries
	login     *login.Service
	authority string
	authz     *rbac.Authorizer
	st        cstore.Store
	dataDir   string
	// loginShift moves the login service's clock (for expired tokens).
	loginShift atomic.Int64
	// regShift moves the registry service's clock.
	regShift atomic.Int64
}

type principal struct {
	cobalt.Principal
	secret string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, ca: pkitest.NewCA(t), regs: &testRegistries{m: map[string]cobalt.Registry{}}, dataDir: t.TempDir()}
	st, err := sqlite.Open(ctx, filepath.Join(e.dataDir, "cobalt.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	lsrv := httptest.NewUnstartedServer(nil)
	lsrv.TLS = e.ca.ServerTLSConfig()
	e.authority = "https://" + lsrv.Listener.Addr().String()
	seal := make([]byte, 32)
	_, _ = rand.Read(seal)
	e.login, err = login.New(ctx, login.Config{Store: st, AuthorityURL: e.authority, SealKey: seal,
		Now: func() time.Time { return time.Now().Add(time.Duration(e.loginShift.Load())) }})
	if err != nil {
		t.Fatal(err)
	}
	lsrv.Config.Handler = e.login.Handler()
	lsrv.StartTLS()
	t.Cleanup(lsrv.Close)
	v := bearer.New(bearer.Config{Keys: e.login, TenantID: testTenant,
		Issuers: []string{e.login.IssuerV1(testTenant), e.login.IssuerV2(testTenant)}})
	e.authz = rbac.New(rbac.Config{Store: st, CacheTTL: -1})
	e.st = st
	e.svc, err = New(Config{Registries: e.regs, Validator: v, Authz: e.authz, TLS: e.ca.ServerTLSConfig(),
		DataDir: e.dataDir, SealKey: seal, TenantID: testTenant,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:    func() time.Time { return time.Now().Add(time.Duration(e.regShift.Load())) }})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = e.svc.Run(rctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return e
}

// registry creates a registry with its own listener and returns its login server.
func (e *env) registry(t testing.TB, name string, admin bool) cobalt.Registry {
	t.Helper()
	reg := cobalt.Registry{ID: registryID(name), Name: name, AdminUserEnabled: admin,
		Passwords: [2]string{"pw1-" + name + "-secret", "pw2-" + name + "-secret"}}
	e.regs.put(reg)
	hp, err := e.svc.AllocateRegistryEndpoint(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	reg.LoginServer = hp
	e.regs.put(reg)
	return reg
}

func (e *env) principal(t testing.TB, name string) principal {
	t.Helper()
	p, secret, err := e.login.CreateServicePrincipal(context.Background(), testTenant, name)
	if err != nil {
		t.Fatal(err)
	}
	return principal{p, secret}
}

func (e *env) assign(t testing.TB, p principal, role string, scope cobalt.ResourceID) {
	t.Helper()
	if err := e.authz.Assign(context.Background(), rbac.RoleAssignmentInput{Scope: scope, RoleDefinitionID: role, PrincipalID: p.ObjectID}); err != nil {
		t.Fatal(err)
	}
}

func (e *env) httpClient() *http.Client {
	return &http.Client{Transport: e.transport()}
}

func (e *env) transport() *http.Transport {
	return &http.Transport{TLSClientConfig: e.ca.ClientTLSConfig(), MaxIdleConnsPerHost: 8}
}

// entraToken gets a Microsoft Entra access token for p with azidentity.
func (e *env) entraToken(t testing.TB, p principal, scope string) string {
	t.Helper()
	cred, err := azidentity.NewClientSecretCredential(testTenant, p.ClientID, p.secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: e.authority + "/"}, Transport: e.httpClient()},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{scope}})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Token
}

// postForm posts a form to the registry and decodes a JSON answer.
func (e *env) postForm(t testing.TB, reg cobalt.Registry, path string, f url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := e.httpClient().PostForm("https://"+reg.LoginServer+path, f)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// exchange turns an Entra token into an ACR refresh token.
func (e *env) exchange(t testing.TB, reg cobalt.Registry, entra string) string {
	t.Helper()
	code, out := e.postForm(t, reg, "/oauth2/exchange", url.Values{"grant_type": {"access_token"},
		"service": {reg.LoginServer}, "tenant": {testTenant}, "access_token": {entra}})
	rt, _ := out["refresh_token"].(string)
	if code != http.StatusOK || rt == "" {
		t.Fatalf("exchange: %d %v", code, out)
	}
	return rt
}

// refreshFor is the whole flow for p: Entra token, then exchange.
func (e *env) refreshFor(t testing.TB, reg cobalt.Registry, p principal) string {
	return e.exchange(t, reg, e.entraToken(t, p, acrAudience))
}

// accessToken asks /oauth2/token for an access token with the scopes.
func (e *env) accessToken(t testing.TB, reg cobalt.Registry, refresh string, scopes ...string) string {
	t.Helper()
	code, out := e.postForm(t, reg, "/oauth2/token", url.Values{"grant_type": {"refresh_token"},
		"service": {reg.LoginServer}, "refresh_token": {refresh}, "scope": {strings.Join(scopes, " ")}})
	at, _ := out["access_token"].(string)
	if code != http.StatusOK || at == "" {
		t.Fatalf("token: %d %v", code, out)
	}
	return at
}

// ggcrOpts are ggcr's options for a registry: the test CA and credentials.
func (e *env) ggcrOpts(a authn.Authenticator) []remote.Option {
	return []remote.Option{remote.WithTransport(e.transport()), remote.WithAuth(a)}
}

// passwordAuth is `docker login -u 0000… -p <refresh>`.
func passwordAuth(refresh string) authn.Authenticator {
	return authn.FromConfig(authn.AuthConfig{Username: nullGUID, Password: refresh})
}

// identityTokenAuth is what `az acr login` stores (identitytoken).
func identityTokenAuth(refresh string) authn.Authenticator {
	return authn.FromConfig(authn.AuthConfig{Username: nullGUID, IdentityToken: refresh})
}

// busyboxImage builds an image from /bin/busybox (Debian's busybox-static)
// in a temporary directory: bin/busybox and bin/sh.
func busyboxImage(t testing.TB) v1.Image {
	t.Helper()
	if _, err := os.Stat("/bin/busybox"); err != nil {
		testenv.Unavailable(t, "/bin/busybox (Debian busybox-static)")
	}
	p := filepath.Join(t.TempDir(), "rootfs.tar")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(tw.WriteHeader(&tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755}))
	must(tw.WriteHeader(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bb))}))
	_, err = tw.Write(bb)
	must(err)
	must(tw.WriteHeader(&tar.Header{Name: "bin/sh", Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777}))
	must(tw.Close())
	must(f.Close())
	layer, err := tarball.LayerFromFile(p)
	must(err)
	img, err := mutate.AppendLayers(empty.Image, layer)
	must(err)
	cf, err := img.ConfigFile()
	must(err)
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Env = []string{"PATH=/bin"}
	cf.Config.Cmd = []string{"sh", "-c", "echo hello from cobalt"}
	img, err = mutate.ConfigFile(img, cf)
	must(err)
	return img
}
