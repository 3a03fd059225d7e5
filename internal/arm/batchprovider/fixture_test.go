package batchprovider

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
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
	"github.com/cobaltbatch/cobalt/internal/batch"
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
	contribOID = "a0000000-0000-0000-0000-000000000003"
	apiVersion = "2023-11-01"
)

// tokenValidator accepts "tok-<oid>": the front door's tests use the same
// stand-in; the Node SDK test uses the real login service.
type tokenValidator struct{}

func (tokenValidator) Validate(_ context.Context, raw string, auds ...string) (cobalt.Caller, error) {
	oid, ok := strings.CutPrefix(raw, "tok-")
	if !ok {
		return cobalt.Caller{}, cobalt.Errorf(cobalt.EUnauthorized, "Signature validation failed.")
	}
	return cobalt.Caller{ObjectID: oid, TenantID: testTenant}, nil
}

// directory creates principals in the store, as the login service would.
type directory struct {
	s   store.Store
	mu  sync.Mutex
	seq int
}

func (d *directory) CreateManagedIdentityPrincipal(ctx context.Context, tenantID, displayName, resourceID string) (cobalt.Principal, error) {
	d.mu.Lock()
	d.seq++
	n := d.seq
	d.mu.Unlock()
	g := func(prefix string) string {
		return prefix + strings.Repeat("0", 7) + "-0000-4000-8000-" + hex.EncodeToString([]byte{byte(n >> 8), byte(n), 0, 0, 0, 0})
	}
	p := cobalt.Principal{ObjectID: g("1"), ClientID: g("2"), TenantID: tenantID, Kind: cobalt.KindManagedIdentity, DisplayName: displayName, ResourceID: resourceID}
	_, err := d.s.PrincipalCreate(ctx, store.PrincipalRecord{Principal: p})
	return p, err
}

func (d *directory) DeletePrincipal(ctx context.Context, objectID string) error {
	return d.s.PrincipalDelete(ctx, objectID)
}

// endpoints is an EndpointAllocator that hands out fixed ports.
type endpoints struct {
	mu       sync.Mutex
	next     int
	released []string
}

func (e *endpoints) AllocateAccountEndpoint(_ context.Context, name string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.next++
	return "127.0.0.1:" + itoa(20000+e.next), nil
}

func (e *endpoints) ReleaseAccountEndpoint(_ context.Context, name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.released = append(e.released, name)
	return nil
}

type fixture struct {
	t     testing.TB
	st    store.Store
	arm   *arm.Server
	h     http.Handler
	pools *batch.Service
	eps   *endpoints
	az    *rbac.Authorizer
}

var fixedNow = time.Date(2026, 11, 29, 10, 22, 55, 940727500, time.UTC)

func newFixture(t *testing.T, runAllocator bool) *fixture {
	st := storetest.SQLite(t)(t)
	return newFixtureOn(t, st, runAllocator, tokenValidator{})
}

func newFixtureOn(t testing.TB, st store.Store, runAllocator bool, v arm.Validator) *fixture {
	now := func() time.Time { return fixedNow }
	f := &fixture{t: t, st: st, eps: &endpoints{}, az: rbac.New(rbac.Config{Store: st})}
	dir := &directory{s: st}
	var err error
	f.pools, err = batch.New(batch.Config{Store: st, Now: now, MaxNodes: 16})
	if err != nil {
		t.Fatal(err)
	}
	prov, err := New(Config{Pools: f.pools, Endpoints: f.eps, Directory: dir, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	f.arm, err = arm.New(arm.Config{Store: st, Now: now, Validator: v, Authz: f.az, Directory: dir, TenantID: testTenant,
		SubscriptionID: testSub, Location: "eastus", BlobEndpoint: "https://127.0.0.1:10000", Providers: []arm.Provider{prov}})
	if err != nil {
		t.Fatal(err)
	}
	f.pools.SetIdentities(f.arm)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = f.arm.Run(ctx) }()
	if runAllocator {
		wg.Add(1)
		go func() { defer wg.Done(); _ = f.pools.Run(ctx) }()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	f.h = f.arm.Handler()
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

func (r resp) err(t testing.TB) arm.ErrorBody {
	t.Helper()
	var e arm.ErrorResponse
	if err := json.Unmarshal(r.Body, &e); err != nil {
		t.Fatalf("error body %q: %v", r.Body, err)
	}
	return e.Error
}

func (f *fixture) do(oid, method, path string, body any, hdr ...string) resp {
	f.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
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
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
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

const rgPath = "/subscriptions/" + testSub + "/resourceGroups/rg1"
const acctPath = rgPath + "/providers/Microsoft.Batch/batchAccounts/acct1"

func (f *fixture) mustOK(r resp, codes ...int) resp {
	f.t.Helper()
	for _, c := range codes {
		if r.Code == c {
			return r
		}
	}
	f.t.Fatalf("status %d, want %v: %s", r.Code, codes, r.Body)
	return r
}

// setup creates the resource group, identities id1 and id2 and account acct1.
func (f *fixture) setup() {
	f.t.Helper()
	f.mustOK(f.do(adminOID, "PUT", rgPath+"?api-version=2021-04-01", map[string]any{"location": "eastus"}), 201, 200)
	for _, n := range []string{"id1", "id2"} {
		f.mustOK(f.do(adminOID, "PUT", uami(n)+"?api-version=2023-01-31", map[string]any{"location": "eastus"}), 201, 200)
	}
	r := f.mustOK(f.do(adminOID, "PUT", acctPath, map[string]any{"location": "eastus"}), 202)
	f.mustOK(f.wait(adminOID, r.Header.Get("Location")), 200)
}

func uami(name string) string {
	return rgPath + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + name
}

func poolJSON(dedicated int, ids ...string) map[string]any {
	m := map[string]any{"properties": map[string]any{
		"vmSize": "STANDARD_D2S_V3",
		"deploymentConfiguration": map[string]any{"virtualMachineConfiguration": map[string]any{
			"imageReference": map[string]any{"publisher": "canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "latest"},
			"nodeAgentSkuId": "batch.node.ubuntu 24.04"}},
		"scaleSettings": map[string]any{"fixedScale": map[string]any{"targetDedicatedNodes": dedicated}},
	}}
	if len(ids) > 0 {
		u := map[string]any{}
		for _, id := range ids {
			u[id] = map[string]any{}
		}
		m["identity"] = map[string]any{"type": "UserAssigned", "userAssignedIdentities": u}
	}
	return m
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

func storeParams(account, pool string) store.NodeListParams {
	return store.NodeListParams{AccountKey: strings.ToLower(account), PoolKey: pool}
}

func poolParams() store.PoolListParams { return store.PoolListParams{} }
