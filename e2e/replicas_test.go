package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/batch/azbatch"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/storage/armstorage"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/cobaltbatch/cobalt/internal/testenv"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// replicaDatabase creates a database of its own for one test on the
// PostgreSQL of TEST_POSTGRES_URL, reached through its Unix socket (the
// tests run in a loopback-only network namespace, and the file system is
// shared), and returns its URL; it is dropped at cleanup.
func replicaDatabase(t *testing.T) string {
	t.Helper()
	u, err := url.Parse(testenv.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	sock := "/var/run/postgresql"
	if _, err := os.Stat(filepath.Join(sock, ".s.PGSQL."+port)); err != nil {
		testenv.Unavailable(t, "no PostgreSQL Unix socket in "+sock+" (the tests' network namespace cannot reach TCP 127.0.0.1)")
	}
	q := u.Query()
	q.Set("host", sock)
	q.Set("port", port)
	u.Host, u.RawQuery = "", q.Encode()
	admin := u.String()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "cobalt_replicas_" + hex.EncodeToString(b)
	c := context.Background()
	conn, err := pgx.Connect(c, admin)
	if err != nil {
		t.Fatalf("connect to PostgreSQL: %v", err)
	}
	defer conn.Close(c)
	if _, err := conn.Exec(c, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), admin)
		if err == nil {
			_, _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			conn.Close(context.Background())
		}
	})
	u.Path = "/" + name
	return u.String()
}

// TestReplicasServeOneInstallation runs two `cobalt up` processes on one
// PostgreSQL, the second joined with the first's bundle: both publish the
// same tenant, subscription, admin and CA; what is made through one is used
// through the other with the official SDKs (ARM, blob with keys and with
// tokens, tokens of one replica on the other); a role assignment deleted on
// one is enforced on the other within 2 s; and after the first is SIGKILLed
// the second serves the Batch account on its stored endpoint and finishes
// the account deletion the first had started.
func TestReplicasServeOneInstallation(t *testing.T) {
	t.Parallel()
	dsn := replicaDatabase(t)
	bin := buildCobalt(t)
	content := t.TempDir()
	dirA, dirB := traversableTempDir(t), traversableTempDir(t)
	logA, logB := filepath.Join(t.TempDir(), "a.log"), filepath.Join(t.TempDir(), "b.log")
	common := []string{"--store", dsn, "--content-dir", content, "--replica-poll", "300ms"}
	a := startCobalt(t, bin, dirA, logA, common...)

	// A fresh directory on a store that holds an installation is refused.
	out, err := exec.Command(bin, append([]string{"up", "--data", t.TempDir(), "--port-base", "0", "--isolation", "process"}, common...)...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--join-replica") {
		t.Fatalf("an unjoined replica started (or failed otherwise): %v\n%s", err, out)
	}
	bundle := filepath.Join(t.TempDir(), "bundle.json")
	if out, err := exec.Command(bin, "--data", dirA, "replica", "export", "--out", bundle).CombinedOutput(); err != nil {
		t.Fatalf("replica export: %v\n%s", err, out)
	}
	if st, err := os.Stat(bundle); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("bundle: %v, mode %v", err, st.Mode())
	}
	startCobalt(t, bin, dirB, logB, append(common, "--join-replica", bundle)...)

	eA, eB := clientEnv(t, dirA), clientEnv(t, dirB)
	if eA.EP.TenantID != eB.EP.TenantID || eA.EP.SubscriptionID != eB.EP.SubscriptionID ||
		eA.EP.AdminClientID != eB.EP.AdminClientID || eA.EP.AdminClientSecret != eB.EP.AdminClientSecret {
		t.Fatalf("the replicas publish different installations:\n%+v\n%+v", eA.EP, eB.EP)
	}
	caA, _ := os.ReadFile(eA.EP.CACertFile)
	caB, _ := os.ReadFile(eB.EP.CACertFile)
	if len(caA) == 0 || !bytes.Equal(caA, caB) {
		t.Fatal("the replicas have different CAs")
	}
	c := ctx(t)

	// A token from A's login service is good on B's management plane.
	tokA, err := eA.Admin().GetToken(c, policy.TokenRequestOptions{Scopes: []string{"https://management.azure.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	if st := armGet(t, c, eB, eB.EP.ResourceManager+"/subscriptions/"+eB.EP.SubscriptionID+"/resourcegroups?api-version=2021-04-01", tokA.Token); st != http.StatusOK {
		t.Fatalf("A's token on B's ARM: %d", st)
	}

	// A storage account and a blob made through A, read through B.
	rg := "repl-rg"
	rgs, _ := armresources.NewResourceGroupsClient(eA.EP.SubscriptionID, eA.Admin(), eA.ARMOptions())
	if _, err := rgs.CreateOrUpdate(c, rg, armresources.ResourceGroup{Location: to.Ptr(eA.EP.Location)}, nil); err != nil {
		t.Fatal(err)
	}
	storage := "replstore" + strings.ToLower(uuid.NewString()[:6])
	saA, _ := armstorage.NewAccountsClient(eA.EP.SubscriptionID, eA.Admin(), eA.ARMOptions())
	poller, err := saA.BeginCreate(c, rg, storage, armstorage.AccountCreateParameters{Location: to.Ptr(eA.EP.Location),
		Kind: to.Ptr(armstorage.KindStorageV2), SKU: &armstorage.SKU{Name: to.Ptr(armstorage.SKUNameStandardLRS)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	acctA, err := poller.PollUntilDone(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	keysA, err := saA.ListKeys(c, rg, storage, nil)
	if err != nil {
		t.Fatal(err)
	}
	sharedA, _ := azblob.NewSharedKeyCredential(storage, *keysA.Keys[0].Value)
	blA, err := azblob.NewClientWithSharedKeyCredential(*acctA.Properties.PrimaryEndpoints.Blob, sharedA, &azblob.ClientOptions{ClientOptions: eA.ClientOptions()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := blA.CreateContainer(c, "data", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := blA.UploadBuffer(c, "data", "hello.txt", []byte("written through replica A"), nil); err != nil {
		t.Fatal(err)
	}
	saB, _ := armstorage.NewAccountsClient(eB.EP.SubscriptionID, eB.Admin(), eB.ARMOptions())
	acctB, err := saB.GetProperties(c, rg, storage, nil)
	if err != nil {
		t.Fatalf("the storage account through B: %v", err)
	}
	keysB, err := saB.ListKeys(c, rg, storage, nil)
	if err != nil || *keysB.Keys[0].Value != *keysA.Keys[0].Value {
		t.Fatalf("keys through B: %v", err)
	}
	sharedB, _ := azblob.NewSharedKeyCredential(storage, *keysB.Keys[0].Value)
	blB, err := azblob.NewClientWithSharedKeyCredential(*acctB.Properties.PrimaryEndpoints.Blob, sharedB, &azblob.ClientOptions{ClientOptions: eB.ClientOptions()})
	if err != nil {
		t.Fatal(err)
	}
	if got := download(t, c, blB, "data", "hello.txt"); got != "written through replica A" {
		t.Fatalf("blob through B: %q", got)
	}

	// A role assignment made through A lets B's tokens read blobs through
	// B; deleted through A, it is enforced on B within 2 s.
	rasA, _ := armauthorization.NewRoleAssignmentsClient(eA.EP.SubscriptionID, eA.Admin(), eA.ARMOptions())
	raName := uuid.NewString()
	if _, err := rasA.Create(c, *acctA.ID, raName, armauthorization.RoleAssignmentCreateParameters{
		Properties: &armauthorization.RoleAssignmentProperties{
			RoleDefinitionID: to.Ptr("/subscriptions/" + eA.EP.SubscriptionID + "/providers/Microsoft.Authorization/roleDefinitions/" + roleStorageBlobDataReader),
			PrincipalID:      to.Ptr(eA.adminObjectID(t, c)), PrincipalType: to.Ptr(armauthorization.PrincipalTypeServicePrincipal)}}, nil); err != nil {
		t.Fatal(err)
	}
	tokB, err := azblob.NewClient(*acctB.Properties.PrimaryEndpoints.Blob, eB.Admin(), &azblob.ClientOptions{ClientOptions: eB.ClientOptions()})
	if err != nil {
		t.Fatal(err)
	}
	if got := download(t, c, tokB, "data", "hello.txt"); got != "written through replica A" {
		t.Fatalf("blob through B with a token: %q", got)
	}
	if _, err := rasA.Delete(c, *acctA.ID, raName, nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	_, err = tokB.DownloadStream(c, "data", "hello.txt", nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden {
		t.Fatalf("2 s after the role assignment was deleted on A, B answered %v; want 403", err)
	}

	// A Batch account and pool made through A; B renders the same endpoint.
	endpoint := eA.plainPool(t, c, "replpool", 1, 2)
	resB, _ := armresources.NewClient(eB.EP.SubscriptionID, eB.Admin(), eB.ARMOptions())
	var accountID string
	pager := resB.NewListByResourceGroupPager("work-rg", nil)
	for pager.More() {
		page, err := pager.NextPage(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Value {
			if strings.EqualFold(*r.Type, "Microsoft.Batch/batchAccounts") {
				accountID = *r.ID
			}
		}
	}
	if accountID == "" {
		t.Fatal("B does not list the Batch account made through A")
	}
	got, err := resB.GetByID(c, accountID, "2024-07-01", nil)
	if err != nil {
		t.Fatal(err)
	}
	if ep, _ := got.Properties.(map[string]any)["accountEndpoint"].(string); ep != endpoint {
		t.Fatalf("B renders the account endpoint %q, A %q", ep, endpoint)
	}

	// A second account whose deletion A starts and does not live to finish.
	name2 := "repldel" + strings.ToLower(uuid.NewString()[:6])
	id2 := "/subscriptions/" + eA.EP.SubscriptionID + "/resourceGroups/" + rg + "/providers/Microsoft.Batch/batchAccounts/" + name2
	putA, err := resB.BeginCreateOrUpdateByID(c, id2, "2024-07-01", armresources.GenericResource{Location: to.Ptr(eA.EP.Location)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := putA.PollUntilDone(c, nil); err != nil {
		t.Fatal(err)
	}
	tokA, err = eA.Admin().GetToken(c, policy.TokenRequestOptions{Scopes: []string{"https://management.azure.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(c, http.MethodDelete, eA.EP.ResourceManager+id2+"?api-version=2024-07-01", nil)
	req.Header.Set("Authorization", "Bearer "+tokA.Token)
	resp, err := eA.ClientOptions().Transport.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusAccepted || !strings.HasPrefix(loc, eA.EP.ResourceManager) {
		t.Fatalf("DELETE through A: %d, Location %q", resp.StatusCode, loc)
	}
	a.kill(t)
	// The operation A started, asked of B, ends (B takes it over after
	// A's lease lapses and finishes it): it never stays in progress.
	opB := eB.EP.ResourceManager + strings.TrimPrefix(loc, eA.EP.ResourceManager)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		st := armGet(t, c, eB, opB, tokA.Token)
		if st == http.StatusOK || st == http.StatusNoContent {
			break
		}
		if st != http.StatusAccepted || time.Now().After(deadline) {
			t.Fatalf("the deletion A started, polled on B: %d\n%s", st, tail(logB))
		}
	}
	if _, err := resB.GetByID(c, id2, "2024-07-01", nil); !errors.As(err, &re) || re.StatusCode != http.StatusNotFound {
		t.Fatalf("the account A was deleting still exists: %v", err)
	}

	// B takes the account's stored port once A has let it go: the data
	// plane answers on the endpoint clients were given.
	bc := eB.batchClient(t, endpoint)
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := bc.GetPool(c, "replpool", nil)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("B does not serve the Batch account on %s: %v\n%s", endpoint, err, tail(logB))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := bc.CreateJob(c, azbatch.CreateJobContent{ID: to.Ptr("after"), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr("replpool")}}, nil); err != nil {
		t.Fatal(err)
	}
}

// armGet sends a GET with a bearer token and returns the status.
func armGet(t *testing.T, c context.Context, e *env, u, token string) int {
	t.Helper()
	req, _ := http.NewRequestWithContext(c, http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.ClientOptions().Transport.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
