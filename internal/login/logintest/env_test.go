package logintest

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/login"
	"github.com/cobaltbatch/cobalt/internal/pki"
	"github.com/cobaltbatch/cobalt/internal/sdkharness"
	"github.com/cobaltbatch/cobalt/internal/server"
)

// env is the login service of a whole Cobalt started by the shared SDK
// harness, served over HTTPS with the installation CA, with one service
// principal of the installation's tenant created for the test.
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
	h := sdkharness.Start(t, server.Options{})
	s := h.Server
	e := &env{ca: s.CA(), svc: s.Login(), url: h.EP.AuthorityHost, tenant: h.EP.TenantID,
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: s.CA().ClientTLSConfig()}}}
	p, secret, err := e.svc.CreateServicePrincipal(context.Background(), e.tenant, "sdk-test")
	if err != nil {
		t.Fatal(err)
	}
	e.clientID, e.objectID, e.secret = p.ClientID, p.ObjectID, secret
	return e
}
