package logintest

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/login"
	"github.com/cobaltbatch/cobalt/internal/pki"
	"github.com/cobaltbatch/cobalt/internal/pki/pkitest"
	"github.com/cobaltbatch/cobalt/internal/store/sqlite"
)

// env is a login service served over HTTPS with a test CA, with one service principal.
type env struct {
	ca       *pki.CA
	svc      *login.Service
	url      string // authority host, https://127.0.0.1:PORT
	client   *http.Client
	tenant   string
	clientID string
	objectID string
	secret   string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	ca := pkitest.NewCA(t)
	srv := httptest.NewUnstartedServer(nil)
	srv.TLS = ca.ServerTLSConfig()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "cobalt.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	seal := make([]byte, 32)
	rand.Read(seal)
	url := "https://" + srv.Listener.Addr().String()
	svc, err := login.New(ctx, login.Config{Store: st, AuthorityURL: url, SealKey: seal})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = svc.Handler()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	e := &env{ca: ca, svc: svc, url: url, tenant: "8f2b6a4e-3c1d-4e5f-9a7b-1c2d3e4f5a6b",
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: ca.ClientTLSConfig()}}}
	p, secret, err := svc.CreateServicePrincipal(ctx, e.tenant, "sdk-test")
	if err != nil {
		t.Fatal(err)
	}
	e.clientID, e.objectID, e.secret = p.ClientID, p.ObjectID, secret
	return e
}
