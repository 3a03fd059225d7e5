package sdktest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/arm"
	"github.com/cobaltbatch/cobalt/internal/arm/batchprovider"
	"github.com/cobaltbatch/cobalt/internal/batch"
	"github.com/cobaltbatch/cobalt/internal/bearer"
	"github.com/cobaltbatch/cobalt/internal/login"
	"github.com/cobaltbatch/cobalt/internal/pki"
	"github.com/cobaltbatch/cobalt/internal/rbac"
	"github.com/cobaltbatch/cobalt/internal/store/sqlite"
	"github.com/cobaltbatch/cobalt/internal/testenv"
)

func TestMain(m *testing.M) { testenv.LoopbackOnly(m) }

const (
	tenantID = "8f2b6a4e-3c1d-4e5f-9a7b-1c2d3e4f5a6b"
	subID    = "5a1c9e2d-7b3f-4d6a-8e1c-2f4b6d8a0c1e"
)

// endpoints hands out fixed data-plane endpoints (the data plane itself is
// not under test here).
type endpoints struct {
	mu sync.Mutex
	n  int
}

func (e *endpoints) AllocateAccountEndpoint(_ context.Context, name string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	return "127.0.0.1:" + string(rune('0'+e.n)) + "1000", nil
}

func (e *endpoints) ReleaseAccountEndpoint(context.Context, string) error { return nil }

// nodes is a NodeProvider that starts nothing (node agents are not under test).
type nodes struct{}

func (nodes) StartNode(context.Context, batch.NodeLaunch) error { return nil }
func (nodes) StopNode(context.Context, string) error            { return nil }

func TestArmBatchNodeSDK(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not on PATH")
	}
	nodeDir, err := filepath.Abs(filepath.Join("..", "..", "..", "..", "test", "node"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(nodeDir, "node_modules", "@azure", "arm-batch")); err != nil {
		t.Skip("@azure/arm-batch is not installed")
	}
	ctx := context.Background()
	ca := pki.NewTestCA(t)
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "cobalt.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })

	loginSrv := httptest.NewUnstartedServer(nil)
	loginSrv.TLS = ca.ServerTLSConfig()
	authURL := "https://" + loginSrv.Listener.Addr().String()
	seal := make([]byte, 32)
	_, _ = rand.Read(seal)
	ls, err := login.New(ctx, login.Config{Store: st, AuthorityURL: authURL, SealKey: seal})
	if err != nil {
		t.Fatal(err)
	}
	loginSrv.Config.Handler = ls.Handler()
	loginSrv.StartTLS()
	t.Cleanup(loginSrv.Close)

	authz := rbac.New(st)
	v := bearer.New(bearer.Config{Keys: ls, TenantID: tenantID, Issuers: []string{ls.IssuerV1(tenantID), ls.IssuerV2(tenantID)}})
	fd, err := arm.New(arm.Config{Store: st, Validator: v, Authz: authz, Directory: ls, TenantID: tenantID, SubscriptionID: subID,
		Location: "eastus", BlobEndpoint: "https://127.0.0.1:1", AuthorityURL: authURL})
	if err != nil {
		t.Fatal(err)
	}
	pools, err := batch.New(batch.Config{Store: st, Nodes: nodes{}, MaxNodes: 8, Identities: fd})
	if err != nil {
		t.Fatal(err)
	}
	prov, err := batchprovider.New(batchprovider.Config{Pools: pools, Endpoints: &endpoints{}, Directory: ls})
	if err != nil {
		t.Fatal(err)
	}
	if err := fd.Register(prov); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = fd.Run(runCtx) }()
	go func() { defer wg.Done(); _ = pools.Run(runCtx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	armSrv := &http.Server{Handler: fd.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = armSrv.Serve(arm.NewListener(ln, ca.ServerTLSConfig())) }()
	t.Cleanup(func() { _ = armSrv.Close() })
	armURL := "https://" + ln.Addr().String()

	sub, _ := cobalt.ParseResourceID("/subscriptions/" + subID)
	mk := func(name, role string, scope cobalt.ResourceID) (cobalt.Principal, string) {
		p, secret, err := ls.CreateServicePrincipal(ctx, tenantID, name)
		if err != nil {
			t.Fatal(err)
		}
		if role != "" {
			if err := authz.Assign(ctx, rbac.RoleAssignmentInput{Scope: scope, RoleDefinitionID: role, PrincipalID: p.ObjectID}); err != nil {
				t.Fatal(err)
			}
		}
		return p, secret
	}
	admin, adminSecret := mk("admin", rbac.RoleOwner, sub)
	rg := "/subscriptions/" + subID + "/resourceGroups/batchrg"
	rgID, _ := cobalt.ParseResourceID(rg)
	reader, readerSecret := mk("reader", rbac.RoleReader, rgID)
	contrib, contribSecret := mk("contrib", rbac.RoleContributor, rgID)
	// Identities live in another resource group, where the contributor has no rights.
	tok, err := ls.IssueToken(ctx, login.IssueRequest{ObjectID: admin.ObjectID, Resource: "https://management.azure.com"})
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: ca.ClientTLSConfig()}, Timeout: 30 * time.Second}
	put := func(path, body string) {
		req, _ := http.NewRequest("PUT", armURL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		req.Header.Set("Content-Type", "application/json")
		r, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != 200 && r.StatusCode != 201 {
			t.Fatalf("PUT %s: %d", path, r.StatusCode)
		}
	}
	put(rg+"?api-version=2021-04-01", `{"location":"eastus"}`)
	idRG := "/subscriptions/" + subID + "/resourceGroups/identities"
	put(idRG+"?api-version=2021-04-01", `{"location":"eastus"}`)
	uami := func(n string) string {
		return idRG + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + n
	}
	put(uami("id1")+"?api-version=2023-01-31", `{"location":"eastus"}`)
	put(uami("id2")+"?api-version=2023-01-31", `{"location":"eastus"}`)
	p1, err := fd.LookupIdentity(ctx, uami("id1"))
	if err != nil {
		t.Fatal(err)
	}

	nctx, ncancel := context.WithTimeout(ctx, 2*time.Minute)
	defer ncancel()
	cmd := exec.CommandContext(nctx, "node", filepath.Join("batchmgmt", "batchmgmt.js"))
	cmd.Dir = nodeDir
	cmd.Env = append(os.Environ(),
		"NODE_EXTRA_CA_CERTS="+ca.CAFile(), "ARM_ENDPOINT="+armURL, "ARM_AUTHORITY_HOST="+authURL, "ARM_TENANT_ID="+tenantID,
		"ARM_SUBSCRIPTION_ID="+subID, "ARM_RESOURCE_GROUP=batchrg",
		"ADMIN_ID="+admin.ClientID, "ADMIN_SECRET="+adminSecret, "READER_ID="+reader.ClientID, "READER_SECRET="+readerSecret,
		"CONTRIB_ID="+contrib.ClientID, "CONTRIB_SECRET="+contribSecret, "UAMI1="+uami("id1"), "UAMI2="+uami("id2"))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("node: %v\n%s", err, errb.String())
	}
	var res struct {
		AccountEndpoint string            `json:"accountEndpoint"`
		AccountState    string            `json:"accountState"`
		AccountTags     map[string]string `json:"accountTags"`
		KeysAccount     string            `json:"keysAccount"`
		KeyChanged      bool              `json:"keyChanged"`
		Accounts        []string          `json:"accounts"`
		Created         struct {
			ID, Type, Etag, AllocationState, VMSize, NodeFillType, StartTask string
			Identities                                                       map[string]struct{ PrincipalID, ClientID string }
			TaskSlotsPerNode, Target                                         int
		} `json:"created"`
		AgainSameIdentity bool                                              `json:"againSameIdentity"`
		UpdatedIdentities map[string]struct{ PrincipalID, ClientID string } `json:"updatedIdentities"`
		UpdatedMetadata   []struct{ Name, Value string }                    `json:"updatedMetadata"`
		FetchedIdentities map[string]any                                    `json:"fetchedIdentities"`
		Listed            []string                                          `json:"listed"`
		StoppedState      string                                            `json:"stoppedState"`
		Reader, Linked    struct {
			StatusCode int    `json:"statusCode"`
			Code       string `json:"code"`
		}
		PlainName       string                   `json:"plainName"`
		AfterDelete     struct{ StatusCode int } `json:"afterDelete"`
		AcctAfterDelete struct{ StatusCode int } `json:"acctAfterDelete"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("node output %q: %v", out.String(), err)
	}
	t.Logf("node summary: %s", out.String())
	check := func(name string, ok bool) {
		t.Helper()
		if !ok {
			t.Errorf("%s: %s", name, out.String())
		}
	}
	check("account endpoint", res.AccountEndpoint != "" && res.AccountState == "Succeeded" && res.AccountTags["from"] == "node")
	check("keys", res.KeysAccount == "nodeacct" && res.KeyChanged)
	check("account list", len(res.Accounts) == 1)
	id1 := res.Created.Identities[uami("id1")]
	check("created identity filled", id1.PrincipalID == p1.ObjectID && id1.ClientID == p1.ClientID)
	check("created pool", strings.HasSuffix(res.Created.ID, "/pools/pool1") && res.Created.Type == "Microsoft.Batch/batchAccounts/pools" &&
		res.Created.Etag != "" && res.Created.VMSize == "STANDARD_D2S_V3" && res.Created.TaskSlotsPerNode == 2 &&
		res.Created.NodeFillType == "Pack" && res.Created.Target == 1 && res.Created.StartTask != "")
	check("PUT again", res.AgainSameIdentity)
	_, has2 := res.UpdatedIdentities[uami("id2")]
	check("update identities", has2 && len(res.UpdatedIdentities) == 1 && len(res.UpdatedMetadata) == 1)
	check("get", len(res.FetchedIdentities) == 1)
	check("list", len(res.Listed) == 1 && res.Listed[0] == "pool1")
	check("stop resize", res.StoppedState == "Steady" || res.StoppedState == "Stopping")
	check("reader refused", res.Reader.StatusCode == 403 && res.Reader.Code == "AuthorizationFailed")
	check("linked authorization", res.Linked.StatusCode == 403 && res.Linked.Code == "LinkedAuthorizationFailed")
	check("contributor without identity", res.PlainName == "pool3")
	check("pool deleted", res.AfterDelete.StatusCode == 404)
	check("account deleted", res.AcctAfterDelete.StatusCode == 404)
}
