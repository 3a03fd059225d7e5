package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/batch/azbatch"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/msi/armmsi"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/storage/armstorage"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/google/uuid"

	"github.com/cobaltbatch/cobalt/internal/cli"
	"github.com/cobaltbatch/cobalt/internal/rbac"
	"github.com/cobaltbatch/cobalt/internal/testenv"
)

// portalUser is a user made with `cobalt user create`.
type portalUser struct{ upn, objectID, password string }

// createUser runs `cobalt user create --name NAME --password-stdin` against
// the running installation and returns the user it printed.
func (e *env) createUser(t *testing.T, name string) portalUser {
	t.Helper()
	password := "P@ss-" + uuid.NewString()
	var out, errb bytes.Buffer
	if code := cli.Main(context.Background(), []string{"user", "create", "--data", e.DataDir, "--name", name, "--password-stdin", "-o", "json"},
		strings.NewReader(password+"\n"), &out, &errb); code != 0 {
		t.Fatalf("cobalt user create: %d %s", code, errb.String())
	}
	var u struct{ ObjectID, UserPrincipalName string }
	if err := jsonUnmarshal(out.Bytes(), &u); err != nil || u.ObjectID == "" || !strings.HasPrefix(u.UserPrincipalName, name+"@") {
		t.Fatalf("cobalt user create printed %s (%v)", out.String(), err)
	}
	return portalUser{upn: u.UserPrincipalName, objectID: u.ObjectID, password: password}
}

// artifactsDir is where the browser tests leave their screenshots:
// $COBALT_ARTIFACTS/<test name> when set, else a temporary directory.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if root := os.Getenv("COBALT_ARTIFACTS"); root != "" {
		dir = filepath.Join(root, strings.ReplaceAll(t.Name(), "/", "_"))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestPortalSeedFlow follows the seed's portal steps 1-11 in Chromium as
// three users: one with Contributor and Managed Identity Operator creates
// the pool (checked through the official SDK, and a task on its node gets a
// token for the identity); a Reader sees ARM refuse the create; a
// Contributor with no right to assign the identity sees
// LinkedAuthorizationFailed.
func TestPortalSeedFlow(t *testing.T) {
	t.Parallel()
	testenv.Require(t, testenv.NodeModule("playwright-core"))
	if _, err := os.Stat("/usr/bin/chromium"); err != nil {
		testenv.Unavailable(t, "Debian's chromium is not installed (/usr/bin/chromium)")
	}
	e := startIsolated(t)
	c := ctx(t)
	admin := e.Admin()
	sub := "/subscriptions/" + e.EP.SubscriptionID
	const batchRG, idRG, identity = "portal-rg", "identities-rg", "portal-identity"
	account := "portal" + strings.ToLower(uuid.NewString()[:8])

	rgs, err := armresources.NewResourceGroupsClient(e.EP.SubscriptionID, admin, e.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, rg := range []string{batchRG, idRG} {
		if _, err := rgs.CreateOrUpdate(c, rg, armresources.ResourceGroup{Location: to.Ptr(e.EP.Location)}, nil); err != nil {
			t.Fatalf("create resource group: %v", err)
		}
	}
	ids, err := armmsi.NewUserAssignedIdentitiesClient(e.EP.SubscriptionID, admin, e.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	mi, err := ids.CreateOrUpdate(c, idRG, identity, armmsi.Identity{Location: to.Ptr(e.EP.Location)}, nil)
	if err != nil {
		t.Fatalf("create identity: %v", err)
	}
	var acct struct {
		Account struct {
			AccountEndpoint string `json:"accountEndpoint"`
		} `json:"account"`
	}
	e.node("batchpool.js", map[string]any{"resourceGroup": batchRG, "account": account, "pool": "existing", "location": e.EP.Location,
		"poolBody": map[string]any{"vmSize": "STANDARD_D2S_V3",
			"deploymentConfiguration": map[string]any{"virtualMachineConfiguration": map[string]any{
				"imageReference": map[string]any{"publisher": "canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "latest"},
				"nodeAgentSkuId": "batch.node.ubuntu 24.04"}},
			"scaleSettings": map[string]any{"fixedScale": map[string]any{"targetDedicatedNodes": 0}}}}, &acct)

	alice, rita, carl := e.createUser(t, "alice"), e.createUser(t, "rita"), e.createUser(t, "carl")
	ras, err := armauthorization.NewRoleAssignmentsClient(e.EP.SubscriptionID, admin, e.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	assign := func(scope, role string, u portalUser) {
		t.Helper()
		if _, err := ras.Create(c, scope, uuid.NewString(), armauthorization.RoleAssignmentCreateParameters{
			Properties: &armauthorization.RoleAssignmentProperties{
				RoleDefinitionID: to.Ptr(sub + "/providers/Microsoft.Authorization/roleDefinitions/" + role),
				PrincipalID:      to.Ptr(u.objectID), PrincipalType: to.Ptr(armauthorization.PrincipalTypeUser)}}, nil); err != nil {
			t.Fatalf("role assignment: %v", err)
		}
	}
	assign(sub+"/resourceGroups/"+batchRG, rbac.RoleContributor, alice)
	assign(*mi.ID, rbac.RoleManagedIdentityOperator, alice) // rights on the single identity only
	assign(sub, rbac.RoleReader, rita)
	assign(sub+"/resourceGroups/"+batchRG, rbac.RoleContributor, carl)
	assign(sub+"/resourceGroups/"+idRG, rbac.RoleReader, carl) // may see, not assign

	artifacts := artifactsDir(t)
	browse := func(t *testing.T, u portalUser, pool, expect, prefix string, width int, extra ...string) map[string]any {
		t.Helper()
		var out map[string]any
		testenv.RunNodeJSON(c, t, testenv.NodeRun{Script: "portal/seed.mjs", Modules: []string{"playwright-core"}, Input: map[string]any{
			"portal": e.EP.Portal, "username": u.upn, "password": u.password, "account": account, "identity": identity,
			"pool": pool, "expect": expect, "artifacts": artifacts, "prefix": prefix, "width": width, "height": 800, "job": strings.Join(extra, ""), "objectId": u.objectID}}, &out)
		return out
	}

	bc := e.batchClient(t, acct.Account.AccountEndpoint)
	t.Run("reader is refused", func(t *testing.T) {
		out := browse(t, rita, "reader-pool", "alert", "reader", 420) // a narrow window
		msg, _ := out["alert"].(string)
		if !strings.HasPrefix(msg, "AuthorizationFailed: ") ||
			!strings.Contains(msg, "does not have authorization to perform action 'Microsoft.Batch/batchAccounts/pools/write'") {
			t.Fatalf("the Reader saw %q", msg)
		}
		if _, err := bc.GetPool(c, "reader-pool", nil); err == nil {
			t.Fatal("the Reader's pool exists")
		}
	})
	t.Run("contributor without assign is refused", func(t *testing.T) {
		out := browse(t, carl, "carl-pool", "alert", "linked", 1280)
		msg, _ := out["alert"].(string)
		if !strings.HasPrefix(msg, "LinkedAuthorizationFailed: ") ||
			!strings.Contains(msg, "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action") {
			t.Fatalf("the Contributor saw %q", msg)
		}
		if _, err := bc.GetPool(c, "carl-pool", nil); err == nil {
			t.Fatal("the Contributor's pool exists")
		}
	})
	t.Run("storage browser uploads with the user's data role", func(t *testing.T) {
		sa, err := armstorage.NewAccountsClient(e.EP.SubscriptionID, admin, e.ARMOptions())
		if err != nil {
			t.Fatal(err)
		}
		name := "portalsa" + strings.ToLower(uuid.NewString()[:8])
		poller, err := sa.BeginCreate(c, batchRG, name, armstorage.AccountCreateParameters{Location: to.Ptr(e.EP.Location),
			Kind: to.Ptr(armstorage.KindStorageV2), SKU: &armstorage.SKU{Name: to.Ptr(armstorage.SKUNameStandardLRS)}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		created, err := poller.PollUntilDone(c, nil)
		if err != nil {
			t.Fatal(err)
		}
		assign(*created.ID, rbac.RoleStorageBlobDataContributor, alice)
		keys, err := sa.ListKeys(c, batchRG, name, nil)
		if err != nil {
			t.Fatal(err)
		}
		shared, err := azblob.NewSharedKeyCredential(name, *keys.Keys[0].Value)
		if err != nil {
			t.Fatal(err)
		}
		bl, err := azblob.NewClientWithSharedKeyCredential(*created.Properties.PrimaryEndpoints.Blob, shared, &azblob.ClientOptions{ClientOptions: e.ClientOptions()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bl.CreateContainer(c, "inputs", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := bl.UploadBuffer(c, "inputs", "existing.txt", []byte("there before"), nil); err != nil {
			t.Fatal(err)
		}
		var out struct{ Blobs []string }
		testenv.RunNodeJSON(c, t, testenv.NodeRun{Script: "portal/storage.mjs", Modules: []string{"playwright-core"}, Input: map[string]any{
			"portal": e.EP.Portal, "username": alice.upn, "password": alice.password, "storage": name, "container": "inputs",
			"upload": "from-portal.txt", "artifacts": artifacts, "prefix": "storage"}}, &out)
		if strings.Join(out.Blobs, ",") != "existing.txt,from-portal.txt" {
			t.Fatalf("the browser listed %v", out.Blobs)
		}
		resp, err := bl.DownloadStream(c, "inputs", "from-portal.txt", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if b, _ := io.ReadAll(resp.Body); string(b) != "uploaded from the portal" {
			t.Fatalf("the uploaded blob holds %q", b)
		}
	})
	t.Run("contributor and operator create the pool", func(t *testing.T) {
		out := browse(t, alice, "portal-pool", "created", "create", 1280, "portal-browser-job")
		if out["created"] != true || out["nodeIdentityCells"] != 1.0 {
			t.Fatalf("browser: %v", out)
		}
		// Beyond the seed, the browser added a job and a task and read its stdout.
		if stdout, _ := out["stdout"].(string); !strings.Contains(stdout, "hello from the portal") {
			t.Errorf("the task page showed stdout %q", stdout)
		}
		if msg, _ := out["roleAssignmentAlert"].(string); !strings.HasPrefix(msg, "AuthorizationFailed: ") ||
			!strings.Contains(msg, "Microsoft.Authorization/roleAssignments/write") {
			t.Errorf("adding a role assignment as a Contributor showed %q", msg)
		}
		if task, err := bc.GetTask(c, "portal-browser-job", "hello", nil); err != nil || task.State == nil || *task.State != azbatch.TaskStateCompleted {
			t.Errorf("the browser's task: %+v %v", task, err)
		}
		pool, err := bc.GetPool(c, "portal-pool", nil)
		if err != nil {
			t.Fatalf("GetPool: %v", err)
		}
		if pool.Identity == nil || len(pool.Identity.UserAssignedIdentities) != 1 ||
			!strings.EqualFold(deref(pool.Identity.UserAssignedIdentities[0].ResourceID), *mi.ID) {
			t.Fatalf("pool identity %+v, want %s", pool.Identity, *mi.ID)
		}
		e.waitIdleNode(t, c, bc, "portal-pool")
		if _, err := bc.CreateJob(c, azbatch.CreateJobContent{ID: to.Ptr("portal-job"), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr("portal-pool")}}, nil); err != nil {
			t.Fatalf("CreateJob: %v", err)
		}
		answer := e.runIMDS(t, c, bc, "portal-job", "token", *mi.Properties.ClientID)
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if err := jsonUnmarshal([]byte(answer), &tok); err != nil || tok.AccessToken == "" {
			t.Fatalf("IMDS answered %s", answer)
		}
		claims := e.verify(t, c, tok.AccessToken, "https://storage.azure.com/")
		if !strings.EqualFold(claimString(claims, "xms_mirid"), *mi.ID) || claims["oid"] != *mi.Properties.PrincipalID {
			t.Fatalf("the task's token names %v, not the identity %s", claims, *mi.ID)
		}

		// A second identity on the pool does not reach its node: the pool
		// page shows the warning.
		second, err := ids.CreateOrUpdate(c, idRG, "second-identity", armmsi.Identity{Location: to.Ptr(e.EP.Location)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		e.node("poolupdate.js", map[string]any{"resourceGroup": batchRG, "account": account, "pool": "portal-pool",
			"patch": map[string]any{"identity": map[string]any{"type": "UserAssigned", "userAssignedIdentities": map[string]any{
				*mi.ID: map[string]any{}, *second.ID: map[string]any{}}}}}, nil)
		var warn map[string]any
		testenv.RunNodeJSON(c, t, testenv.NodeRun{Script: "portal/poolwarning.mjs", Modules: []string{"playwright-core"}, Input: map[string]any{
			"portal": e.EP.Portal, "username": alice.upn, "password": alice.password, "pool": "portal-pool", "artifacts": artifacts, "prefix": "create",
			"accountId": sub + "/resourceGroups/" + batchRG + "/providers/Microsoft.Batch/batchAccounts/" + account}}, &warn)
		if w, _ := warn["warning"].(string); !strings.Contains(w, "zero") {
			t.Errorf("the pool page's warning: %q", w)
		}
	})
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func claimString(claims map[string]any, k string) string { s, _ := claims[k].(string); return s }
