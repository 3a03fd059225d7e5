package batch

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
	"github.com/cobaltbatch/cobalt/internal/store/storetest"
)

const (
	testTenant = "tenant-1"
	testAcctID = "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.Batch/batchAccounts/acct1"
	uami1      = "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1"
	uami2      = "/subscriptions/sub2/resourceGroups/other/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id2"
	uamiOther  = "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/foreign"
)

// directory is an identity directory for tests: configuration, not a mock of
// behaviour under test.
type directory struct {
	mu  sync.Mutex
	ids map[string]cobalt.Principal
}

func newDirectory() *directory {
	d := &directory{ids: map[string]cobalt.Principal{}}
	d.add(uami1, testTenant)
	d.add(uami2, testTenant)
	d.add(uamiOther, "tenant-2")
	return d
}

func (d *directory) add(id, tenant string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	name := id[strings.LastIndex(id, "/")+1:]
	d.ids[strings.ToLower(id)] = cobalt.Principal{ObjectID: "oid-" + name, ClientID: "cid-" + name, TenantID: tenant,
		Kind: cobalt.KindManagedIdentity, ResourceID: id}
}

func (d *directory) LookupIdentity(_ context.Context, id string) (cobalt.Principal, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.ids[strings.ToLower(id)]
	if !ok {
		return p, cobalt.Errorf(cobalt.ENotFound, "identity not found")
	}
	return p, nil
}

// recorder is a NodeProvider that records calls and optionally runs a hook.
type recorder struct {
	mu      sync.Mutex
	started []NodeLaunch
	stopped []string
	onStart func(NodeLaunch)
}

func (r *recorder) StartNode(_ context.Context, n NodeLaunch) error {
	r.mu.Lock()
	r.started = append(r.started, n)
	h := r.onStart
	r.mu.Unlock()
	if h != nil {
		go h(n)
	}
	return nil
}

func (r *recorder) StopNode(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = append(r.stopped, id)
	return nil
}

func (r *recorder) counts() (int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.started), len(r.stopped)
}

// lostRecorder subscribes to lost nodes and records them.
type lostRecorder struct {
	mu   sync.Mutex
	lost []cobalt.NodeRef
}

func (l *lostRecorder) lostIDs() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, n := range l.lost {
		out = append(out, n.NodeID)
	}
	return out
}

func (l *lostRecorder) NodeLost(_ context.Context, n cobalt.NodeRef) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lost = append(l.lost, n)
	return nil
}

type env struct {
	t     testing.TB
	st    store.Store
	svc   *Service
	dir   *directory
	nodes *recorder
	acct  *cobalt.Account
	now   time.Time
	mu    sync.Mutex
}

func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *env) advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = e.now.Add(d)
}

func newEnv(t *testing.T, mut func(*Config)) *env {
	return newEnvOn(t, storetest.SQLite(t)(t), mut)
}

func newEnvOn(t *testing.T, st store.Store, mut func(*Config)) *env {
	e := &env{t: t, st: st, dir: newDirectory(), nodes: &recorder{}, now: time.Date(2026, 11, 29, 18, 0, 0, 0, time.UTC)}
	cfg := Config{Store: st, Now: e.clock, Nodes: e.nodes, Identities: e.dir, MaxNodes: 20, Location: "local"}
	if mut != nil {
		mut(&cfg)
	}
	svc, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	e.acct = &cobalt.Account{ID: testAcctID, Name: "acct1", TenantID: testTenant, SubscriptionID: "sub1", ResourceGroup: "rg1", Location: "local",
		Endpoint: "127.0.0.1:1", ProvisioningState: "Succeeded"}
	e.putAccount(e.acct)
	return e
}

func (e *env) putAccount(a *cobalt.Account) {
	if _, _, err := e.svc.AccountCreate(context.Background(), a); err != nil {
		e.t.Fatal(err)
	}
}

// armPool returns the spec of a management-plane pool PUT with the given
// fixed targets and user-assigned identities.
func armPool(dedicated int, ids ...string) *Spec {
	s := NewSpec()
	p := &s.Pool
	p.VMSize = "STANDARD_D2S_V3"
	s.Set(FVMSize)
	p.VirtualMachineConfiguration = &cobalt.VirtualMachineConfiguration{ImageReference: cobalt.ImageReference{
		Publisher: "canonical", Offer: "0001-com-ubuntu-server-jammy", Sku: "22_04-lts", Version: "latest"},
		NodeAgentSkuID: "batch.node.ubuntu 22.04"}
	s.Set(FVMConfig)
	p.TargetDedicatedNodes = dedicated
	p.ResizeTimeout, p.NodeDeallocationOption = DefaultResizeTimeout, DeallocRequeue
	s.Set(FScale)
	s.ResizeRequested = true
	if len(ids) > 0 {
		id := &cobalt.PoolIdentity{Type: "UserAssigned"}
		for _, x := range ids {
			id.Identities = append(id.Identities, cobalt.UserAssignedIdentity{ResourceID: x})
		}
		sortIdentities(id.Identities)
		p.Identity = id
		s.Set(FIdentity)
	}
	return s
}

func (e *env) put(poolID string, spec *Spec) (*Pool, string) {
	e.t.Helper()
	p, _, warn, err := e.svc.PoolPut(context.Background(), e.acct, poolID, spec, Conditions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return p, warn
}

// settle runs allocator passes until the pool is steady (or fails the test).
func (e *env) settle(poolID string) *Pool {
	e.t.Helper()
	for range 50 {
		if err := e.svc.Reconcile(context.Background(), "test"); err != nil {
			e.t.Fatal(err)
		}
		p, err := e.svc.PoolGet(context.Background(), e.acct.Key(), poolID)
		if err != nil {
			e.t.Fatal(err)
		}
		if p.AllocationState == AllocSteady {
			return p
		}
	}
	e.t.Fatalf("pool %s did not become steady", poolID)
	return nil
}

func (e *env) nodes_(poolID string) []*Node {
	e.t.Helper()
	ns, _, err := e.svc.NodeList(context.Background(), e.acct.Key(), poolID, store.Page{Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	return ns
}
