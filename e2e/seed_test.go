package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/batch/azbatch"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/msi/armmsi"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/storage/armstorage"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/cobaltbatch/cobalt/internal/server"
	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/google/uuid"
)

const roleStorageBlobDataReader = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"

// seed is the state the walkthrough builds.
type seed struct {
	rg, identityID, principalID, clientID string
	storage, container, blobURL           string
	account, endpoint, pool               string
}

// TestSeedWalkthrough is the seed scenario end to end with the official
// clients: a user-assigned identity, a storage account with a blob, the
// identity given Storage Blob Data Reader, a Batch account and a pool that
// carries the identity with a start task whose resource file is fetched with
// it, then a task that asks the node's IMDS for a token with the documented
// curl and reads the blob with that token.
func TestSeedWalkthrough(t *testing.T) {
	for _, isolation := range []string{"netns", "process"} {
		t.Run(isolation, func(t *testing.T) {
			t.Parallel()
			testSeedWalkthrough(t, isolation)
		})
	}
}

func testSeedWalkthrough(t *testing.T, isolation string) {
	e := startWith(t, server.Options{Isolation: isolation})
	c := ctx(t)
	s := e.seedResources(t, c)

	// The task runs the documented curl inside the node, then reads the blob
	// with the token, as Batch's default non-admin user, trusting Cobalt's CA
	// through the bundle every node's tasks get (CURL_CA_BUNDLE).
	bc := e.batchClient(t, s.endpoint)
	e.waitIdleNode(t, c, bc, s.pool)
	if _, err := bc.CreateJob(c, azbatch.CreateJobContent{ID: to.Ptr("job1"), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr(s.pool)}}, nil); err != nil {
		t.Fatalf("CreateJob: %v", err)
	}
	// A netns node serves IMDS on 169.254.169.254 as Azure does; a process
	// node offers the App Service protocol every Azure SDK honours.
	script := fmt.Sprintf(`set -e
if [ -n "$IDENTITY_ENDPOINT" ]; then
  curl -sS "$IDENTITY_ENDPOINT?api-version=2019-08-01&resource=https://storage.azure.com/" -H "X-IDENTITY-HEADER: $IDENTITY_HEADER" > token.json
else
  curl -sS 'http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://storage.azure.com/' -H Metadata:true > token.json
fi
token=$(sed -e 's/.*"access_token":"\([^"]*\)".*/\1/' token.json)
blob=$(curl -sS --fail-with-body -H "Authorization: Bearer $token" -H 'x-ms-version: 2021-08-06' '%s')
echo "$blob"
cat "$AZ_BATCH_NODE_SHARED_DIR/from-start-task.txt"
echo
cat fetched/data/hello.txt`, s.blobURL)
	if _, err := bc.CreateTask(c, "job1", azbatch.CreateTaskContent{ID: to.Ptr("imds"), CommandLine: to.Ptr("/bin/sh -c " + shellQuote(script)),
		// The task's own resource file, fetched with the pool's identity before it runs.
		ResourceFiles: []azbatch.ResourceFile{{StorageContainerURL: to.Ptr(strings.TrimSuffix(s.blobURL, "/data/hello.txt")),
			BlobPrefix: to.Ptr("data/"), FilePath: to.Ptr("fetched"), IdentityReference: &azbatch.NodeIdentityReference{ResourceID: to.Ptr(s.identityID)}}}}, nil); err != nil {
		t.Fatalf("CreateTask: %v", err)
	}
	task := e.waitTask(t, c, bc, "job1", "imds")
	stdout := e.taskFile(t, c, bc, "job1", "imds", "stdout.txt")
	if task.ExecutionInfo == nil || task.ExecutionInfo.ExitCode == nil || *task.ExecutionInfo.ExitCode != 0 {
		t.Fatalf("task failed: %+v\nstdout:\n%s\nstderr:\n%s", task.ExecutionInfo, stdout, e.taskFile(t, c, bc, "job1", "imds", "stderr.txt"))
	}
	if !strings.Contains(stdout, "hello from blob storage") {
		t.Errorf("the task did not read the blob with the identity's token; stdout:\n%s", stdout)
	}
	if strings.Count(stdout, "hello from blob storage") != 2 {
		t.Errorf("the task's resource file, fetched with the identity, is not in its working directory; stdout:\n%s", stdout)
	}
	if !strings.Contains(stdout, "input for the start task") {
		t.Errorf("the start task's resource file did not reach the node before the task ran; stdout:\n%s", stdout)
	}

	// The IMDS response is Azure's, and its token verifies from the discovery document alone.
	var imds map[string]any
	if err := json.Unmarshal([]byte(e.taskFile(t, c, bc, "job1", "imds", "wd/token.json")), &imds); err != nil {
		t.Fatal(err)
	}
	fields := []string{"access_token", "expires_in", "expires_on", "not_before", "resource", "token_type", "client_id"}
	if isolation == "process" { // the App Service protocol's response
		fields = []string{"access_token", "expires_on", "resource", "token_type", "client_id"}
	}
	for _, k := range fields {
		if _, ok := imds[k].(string); !ok {
			t.Errorf("IMDS field %s = %#v, want a string", k, imds[k])
		}
	}
	claims := e.verify(t, c, imds["access_token"].(string), "https://storage.azure.com/")
	if claims["oid"] != s.principalID || claims["appid"] != s.clientID || claims["tid"] != e.EP.TenantID ||
		!strings.EqualFold(fmt.Sprint(claims["xms_mirid"]), s.identityID) || claims["ver"] != "1.0" {
		t.Errorf("token claims %v do not name the identity %s", claims, s.identityID)
	}
}

func startIsolated(t *testing.T) *env {
	t.Helper()
	return startWith(t, server.Options{Isolation: "netns"})
}

// seedResources creates everything up to a pool with one node that carries the identity.
func (e *env) seedResources(t *testing.T, c context.Context) seed {
	t.Helper()
	s := seed{rg: "seed-rg", storage: "seedstore" + strings.ToLower(uuid.NewString()[:6]), container: "inputs",
		account: "seedbatch" + strings.ToLower(uuid.NewString()[:6]), pool: "seedpool"}
	admin := e.Admin()
	rgs, err := armresources.NewResourceGroupsClient(e.EP.SubscriptionID, admin, e.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rgs.CreateOrUpdate(c, s.rg, armresources.ResourceGroup{Location: to.Ptr(e.EP.Location)}, nil); err != nil {
		t.Fatalf("create resource group: %v", err)
	}
	ids, err := armmsi.NewUserAssignedIdentitiesClient(e.EP.SubscriptionID, admin, e.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	id, err := ids.CreateOrUpdate(c, s.rg, "seed-identity", armmsi.Identity{Location: to.Ptr(e.EP.Location)}, nil)
	if err != nil {
		t.Fatalf("create identity: %v", err)
	}
	s.identityID, s.principalID, s.clientID = *id.ID, *id.Properties.PrincipalID, *id.Properties.ClientID

	// A storage account with a container, a blob for the task and one for the start task.
	sa, err := armstorage.NewAccountsClient(e.EP.SubscriptionID, admin, e.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	poller, err := sa.BeginCreate(c, s.rg, s.storage, armstorage.AccountCreateParameters{
		Location: to.Ptr(e.EP.Location), Kind: to.Ptr(armstorage.KindStorageV2),
		SKU: &armstorage.SKU{Name: to.Ptr(armstorage.SKUNameStandardLRS)}}, nil)
	if err != nil {
		t.Fatalf("create storage account: %v", err)
	}
	acct, err := poller.PollUntilDone(c, nil)
	if err != nil {
		t.Fatalf("create storage account: %v", err)
	}
	keys, err := sa.ListKeys(c, s.rg, s.storage, nil)
	if err != nil {
		t.Fatalf("list keys: %v", err)
	}
	blobEndpoint := *acct.Properties.PrimaryEndpoints.Blob
	shared, err := azblob.NewSharedKeyCredential(s.storage, *keys.Keys[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	bl, err := azblob.NewClientWithSharedKeyCredential(blobEndpoint, shared, &azblob.ClientOptions{ClientOptions: e.ClientOptions()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bl.CreateContainer(c, s.container, nil); err != nil {
		t.Fatalf("create container: %v", err)
	}
	if _, err := bl.UploadBuffer(c, s.container, "data/hello.txt", []byte("hello from blob storage"), nil); err != nil {
		t.Fatalf("upload: %v", err)
	}
	if _, err := bl.UploadBuffer(c, s.container, "start/input.txt", []byte("input for the start task"), nil); err != nil {
		t.Fatalf("upload: %v", err)
	}
	s.blobURL = strings.TrimSuffix(blobEndpoint, "/") + "/" + s.container + "/data/hello.txt"

	// The identity may read blobs in the account.
	ras, err := armauthorization.NewRoleAssignmentsClient(e.EP.SubscriptionID, admin, e.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ras.Create(c, *acct.ID, uuid.NewString(), armauthorization.RoleAssignmentCreateParameters{
		Properties: &armauthorization.RoleAssignmentProperties{
			RoleDefinitionID: to.Ptr("/subscriptions/" + e.EP.SubscriptionID + "/providers/Microsoft.Authorization/roleDefinitions/" + roleStorageBlobDataReader),
			PrincipalID:      to.Ptr(s.principalID), PrincipalType: to.Ptr(armauthorization.PrincipalTypeServicePrincipal)}}, nil); err != nil {
		t.Fatalf("role assignment: %v", err)
	}

	// The Batch account and the pool, through the management plane with @azure/arm-batch.
	var out struct {
		Account struct {
			AccountEndpoint string `json:"accountEndpoint"`
		} `json:"account"`
		Pool map[string]any `json:"pool"`
	}
	e.node("batchpool.js", map[string]any{
		"resourceGroup": s.rg, "account": s.account, "pool": s.pool, "location": e.EP.Location,
		"poolBody": map[string]any{
			"identity": map[string]any{"type": "UserAssigned", "userAssignedIdentities": map[string]any{s.identityID: map[string]any{}}},
			"vmSize":   "STANDARD_D2S_V3",
			"deploymentConfiguration": map[string]any{"virtualMachineConfiguration": map[string]any{
				"imageReference": map[string]any{"publisher": "canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "latest"},
				"nodeAgentSkuId": "batch.node.ubuntu 24.04"}},
			"scaleSettings": map[string]any{"fixedScale": map[string]any{"targetDedicatedNodes": 1}},
			"startTask": map[string]any{
				"commandLine":    `/bin/sh -c "install -m 0644 start/input.txt $AZ_BATCH_NODE_SHARED_DIR/from-start-task.txt"`,
				"waitForSuccess": true,
				"userIdentity":   map[string]any{"autoUser": map[string]any{"scope": "Pool", "elevationLevel": "Admin"}},
				"resourceFiles": []any{map[string]any{
					"storageContainerUrl": strings.TrimSuffix(blobEndpoint, "/") + "/" + s.container,
					"blobPrefix":          "start/",
					"identityReference":   map[string]any{"resourceId": s.identityID}}},
			},
		},
	}, &out)
	s.endpoint = out.Account.AccountEndpoint
	if s.endpoint == "" {
		t.Fatalf("the Batch account has no accountEndpoint: %+v", out)
	}
	return s
}

// emptyAccount creates resource group rg and in it, with @azure/arm-batch,
// the Batch account account with one empty pool ("empty"), and returns the
// account's endpoint.
func (e *env) emptyAccount(t testing.TB, c context.Context, rg, account string) string {
	t.Helper()
	rgs, err := armresources.NewResourceGroupsClient(e.EP.SubscriptionID, e.Admin(), e.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rgs.CreateOrUpdate(c, rg, armresources.ResourceGroup{Location: to.Ptr(e.EP.Location)}, nil); err != nil {
		t.Fatal(err)
	}
	var out struct {
		Account struct {
			AccountEndpoint string `json:"accountEndpoint"`
		} `json:"account"`
	}
	e.node("batchpool.js", map[string]any{"resourceGroup": rg, "account": account, "pool": "empty", "location": e.EP.Location,
		"poolBody": poolBody(0)}, &out)
	return out.Account.AccountEndpoint
}

func (e *env) batchClient(t testing.TB, endpoint string) *azbatch.Client {
	t.Helper()
	c, err := azbatch.NewClient("https://"+endpoint, e.Admin(), &azbatch.ClientOptions{ClientOptions: e.ClientOptions()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitIdleNode waits for the pool's node to be idle (its start task done).
func (e *env) waitIdleNode(t *testing.T, c context.Context, bc *azbatch.Client, pool string) azbatch.Node {
	t.Helper()
	var last string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		page, err := bc.NewListNodesPager(pool, nil).NextPage(c)
		if err != nil {
			t.Fatalf("list nodes: %v", err)
		}
		for _, n := range page.Value {
			last = fmt.Sprintf("%s %s", *n.ID, *n.State)
			if si := n.StartTaskInfo; si != nil && si.FailureInfo != nil {
				last += fmt.Sprintf(" start task failure: %s %s", deref(si.FailureInfo.Code), deref(si.FailureInfo.Message))
			}
			for _, ne := range n.Errors {
				last += fmt.Sprintf(" error: %s %s", deref(ne.Code), deref(ne.Message))
			}
			switch *n.State {
			case azbatch.NodeStateIdle:
				return n
			case azbatch.NodeStateStartTaskFailed, azbatch.NodeStateUnusable:
				t.Fatalf("node %s", last)
			}
		}
	}
	t.Fatalf("no idle node; last seen: %s", last)
	return azbatch.Node{}
}

func (e *env) waitTask(t *testing.T, c context.Context, bc *azbatch.Client, job, task string) azbatch.Task {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		r, err := bc.GetTask(c, job, task, nil)
		if err != nil {
			t.Fatalf("get task: %v", err)
		}
		if *r.State == azbatch.TaskStateCompleted {
			return r.Task
		}
	}
	t.Fatalf("task %s/%s did not complete", job, task)
	return azbatch.Task{}
}

func (e *env) taskFile(t *testing.T, c context.Context, bc *azbatch.Client, job, task, path string) string {
	t.Helper()
	r, err := bc.GetTaskFile(c, job, task, path, nil)
	if err != nil {
		var re *azcore.ResponseError
		if errors.As(err, &re) {
			return fmt.Sprintf("<%s: %d %s>", path, re.StatusCode, re.ErrorCode)
		}
		t.Fatalf("get task file %s: %v", path, err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return string(b)
}

// verify checks a token with go-oidc from the v1 discovery document alone and returns its claims.
func (e *env) verify(t *testing.T, c context.Context, raw, audience string) map[string]any {
	t.Helper()
	c = oidc.ClientContext(c, e.HTTP)
	p, err := oidc.NewProvider(c, e.EP.AuthorityHost+"/"+e.EP.TenantID+"/")
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	tok, err := p.Verifier(&oidc.Config{ClientID: audience}).Verify(c, raw)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
