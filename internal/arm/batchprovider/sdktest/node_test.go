package sdktest

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/login"
	"github.com/cobaltbatch/cobalt/internal/rbac"
	"github.com/cobaltbatch/cobalt/internal/sdkharness"
	"github.com/cobaltbatch/cobalt/internal/server"
	"github.com/cobaltbatch/cobalt/internal/testenv"
	"github.com/google/uuid"
)

func TestMain(m *testing.M) { testenv.LoopbackOnly(m) }

func TestArmBatchNodeSDK(t *testing.T) {
	testenv.Require(t, testenv.NodeModule("@azure/arm-batch"))
	ctx := context.Background()
	// A whole Cobalt (the shared SDK harness): the provider under test runs
	// with the wiring the binary ships, real nodes included.
	h := sdkharness.Start(t, server.Options{})
	ca, ls, ep := h.Server.CA(), h.Server.Login(), h.EP
	tenantID, subID, authURL, armURL := ep.TenantID, ep.SubscriptionID, ep.AuthorityHost, ep.ResourceManager
	adminRec, err := h.Server.Store().PrincipalGetByClientID(ctx, tenantID, ep.AdminClientID)
	if err != nil {
		t.Fatal(err)
	}
	admin, adminSecret := cobalt.Principal{ObjectID: adminRec.ObjectID, ClientID: adminRec.ClientID}, ep.AdminClientSecret
	tok, err := ls.IssueToken(ctx, login.IssueRequest{ObjectID: admin.ObjectID, Resource: "https://management.azure.com"})
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: ca.ClientTLSConfig()}, Timeout: 30 * time.Second}
	send := func(method, path, body string, out any) {
		t.Helper()
		req, _ := http.NewRequest(method, armURL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		req.Header.Set("Content-Type", "application/json")
		r, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		if r.StatusCode != 200 && r.StatusCode != 201 {
			t.Fatalf("%s %s: %d", method, path, r.StatusCode)
		}
		if out != nil {
			if err := json.NewDecoder(r.Body).Decode(out); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
		}
	}
	put := func(path, body string) { t.Helper(); send("PUT", path, body, nil) }
	rg := "/subscriptions/" + subID + "/resourceGroups/batchrg"
	put(rg+"?api-version=2021-04-01", `{"location":"eastus"}`)
	// Principals with roles on the resource group, assigned as a user would,
	// through the management plane.
	mk := func(name, role string) (cobalt.Principal, string) {
		t.Helper()
		p, secret, err := ls.CreateServicePrincipal(ctx, tenantID, name)
		if err != nil {
			t.Fatal(err)
		}
		put(rg+"/providers/Microsoft.Authorization/roleAssignments/"+uuid.NewString()+"?api-version=2022-04-01",
			`{"properties":{"roleDefinitionId":"/subscriptions/`+subID+`/providers/Microsoft.Authorization/roleDefinitions/`+role+`","principalId":"`+p.ObjectID+`"}}`)
		return p, secret
	}
	reader, readerSecret := mk("reader", rbac.RoleReader)
	contrib, contribSecret := mk("contrib", rbac.RoleContributor)
	// Identities live in another resource group, where the contributor has no rights.
	idRG := "/subscriptions/" + subID + "/resourceGroups/identities"
	put(idRG+"?api-version=2021-04-01", `{"location":"eastus"}`)
	uami := func(n string) string {
		return idRG + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + n
	}
	put(uami("id1")+"?api-version=2023-01-31", `{"location":"eastus"}`)
	put(uami("id2")+"?api-version=2023-01-31", `{"location":"eastus"}`)
	var id1Res struct {
		Properties struct{ PrincipalID, ClientID string }
	}
	send("GET", uami("id1")+"?api-version=2023-01-31", "", &id1Res)
	p1 := cobalt.Principal{ObjectID: id1Res.Properties.PrincipalID, ClientID: id1Res.Properties.ClientID}

	nctx, ncancel := context.WithTimeout(ctx, 2*time.Minute)
	defer ncancel()
	out := testenv.RunNode(nctx, t, testenv.NodeRun{Script: "batchmgmt/batchmgmt.js", Modules: []string{"@azure/arm-batch", "@azure/identity"},
		CAFile: ca.CAFile(), Env: map[string]string{"ARM_ENDPOINT": armURL, "ARM_AUTHORITY_HOST": authURL, "ARM_TENANT_ID": tenantID,
			"ARM_SUBSCRIPTION_ID": subID, "ARM_RESOURCE_GROUP": "batchrg",
			"ADMIN_ID": admin.ClientID, "ADMIN_SECRET": adminSecret, "READER_ID": reader.ClientID, "READER_SECRET": readerSecret,
			"CONTRIB_ID": contrib.ClientID, "CONTRIB_SECRET": contribSecret, "UAMI1": uami("id1"), "UAMI2": uami("id2")}})
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
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("node output %q: %v", out, err)
	}
	t.Logf("node summary: %s", out)
	check := func(name string, ok bool) {
		t.Helper()
		if !ok {
			t.Errorf("%s: %s", name, string(out))
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
