package nodeapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/arm/batchprovider"
	"github.com/cobaltbatch/cobalt/internal/batch"
	"github.com/cobaltbatch/cobalt/internal/login"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
	"github.com/cobaltbatch/cobalt/internal/store/storetest"
)

const (
	acctID = "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.Batch/batchAccounts/acct1"
	idA    = "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/idA"
	idB    = "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/idB"
	idC    = "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/idC"
)

type directory struct {
	mu  sync.Mutex
	ids map[string]cobalt.Principal
}

func (d *directory) LookupIdentity(_ context.Context, id string) (cobalt.Principal, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.ids[strings.ToLower(id)]
	if !ok {
		return p, cobalt.Errorf(cobalt.ENotFound, "no identity")
	}
	return p, nil
}

// issuer records issued tokens; the token text names the principal.
type issuer struct {
	mu     sync.Mutex
	issued []map[string]string
}

func (i *issuer) IssueToken(_ context.Context, req login.IssueRequest) (login.Token, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	a := map[string]string{"oid": req.ObjectID, "resource": req.Resource}
	for k, v := range req.Audit {
		a[k] = v
	}
	i.issued = append(i.issued, a)
	now := time.Now()
	return login.Token{AccessToken: "tok-" + req.ObjectID, IssuedAt: now, NotBefore: now, ExpiresAt: now.Add(time.Hour)}, nil
}

type launches struct {
	mu sync.Mutex
	l  []batch.NodeLaunch
}

func (l *launches) StartNode(_ context.Context, n batch.NodeLaunch) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.l = append(l.l, n)
	return nil
}
func (l *launches) StopNode(context.Context, string) error { return nil }

func (l *launches) of(pool string) []batch.NodeLaunch {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []batch.NodeLaunch
	for _, x := range l.l {
		if x.PoolID == pool {
			out = append(out, x)
		}
	}
	return out
}

type fixture struct {
	svc  *batch.Service
	srv  *httptest.Server
	dir  *directory
	iss  *issuer
	nl   *launches
	acct *cobalt.Account
}

func newFixture(t *testing.T) *fixture {
	st := storetest.SQLite(t)(t)
	f := &fixture{dir: &directory{ids: map[string]cobalt.Principal{}}, iss: &issuer{}, nl: &launches{}}
	for _, id := range []string{idA, idB, idC} {
		n := id[strings.LastIndex(id, "/")+1:]
		f.dir.ids[strings.ToLower(id)] = cobalt.Principal{ObjectID: "oid-" + n, ClientID: "cid-" + n, TenantID: "t1", ResourceID: id}
	}
	svc, err := batch.New(batch.Config{Store: st, Nodes: f.nl, Identities: f.dir})
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	f.acct = &cobalt.Account{ID: acctID, Name: "acct1", TenantID: "t1", SubscriptionID: "sub1", ResourceGroup: "rg1"}
	if _, _, err := svc.AccountCreate(t.Context(), f.acct); err != nil {
		t.Fatal(err)
	}
	api, err := New(Config{Pools: svc, Tokens: f.iss, Identities: f.dir})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewTLSServer(api.Handler())
	t.Cleanup(f.srv.Close)
	return f
}

func poolBody(n int, ids ...string) []byte {
	u := map[string]any{}
	for _, id := range ids {
		u[id] = map[string]any{}
	}
	m := map[string]any{"properties": map[string]any{"vmSize": "standard_d2s_v3",
		"deploymentConfiguration": map[string]any{"virtualMachineConfiguration": map[string]any{
			"imageReference": map[string]any{"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server"},
			"nodeAgentSkuId": "batch.node.ubuntu 24.04"}},
		"scaleSettings": map[string]any{"fixedScale": map[string]any{"targetDedicatedNodes": n}}}}
	if len(ids) > 0 {
		m["identity"] = map[string]any{"type": "UserAssigned", "userAssignedIdentities": u}
	} else {
		m["identity"] = map[string]any{"type": "None"}
	}
	b, _ := json.Marshal(m)
	return b
}

func (f *fixture) put(t testing.TB, pool string, body []byte) string {
	t.Helper()
	spec, err := batchprovider.DecodeARMPool(body)
	if err != nil {
		t.Fatal(err)
	}
	_, _, warn, err := f.svc.PoolPut(t.Context(), f.acct, pool, spec, batch.Conditions{})
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if err := f.svc.Reconcile(t.Context(), "t"); err != nil {
			t.Fatal(err)
		}
	}
	return warn
}

func (f *fixture) call(t testing.TB, cred, path string, req, resp any) (int, nodeproto.Error) {
	t.Helper()
	b, _ := json.Marshal(req)
	hr, _ := http.NewRequest("POST", f.srv.URL+path, bytes.NewReader(b))
	hr.Header.Set("Authorization", "Bearer "+cred)
	r, err := f.srv.Client().Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var e nodeproto.Error
	if r.StatusCode != 200 {
		_ = json.NewDecoder(r.Body).Decode(&e)
		return r.StatusCode, e
	}
	if err := json.NewDecoder(r.Body).Decode(resp); err != nil {
		t.Fatal(err)
	}
	return 200, e
}

func TestTokenSelectionAndIsolation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.put(t, "poolA", poolBody(1, idA))
	f.put(t, "poolB", poolBody(1, idB, idC))
	a, b := f.nl.of("poolA")[0], f.nl.of("poolB")[0]
	var reg nodeproto.RegisterResponse
	if st, e := f.call(t, a.Credential, nodeproto.PathRegister, nodeproto.RegisterRequest{NodeID: a.NodeID}, &reg); st != 200 {
		t.Fatalf("register: %d %+v", st, e)
	}
	if len(reg.Config.Identities) != 1 || reg.Config.Identities[0].ClientID != "cid-idA" || reg.Config.PoolID != "poolA" {
		t.Fatalf("config = %+v", reg.Config)
	}
	cases := []struct {
		name string
		cred string
		req  nodeproto.TokenRequest
		code string
		oid  string
	}{
		{"A only identity", a.Credential, nodeproto.TokenRequest{Resource: "https://storage.azure.com"}, "", "oid-idA"},
		{"A by client id", a.Credential, nodeproto.TokenRequest{Resource: "r", ClientID: "CID-IDA"}, "", "oid-idA"},
		{"A by resource id case", a.Credential, nodeproto.TokenRequest{Resource: "r", ResourceID: strings.ToUpper(idA)}, "", "oid-idA"},
		{"A by object id", a.Credential, nodeproto.TokenRequest{Resource: "r", ObjectID: "oid-idA"}, "", "oid-idA"},
		{"A asks B's client id", a.Credential, nodeproto.TokenRequest{Resource: "r", ClientID: "cid-idB"}, "IdentityNotFound", ""},
		{"A asks B's resource id", a.Credential, nodeproto.TokenRequest{Resource: "r", ResourceID: idB}, "IdentityNotFound", ""},
		{"A asks B's object id", a.Credential, nodeproto.TokenRequest{Resource: "r", ObjectID: "oid-idB"}, "IdentityNotFound", ""},
		{"A claims to be B's node", a.Credential, nodeproto.TokenRequest{NodeID: b.NodeID, Resource: "r", ClientID: "cid-idB"}, "Forbidden", ""},
		{"B has several", b.Credential, nodeproto.TokenRequest{Resource: "r"}, "MultipleIdentities", ""},
		{"B by client id", b.Credential, nodeproto.TokenRequest{Resource: "r", ClientID: "cid-idC"}, "", "oid-idC"},
		{"two selectors", b.Credential, nodeproto.TokenRequest{Resource: "r", ClientID: "cid-idC", ObjectID: "oid-idC"}, "InvalidRequest", ""},
		{"no resource", a.Credential, nodeproto.TokenRequest{}, "MissingResource", ""},
		{"forged credential", a.NodeID + ".x", nodeproto.TokenRequest{Resource: "r"}, "Unauthorized", ""},
		{"B's id with A's secret", b.NodeID + a.Credential[strings.Index(a.Credential, "."):], nodeproto.TokenRequest{Resource: "r"}, "Unauthorized", ""},
	}
	for _, c := range cases {
		var resp nodeproto.TokenResponse
		st, e := f.call(t, c.cred, nodeproto.PathToken, c.req, &resp)
		if c.code == "" {
			if st != 200 || resp.AccessToken != "tok-"+c.oid {
				t.Errorf("%s: status %d %+v, token %q", c.name, st, e, resp.AccessToken)
			}
			continue
		}
		if st == 200 || e.Code != c.code {
			t.Errorf("%s: status %d code %q, want %q", c.name, st, e.Code, c.code)
		}
	}
	// Audit fields name node and pool.
	f.iss.mu.Lock()
	first := f.iss.issued[0]
	f.iss.mu.Unlock()
	if first["node"] != a.NodeID || first["pool"] != "poolA" {
		t.Fatalf("audit = %v", first)
	}
	// A deleted identity gets no token, even though the node still carries it.
	f.dir.mu.Lock()
	delete(f.dir.ids, strings.ToLower(idA))
	f.dir.mu.Unlock()
	var resp nodeproto.TokenResponse
	if st, e := f.call(t, a.Credential, nodeproto.PathToken, nodeproto.TokenRequest{Resource: "r"}, &resp); st == 200 || e.Code != "IdentityNotFound" {
		t.Fatalf("deleted identity: %d %+v", st, e)
	}
}

func TestIdentitySnapshot(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.put(t, "p", poolBody(1, idA))
	old := f.nl.of("p")[0]
	// The pool now carries B instead of A: accepted, with a warning.
	if warn := f.put(t, "p", poolBody(1, idB)); warn == "" {
		t.Fatal("no warning for an identity change on a pool with nodes")
	}
	var resp nodeproto.TokenResponse
	if st, e := f.call(t, old.Credential, nodeproto.PathToken, nodeproto.TokenRequest{Resource: "r"}, &resp); st != 200 || resp.Identity.ClientID != "cid-idA" {
		t.Fatalf("existing node after update: %d %+v %+v", st, e, resp)
	}
	if st, e := f.call(t, old.Credential, nodeproto.PathToken, nodeproto.TokenRequest{Resource: "r", ClientID: "cid-idB"}, &resp); st == 200 || e.Code != "IdentityNotFound" {
		t.Fatalf("existing node got the pool's new identity: %d %+v", st, e)
	}
	p, _ := f.svc.PoolGet(t.Context(), f.acct.Key(), "p")
	if p.IdentityWarning == "" {
		t.Fatal("pool not flagged")
	}
	// Scale to zero and back: the new node carries the new set.
	f.put(t, "p", poolBody(0, idB))
	if p, _ := f.svc.PoolGet(t.Context(), f.acct.Key(), "p"); p.IdentityWarning != "" || p.CurrentDedicatedNodes != 0 {
		t.Fatalf("after scale to zero: %+v", p)
	}
	if st, _ := f.call(t, old.Credential, nodeproto.PathToken, nodeproto.TokenRequest{Resource: "r"}, &resp); st != 401 {
		t.Fatalf("removed node's credential: %d", st)
	}
	f.put(t, "p", poolBody(1, idB))
	ls := f.nl.of("p")
	fresh := ls[len(ls)-1]
	if st, e := f.call(t, fresh.Credential, nodeproto.PathToken, nodeproto.TokenRequest{Resource: "r"}, &resp); st != 200 || resp.Identity.ClientID != "cid-idB" {
		t.Fatalf("new node: %d %+v %+v", st, e, resp)
	}
}

func TestHeartbeatStates(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.put(t, "p", poolBody(1))
	n := f.nl.of("p")[0]
	var hr nodeproto.HeartbeatResponse
	if st, e := f.call(t, n.Credential, nodeproto.PathHeartbeat, nodeproto.HeartbeatRequest{State: "idle"}, &hr); st != 200 {
		t.Fatalf("heartbeat: %d %+v", st, e)
	}
	got, err := f.svc.NodeGet(t.Context(), f.acct.Key(), "p", n.NodeID)
	if err != nil || got.State != "idle" {
		t.Fatalf("node = %+v, %v", got, err)
	}
	if st, e := f.call(t, n.Credential, nodeproto.PathHeartbeat, nodeproto.HeartbeatRequest{State: "leavingpool"}, &hr); st != 400 {
		t.Fatalf("agent reported leavingpool: %d %+v", st, e)
	}
	if err := f.svc.NodeReboot(t.Context(), f.acct.Key(), "p", n.NodeID); err != nil {
		t.Fatal(err)
	}
	if st, _ := f.call(t, n.Credential, nodeproto.PathHeartbeat, nodeproto.HeartbeatRequest{State: "idle"}, &hr); st != 200 || len(hr.Commands) != 1 || hr.Commands[0] != "reboot" {
		t.Fatalf("commands = %v", hr.Commands)
	}
}

func FuzzSelectIdentity(f *testing.F) {
	f.Add("", "", "", 1)
	f.Add("cid-a", "", "", 2)
	f.Add("", "", "/X", 0)
	f.Fuzz(func(t *testing.T, cid, oid, rid string, n int) {
		snap := []cobalt.UserAssignedIdentity{{ResourceID: "/a", ClientID: "cid-a", PrincipalID: "oid-a"}, {ResourceID: "/b", ClientID: "cid-b", PrincipalID: "oid-b"}}
		if n < 0 || n > 2 {
			n = 2
		}
		got, err := SelectIdentity(snap[:n], nodeproto.TokenRequest{ClientID: cid, ObjectID: oid, ResourceID: rid})
		if err != nil {
			return
		}
		for _, s := range snap[:n] {
			if s == got {
				return
			}
		}
		t.Fatalf("selected %+v outside the snapshot", got)
	})
}
