package registryprovider

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/arm"
	"github.com/cobaltbatch/cobalt/internal/rbac"
	"github.com/cobaltbatch/cobalt/internal/store"
	"github.com/cobaltbatch/cobalt/internal/store/storetest"
)

var update = flag.Bool("update", false, "rewrite golden files")

const (
	testTenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	testSub    = "00000000-1111-2222-3333-444444444444"
	adminOID   = "a0000000-0000-0000-0000-000000000001"
	readerOID  = "a0000000-0000-0000-0000-000000000002"
	nobodyOID  = "a0000000-0000-0000-0000-000000000009"
	apiVersion = "2023-07-01"
	rgPath     = "/subscriptions/" + testSub + "/resourceGroups/rg1"
	regPath    = rgPath + "/providers/Microsoft.ContainerRegistry/registries/myRegistry1"
)

// tokenValidator accepts "tok-<oid>", as the front door's own tests do.
type tokenValidator struct{}

func (tokenValidator) Validate(_ context.Context, raw string, auds ...string) (cobalt.Caller, error) {
	oid, ok := strings.CutPrefix(raw, "tok-")
	if !ok {
		return cobalt.Caller{}, cobalt.Errorf(cobalt.EUnauthorized, "Signature validation failed.")
	}
	return cobalt.Caller{ObjectID: oid, TenantID: testTenant}, nil
}

// fakeEndpoints is the registry service as the provider sees it: it records
// every call and hands out ports, the previous one again when asked.
type fakeEndpoints struct {
	mu       sync.Mutex
	next     int
	open     map[string]string // lower-case name -> host:port
	calls    []string
	failNext bool
}

func newFakeEndpoints() *fakeEndpoints { return &fakeEndpoints{open: map[string]string{}} }

func (e *fakeEndpoints) AllocateRegistryEndpoint(_ context.Context, name string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = append(e.calls, "allocate "+name)
	if e.failNext {
		e.failNext = false
		return "", fmt.Errorf("no free port")
	}
	if hp, ok := e.open[strings.ToLower(name)]; ok {
		return hp, nil
	}
	e.next++
	hp := fmt.Sprintf("127.0.0.1:%d", 42400+e.next)
	e.open[strings.ToLower(name)] = hp
	return hp, nil
}

func (e *fakeEndpoints) ReleaseRegistryEndpoint(_ context.Context, name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = append(e.calls, "release "+name)
	delete(e.open, strings.ToLower(name))
	return nil
}

func (e *fakeEndpoints) DeleteRegistryContent(_ context.Context, name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls = append(e.calls, "delete-content "+name)
	return nil
}

func (e *fakeEndpoints) log() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.calls...)
}

type fixture struct {
	t    testing.TB
	st   store.Store
	arm  *arm.Server
	prov *Provider
	h    http.Handler
	eps  *fakeEndpoints
	az   *rbac.Authorizer
}

var fixedNow = time.Date(2026, 11, 29, 10, 22, 55, 940727500, time.UTC)

// newFixture runs on PostgreSQL when TEST_POSTGRES_URL is set (the unique
// registry names are the database's), else on SQLite.
func newFixture(t *testing.T) *fixture {
	return newFixtureOn(t, testStore(t), newFakeEndpoints())
}

func testStore(t *testing.T) store.Store {
	if os.Getenv("TEST_POSTGRES_URL") != "" {
		return storetest.Postgres(t)(t)
	}
	return storetest.SQLite(t)(t)
}

func newFixtureOn(t testing.TB, st store.Store, eps *fakeEndpoints) *fixture {
	now := func() time.Time { return fixedNow }
	f := &fixture{t: t, st: st, eps: eps, az: rbac.New(rbac.Config{Store: st})}
	var err error
	f.arm, err = arm.New(arm.Config{Store: st, Now: now, Validator: tokenValidator{}, Authz: f.az, TenantID: testTenant,
		SubscriptionID: testSub, Location: "eastus", BlobEndpoint: "https://127.0.0.1:10000"})
	if err != nil {
		t.Fatal(err)
	}
	f.prov, err = New(Config{Endpoints: eps, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.arm.Register(f.prov); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = f.arm.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	f.h = f.arm.Handler()
	f.assign("/subscriptions/"+testSub, rbac.RoleOwner, adminOID)
	f.assign("/subscriptions/"+testSub, rbac.RoleReader, readerOID)
	return f
}

func (f *fixture) assign(scope, role, oid string) {
	f.t.Helper()
	id, err := cobalt.ParseResourceID(scope)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.az.Assign(context.Background(), rbac.RoleAssignmentInput{Scope: id, RoleDefinitionID: role, PrincipalID: oid}); err != nil && !cobalt.IsCode(err, cobalt.EConflict) {
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

func (r resp) err(t testing.TB) arm.ErrorBody {
	t.Helper()
	var e arm.ErrorResponse
	if err := json.Unmarshal(r.Body, &e); err != nil {
		t.Fatalf("error body %q: %v", r.Body, err)
	}
	return e.Error
}

func (f *fixture) do(oid, method, path string, body any) resp {
	f.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	if !strings.Contains(path, "api-version=") {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		path += sep + "api-version=" + apiVersion
	}
	req := httptest.NewRequest(method, "https://127.0.0.1:4443"+path, rd)
	if oid != "" {
		req.Header.Set("Authorization", "Bearer tok-"+oid)
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, req)
	return resp{w.Code, w.Header(), w.Body.Bytes()}
}

// wait polls an operation's Location until it stops answering 202.
func (f *fixture) wait(oid, location string) resp {
	f.t.Helper()
	path := strings.TrimPrefix(location, "https://127.0.0.1:4443")
	for range 2000 {
		r := f.do(oid, "GET", path, nil)
		if r.Code != http.StatusAccepted {
			return r
		}
		time.Sleep(5 * time.Millisecond)
	}
	f.t.Fatalf("operation %s did not finish", location)
	return resp{}
}

func (f *fixture) mustStatus(r resp, codes ...int) resp {
	f.t.Helper()
	for _, c := range codes {
		if r.Code == c {
			return r
		}
	}
	f.t.Fatalf("status %d, want %v: %s", r.Code, codes, r.Body)
	return r
}

func (f *fixture) group(name string) {
	f.t.Helper()
	f.mustStatus(f.do(adminOID, "PUT", "/subscriptions/"+testSub+"/resourceGroups/"+name+"?api-version=2021-04-01", map[string]any{"location": "eastus"}), 200, 201)
}

func regBody(sku string, admin bool) map[string]any {
	return map[string]any{"location": "eastus", "tags": map[string]string{"key": "value"}, "sku": map[string]any{"name": sku},
		"properties": map[string]any{"adminUserEnabled": admin}}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(got, &v); err != nil {
		t.Fatal(err)
	}
	pretty, _ := json.MarshalIndent(v, "", "  ")
	pretty = append(pretty, '\n')
	path := filepath.Join("testdata", name)
	if *update {
		_ = os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, pretty, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if !bytes.Equal(want, pretty) {
		t.Errorf("%s differs from the golden file:\n got: %s\nwant: %s", name, pretty, want)
	}
}

func mustID(t testing.TB, s string) cobalt.ResourceID {
	t.Helper()
	id, err := cobalt.ParseResourceID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func sleepBriefly() { time.Sleep(5 * time.Millisecond) }
