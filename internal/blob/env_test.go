package blob

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/blob/blobtest"
	"github.com/cobaltbatch/cobalt/internal/pki"
	"github.com/cobaltbatch/cobalt/internal/pki/pkitest"
	"github.com/cobaltbatch/cobalt/internal/store"
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

// The test storage account: its name and keys are configuration, as the
// management plane would hand them out.
const testAccount = "acct1"

var (
	testKey1 = base64.StdEncoding.EncodeToString(sha256.New().Sum([]byte("cobalt test key one, 64 bytes long ...............")))
	testKey2 = base64.StdEncoding.EncodeToString(sha256.New().Sum([]byte("cobalt test key two, 64 bytes long ...............")))
)

// fixedAccounts serves one storage account with fixed keys; noSharedKey
// sets its allowSharedKeyAccess to false.
type fixedAccounts struct{ noSharedKey bool }

func (f fixedAccounts) LookupStorageAccount(_ context.Context, name string) (cobalt.StorageAccount, error) {
	keys := [2]string{testKey1, testKey2}
	switch name {
	case testAccount:
	case testAccount2:
		keys = [2]string{testKey3, testKey3}
	default:
		return cobalt.StorageAccount{}, cobalt.Errorf(cobalt.ENotFound, "storage account not found")
	}
	id, err := cobalt.ParseResourceID("/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg1/providers/Microsoft.Storage/storageAccounts/" + name)
	return cobalt.StorageAccount{ID: id, Keys: keys, SharedKeyAccess: !f.noSharedKey}, err
}

// testAccount2 is a second account of the installation, with its own key,
// for cross-account copies.
const testAccount2 = "acct2"

var testKey3 = base64.StdEncoding.EncodeToString(sha256.New().Sum([]byte("cobalt test key three, the second account's key ...")))

type env struct {
	t       testing.TB
	svc     *Service
	store   store.Store
	srv     *httptest.Server
	ca      *pki.CA
	dataDir string
	// AccountURL is https://127.0.0.1:port/acct1.
	AccountURL string
}

type envOption func(*Config)

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "cobalt.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return newEnvOn(t, st, dir, pkitest.NewCA(t), opts...)
}

func newEnvOn(t testing.TB, st store.Store, dir string, ca *pki.CA, opts ...envOption) *env {
	srv := httptest.NewUnstartedServer(nil)
	srv.TLS = ca.ServerTLSConfig()
	cfg := Config{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), DataDir: dir,
		Accounts: fixedAccounts{}, TenantID: "tenant1", AuthorityURL: "https://127.0.0.1:1",
		Endpoint: "https://" + srv.Listener.Addr().String()}
	for _, o := range opts {
		o(&cfg)
	}
	svc, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = svc.Handler()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return &env{t: t, svc: svc, store: st, srv: srv, ca: ca, dataDir: dir, AccountURL: srv.URL + "/" + testAccount}
}

// httpClient trusts the test CA.
func (e *env) httpClient() *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: e.ca.ClientTLSConfig(), MaxIdleConnsPerHost: 16, ForceAttemptHTTP2: os.Getenv("COBALT_BLOB_TEST_H2") != ""}}
}

func (e *env) clientOptions() *azblob.ClientOptions {
	return &azblob.ClientOptions{ClientOptions: azcore.ClientOptions{
		Transport: e.httpClient(),
		Retry:     policy.RetryOptions{MaxRetries: -1},
	}}
}

// sharedKeyClient is an official azblob client with the account key.
func (e *env) sharedKeyClient(t testing.TB) *azblob.Client {
	cred, err := azblob.NewSharedKeyCredential(testAccount, testKey1)
	if err != nil {
		t.Fatal(err)
	}
	c, err := azblob.NewClientWithSharedKeyCredential(e.AccountURL, cred, e.clientOptions())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// detReader returns n deterministic pseudo-random bytes for seed.
func detReader(seed uint64, n int64) io.Reader { return blobtest.Data(seed, n) }

func sha256Of(t testing.TB, r io.Reader) [32]byte { return blobtest.SHA256(t, r) }

// sharedKeyClientFor is an azblob client for account (acct1 or acct2) with its key.
func (e *env) sharedKeyClientFor(t testing.TB, account, key string) *azblob.Client {
	cred, err := azblob.NewSharedKeyCredential(account, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := azblob.NewClientWithSharedKeyCredential(e.srv.URL+"/"+account, cred, e.clientOptions())
	if err != nil {
		t.Fatal(err)
	}
	return c
}
