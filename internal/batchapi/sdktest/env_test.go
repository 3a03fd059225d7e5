package sdktest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cobalt "github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/batch"
	"github.com/cobaltbatch/cobalt/internal/batchapi"
	"github.com/cobaltbatch/cobalt/internal/bearer"
	"github.com/cobaltbatch/cobalt/internal/jobs"
	"github.com/cobaltbatch/cobalt/internal/login"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
	"github.com/cobaltbatch/cobalt/internal/pki"
	"github.com/cobaltbatch/cobalt/internal/pki/pkitest"
	"github.com/cobaltbatch/cobalt/internal/rbac"
	"github.com/cobaltbatch/cobalt/internal/store"
	"github.com/cobaltbatch/cobalt/internal/store/sqlite"
	"github.com/cobaltbatch/cobalt/internal/testenv"
)

func TestMain(m *testing.M) { testenv.LoopbackOnly(m) }

const (
	tenantID = "5a0f6c2e-8d7b-4e1a-9c3d-2b4f6e8a0c1d"
	subID    = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
)

// env is the data plane assembled from the real services on a temporary
// SQLite store: login (Entra tokens), bearer, rbac, the pool service, the
// jobs service and batchapi, with one Batch account. No node agent runs:
// fakeNode plays one through the jobs service's dispatcher API.
type env struct {
	t         testing.TB
	ca        *pki.CA
	st        store.Store
	login     *login.Service
	authzRBAC *rbac.Authorizer
	loginURL  string
	client    *http.Client
	pools     *batch.Service
	jobs      *jobs.Service
	api       *batchapi.Service
	nodeRoot  string

	account   string
	accountID string
	key       string
	endpoint  string // 127.0.0.1:PORT
}

// principal is a service principal with its secret.
type principal struct {
	cobalt.Principal
	secret string
}

func newEnv(t testing.TB) *env { return newEnvWith(t, nil) }

// newEnvWith is newEnv with the pool service's configuration changed by mut.
func newEnvWith(t testing.TB, mut func(*batch.Config)) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	e := &env{t: t, ca: pkitest.NewCA(t), account: "acct1", nodeRoot: t.TempDir()}
	e.client = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{TLSClientConfig: e.ca.ClientTLSConfig()}}
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "cobalt.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e.st = st

	// Login service over HTTPS.
	srv := httptest.NewUnstartedServer(nil)
	srv.TLS = e.ca.ServerTLSConfig()
	e.loginURL = "https://" + srv.Listener.Addr().String()
	seal := make([]byte, 32)
	_, _ = rand.Read(seal)
	if e.login, err = login.New(ctx, login.Config{Store: st, AuthorityURL: e.loginURL, SealKey: seal}); err != nil {
		t.Fatal(err)
	}
	if err := e.login.AddTenant(ctx, tenantID); err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = e.login.Handler()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	validator := bearer.New(bearer.Config{Keys: e.login, TenantID: tenantID,
		Issuers: []string{e.login.IssuerV1(tenantID), e.login.IssuerV2(tenantID)}})
	e.authzRBAC = rbac.New(rbac.Config{Store: st})

	pcfg := batch.Config{Store: st, NodeRootDir: e.nodeRoot}
	if mut != nil {
		mut(&pcfg)
	}
	if e.pools, err = batch.New(pcfg); err != nil {
		t.Fatal(err)
	}
	// As cobalt up wires it: task add sees the job's pool.
	if e.jobs, err = jobs.New(jobs.Config{Store: st, Pools: e.pools}); err != nil {
		t.Fatal(err)
	}
	e.pools.UseTaskMetrics(e.jobs)
	if e.api, err = batchapi.New(batchapi.Config{TLS: e.ca.ServerTLSConfig(), Validator: validator, Authz: e.authzRBAC,
		AuthorityURL: e.loginURL, TenantID: tenantID, Jobs: e.jobs, Nodes: batchapi.NodeDirsUnder(e.pools, e.nodeRoot),
		Pools: e.pools, Accounts: batchapi.AccountsFromPools(e.pools, st)}); err != nil {
		t.Fatal(err)
	}

	// The Batch account, as the management plane would store it.
	e.accountID = "/subscriptions/" + subID + "/resourceGroups/rg1/providers/Microsoft.Batch/batchAccounts/" + e.account
	k := make([]byte, 64)
	_, _ = rand.Read(k)
	e.key = base64.StdEncoding.EncodeToString(k)
	if e.endpoint, err = e.api.AllocateAccountEndpoint(ctx, e.account); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.pools.AccountCreate(ctx, &cobalt.Account{ID: e.accountID, Name: e.account, Location: "eastus", TenantID: tenantID,
		SubscriptionID: subID, ResourceGroup: "rg1", Endpoint: e.endpoint, Keys: [2]string{e.key, ""}, ProvisioningState: "Succeeded",
		CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}

	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = e.api.Run(ctx)
	}()
	go func() { _ = e.jobs.Run(ctx) }()
	go func() { _ = e.pools.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return e
}

// waitNode waits until the pool has a node and returns its ID.
func (e *env) waitNode(poolID string) string {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ns, _, err := e.pools.NodeList(context.Background(), strings.ToLower(e.accountID), poolID, store.Page{Limit: 10})
		if err == nil && len(ns) > 0 {
			return ns[0].ID
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.t.Fatalf("pool %s got no node", poolID)
	return ""
}

// newPrincipal creates a service principal, assigning it role on the account
// when role is not "".
func (e *env) newPrincipal(role string) principal {
	e.t.Helper()
	ctx := context.Background()
	p, secret, err := e.login.CreateServicePrincipal(ctx, tenantID, "batch-sdk-test")
	if err != nil {
		e.t.Fatal(err)
	}
	if role != "" {
		scope, err := cobalt.ParseResourceID(e.accountID)
		if err != nil {
			e.t.Fatal(err)
		}
		if err := e.authzRBAC.Assign(ctx, rbac.RoleAssignmentInput{Scope: scope, RoleDefinitionID: role,
			PrincipalID: p.ObjectID}); err != nil {
			e.t.Fatal(err)
		}
	}
	return principal{p, secret}
}

// fakeNode plays a compute node of pool: it leases tasks from the jobs
// service, writes their stdout.txt/stderr.txt (and wd/out.txt) where the task
// directory is on this host, and reports them completed with exit code 0,
// until ctx ends.
func (e *env) fakeNode(ctx context.Context, poolID, nodeID string) {
	ref := cobalt.NodeRef{AccountID: strings.ToLower(e.accountID), PoolID: poolID, NodeID: nodeID}
	for ctx.Err() == nil {
		leases, err := e.jobs.Lease(ctx, ref, 4, 500*time.Millisecond)
		if err != nil {
			if ctx.Err() == nil {
				e.t.Logf("lease: %v", err)
				time.Sleep(100 * time.Millisecond)
			}
			continue
		}
		for _, l := range leases {
			start := time.Now().UTC()
			dir := filepath.Join(e.nodeRoot, nodeID, filepath.FromSlash(jobs.TaskRootDirectory(l.JobID, l.TaskID)))
			_ = os.MkdirAll(filepath.Join(dir, "wd"), 0o755)
			_ = os.WriteFile(filepath.Join(dir, "stdout.txt"), []byte("hi\n"), 0o644)
			_ = os.WriteFile(filepath.Join(dir, "stderr.txt"), nil, 0o644)
			_ = os.WriteFile(filepath.Join(dir, "wd", "out.txt"), []byte("0123456789"), 0o640)
			_ = e.jobs.Report(ctx, ref, nodeproto.ReportRequest{NodeID: nodeID, LeaseID: l.LeaseID, Event: "started", StartTime: start})
			end := time.Now().UTC()
			code := 0
			if err := e.jobs.Report(ctx, ref, nodeproto.ReportRequest{NodeID: nodeID, LeaseID: l.LeaseID, Event: "completed",
				StartTime: start, EndTime: &end, ExitCode: &code}); err != nil && ctx.Err() == nil {
				e.t.Logf("report: %v", err)
			}
		}
	}
}
