package arm

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/rbac"
	"github.com/cobaltbatch/cobalt/internal/store"
	"github.com/cobaltbatch/cobalt/internal/store/postgres"
	"github.com/cobaltbatch/cobalt/internal/store/sqlite"
	"github.com/cobaltbatch/cobalt/internal/store/storetest"
)

const (
	testTenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	testSub    = "00000000-1111-2222-3333-444444444444"
	adminOID   = "a0000000-0000-0000-0000-000000000001"
)

// tokenValidator accepts "tok-<oid>" for the management audiences; it stands
// in for bearer.Validator in unit tests (the e2e test uses the real one).
type tokenValidator struct{}

func (tokenValidator) Validate(_ context.Context, raw string, auds ...string) (cobalt.Caller, error) {
	if len(auds) == 0 {
		return cobalt.Caller{}, cobalt.Errorf(cobalt.EUnauthorized, "Audience validation failed.")
	}
	oid, ok := strings.CutPrefix(raw, "tok-")
	if !ok {
		return cobalt.Caller{}, cobalt.Errorf(cobalt.EUnauthorized, "Signature validation failed.")
	}
	return cobalt.Caller{ObjectID: oid, TenantID: testTenant}, nil
}

// memDirectory creates principals in the store, as the login service would.
type memDirectory struct{ s store.Store }

func (d memDirectory) CreateManagedIdentityPrincipal(ctx context.Context, tenantID, displayName, resourceID string) (cobalt.Principal, error) {
	p := cobalt.Principal{ObjectID: newGUID(), ClientID: newGUID(), TenantID: tenantID, Kind: cobalt.KindManagedIdentity,
		DisplayName: displayName, ResourceID: resourceID}
	_, err := d.s.PrincipalCreate(ctx, store.PrincipalRecord{Principal: p})
	return p, err
}

func (d memDirectory) DeletePrincipal(ctx context.Context, objectID string) error {
	return d.s.PrincipalDelete(ctx, objectID)
}

// openTestStore returns a temporary SQLite store, or, when TEST_POSTGRES_URL
// is set, a store in a fresh PostgreSQL schema: the front door's tests then
// run on both backends.
func openTestStore(t testing.TB) store.Store {
	t.Helper()
	var (
		st  store.Store
		err error
	)
	if u := os.Getenv("TEST_POSTGRES_URL"); u != "" {
		st, err = postgres.Open(context.Background(), storetest.NewPostgresSchema(t, u), nil)
	} else {
		st, err = sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "cobalt.db"), nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

type fixture struct {
	t   testing.TB
	s   store.Store
	srv *Server
	h   http.Handler
	az  *rbac.Authorizer
}

func newFixture(t *testing.T, providers ...Provider) *fixture { return newFixtureTB(t, providers...) }

func newFixtureTB(t testing.TB, providers ...Provider) *fixture {
	t.Helper()
	st := openTestStore(t)
	az := rbac.New(rbac.Config{Store: st})
	srv, err := New(Config{Store: st, Validator: tokenValidator{}, Authz: az, Directory: memDirectory{st},
		TenantID: testTenant, SubscriptionID: testSub, Location: "eastus", BlobEndpoint: "https://127.0.0.1:10000",
		Providers: providers, MaxBodyBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = srv.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	f := &fixture{t: t, s: st, srv: srv, h: srv.Handler(), az: az}
	f.assign("/subscriptions/"+testSub, rbac.RoleOwner, adminOID)
	return f
}

func (f *fixture) assign(scope, role, oid string) {
	f.t.Helper()
	id, err := cobalt.ParseResourceID(scope)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.az.Assign(context.Background(), rbac.RoleAssignmentInput{Scope: id, RoleDefinitionID: role, PrincipalID: oid}); err != nil {
		f.t.Fatal(err)
	}
}

type resp struct {
	Code   int
	Header http.Header
	Body   []byte
}

func (r resp) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body %q: %v", r.Body, err)
	}
	return m
}

func (r resp) errCode(t testing.TB) string {
	t.Helper()
	var e ErrorResponse
	if err := json.Unmarshal(r.Body, &e); err != nil {
		t.Fatalf("error body %q: %v", r.Body, err)
	}
	return e.Error.Code
}

// do sends a request as oid ("" for no Authorization header).
func (f *fixture) do(oid, method, path string, body any, hdr ...string) resp {
	f.t.Helper()
	return f.doT(f.t, oid, method, path, body, hdr...)
}

// doT is do reporting failures to t.
func (f *fixture) doT(t testing.TB, oid, method, path string, body any, hdr ...string) resp {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req := httptest.NewRequest(method, "https://127.0.0.1:4443"+path, rd)
	if oid != "" {
		req.Header.Set("Authorization", "Bearer tok-"+oid)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, req)
	return resp{w.Code, w.Header(), w.Body.Bytes()}
}

// waitOp polls a Location URL until it stops answering 202.
func (f *fixture) waitOp(oid, location string) resp {
	f.t.Helper()
	path := strings.TrimPrefix(location, "https://127.0.0.1:4443")
	for range 500 {
		r := f.do(oid, "GET", path, nil)
		if r.Code != http.StatusAccepted {
			return r
		}
		time.Sleep(5 * time.Millisecond)
	}
	f.t.Fatalf("operation %s did not finish", location)
	return resp{}
}
