package blobfs_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/storage/armstorage"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/cobaltbatch/cobalt/internal/blobfs"
	"github.com/cobaltbatch/cobalt/internal/sdkharness"
	"github.com/cobaltbatch/cobalt/internal/server"
	"github.com/cobaltbatch/cobalt/internal/testenv"
	"github.com/google/uuid"
)

func TestMain(m *testing.M) { testenv.LoopbackOnly(m) }

const roleBlobDataContributor = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"

// TestMountThroughOfficialClient: a container mounted with a bearer token
// source reads what the official azblob client wrote (whole, by range, by
// directory) and writes block blobs the client then reads; a principal
// without a data role cannot mount at all.
func TestMountThroughOfficialClient(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "FUSE mounts (root)")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		testenv.Unavailable(t, "/dev/fuse")
	}
	e := sdkharness.Start(t, server.Options{Isolation: "process"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	acctID, blobURL, client := storageAccount(t, ctx, e)
	if _, err := client.CreateContainer(ctx, "data", nil); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("0123456789"), 300_000) // 3 MB, more than one FUSE read
	for name, body := range map[string][]byte{"hello.txt": []byte("hello from blob"), "dir/sub/deep.txt": []byte("deep"), "dir/big.bin": big} {
		if _, err := client.UploadBuffer(ctx, "data", name, body, nil); err != nil {
			t.Fatal(err)
		}
	}
	token := func(ctx context.Context) (string, error) {
		tok, err := e.Admin().GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://storage.azure.com/.default"}})
		return tok.Token, err
	}
	cfg := blobfs.Config{ContainerURL: blobURL + "data", Token: token, HTTPClient: e.HTTP, TempDir: t.TempDir()}

	// The admin is Owner of the subscription, which holds no data action.
	if _, err := blobfs.Mount(ctx, t.TempDir(), cfg); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("mount without a data role: %v, want 403", err)
	}
	assign(t, ctx, e, acctID, roleBlobDataContributor)
	var srv interface{ Unmount() error }
	dir := t.TempDir()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) { // RBAC caches
		s, err := blobfs.Mount(ctx, dir, cfg)
		if err == nil {
			srv = s
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mount: %v", err)
		}
	}
	t.Cleanup(func() { _ = srv.Unmount() })

	if got := readFile(t, filepath.Join(dir, "hello.txt")); got != "hello from blob" {
		t.Errorf("hello.txt = %q", got)
	}
	if got := readFile(t, filepath.Join(dir, "dir", "sub", "deep.txt")); got != "deep" {
		t.Errorf("dir/sub/deep.txt = %q", got)
	}
	if got := readFile(t, filepath.Join(dir, "dir", "big.bin")); got != string(big) {
		t.Errorf("dir/big.bin: %d bytes, want %d", len(got), len(big))
	}
	f, err := os.Open(filepath.Join(dir, "dir", "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	part := make([]byte, 10)
	if _, err := f.ReadAt(part, 2_000_005); err != nil || string(part) != "5678901234" {
		t.Errorf("range read: %q %v", part, err)
	}
	f.Close()
	names := func(p string) []string {
		es, err := os.ReadDir(p)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range es {
			out = append(out, e.Name())
		}
		return out
	}
	if got := names(dir); !slices.Equal(got, []string{"dir", "hello.txt"}) {
		t.Errorf("ls / = %q", got)
	}
	if st, err := os.Stat(filepath.Join(dir, "dir", "big.bin")); err != nil || st.Size() != int64(len(big)) {
		t.Errorf("stat big.bin: %v %v", st, err)
	}

	// Writes become block blobs when closed.
	if err := os.MkdirAll(filepath.Join(dir, "out", "nested"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "out", "nested", "result.txt"), []byte("written through the mount"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := download(t, ctx, client, "out/nested/result.txt"); got != "written through the mount" {
		t.Errorf("the SDK reads %q", got)
	}
	// Appending rewrites the blob with the whole content.
	af, err := os.OpenFile(filepath.Join(dir, "hello.txt"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := af.WriteString(", appended"); err != nil {
		t.Fatal(err)
	}
	if err := af.Close(); err != nil {
		t.Fatalf("close (upload): %v", err)
	}
	if got := download(t, ctx, client, "hello.txt"); got != "hello from blob, appended" {
		t.Errorf("after append the SDK reads %q", got)
	}
	if err := os.Remove(filepath.Join(dir, "out", "nested", "result.txt")); err != nil {
		t.Fatal(err)
	}
	if _, err := client.ServiceClient().NewContainerClient("data").NewBlobClient("out/nested/result.txt").GetProperties(ctx, nil); err == nil {
		t.Error("unlink left the blob")
	}
	if _, err := os.Stat(filepath.Join(dir, "nothing-here")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat of a missing name: %v", err)
	}
	if err := os.Remove(filepath.Join(dir, "dir")); !errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, syscall.EISDIR) {
		t.Errorf("rmdir of a non-empty directory: %v", err)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return string(b)
}

func download(t *testing.T, ctx context.Context, c *azblob.Client, name string) string {
	t.Helper()
	r, err := c.DownloadStream(ctx, "data", name, nil)
	if err != nil {
		t.Fatalf("download %s: %v", name, err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return string(b)
}

// storageAccount creates a storage account and returns its ID, blob
// endpoint and a SharedKey client for it.
func storageAccount(t *testing.T, ctx context.Context, e *sdkharness.Env) (string, string, *azblob.Client) {
	t.Helper()
	rgs, err := armresources.NewResourceGroupsClient(e.EP.SubscriptionID, e.Admin(), e.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rgs.CreateOrUpdate(ctx, "rg", armresources.ResourceGroup{Location: to.Ptr(e.EP.Location)}, nil); err != nil {
		t.Fatal(err)
	}
	sa, err := armstorage.NewAccountsClient(e.EP.SubscriptionID, e.Admin(), e.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	poller, err := sa.BeginCreate(ctx, "rg", "fsstore", armstorage.AccountCreateParameters{Location: to.Ptr(e.EP.Location),
		Kind: to.Ptr(armstorage.KindStorageV2), SKU: &armstorage.SKU{Name: to.Ptr(armstorage.SKUNameStandardLRS)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	acct, err := poller.PollUntilDone(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := sa.ListKeys(ctx, "rg", "fsstore", nil)
	if err != nil {
		t.Fatal(err)
	}
	cred, _ := azblob.NewSharedKeyCredential("fsstore", *keys.Keys[0].Value)
	c, err := azblob.NewClientWithSharedKeyCredential(*acct.Properties.PrimaryEndpoints.Blob, cred, &azblob.ClientOptions{ClientOptions: e.ClientOptions()})
	if err != nil {
		t.Fatal(err)
	}
	return *acct.ID, *acct.Properties.PrimaryEndpoints.Blob, c
}

// assign gives the admin a role on the account.
func assign(t *testing.T, ctx context.Context, e *sdkharness.Env, scope, role string) {
	t.Helper()
	tok, err := e.Admin().GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://storage.azure.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok.Token, ".")[1])
	var claims struct {
		OID string `json:"oid"`
	}
	_ = json.Unmarshal(payload, &claims)
	ras, err := armauthorization.NewRoleAssignmentsClient(e.EP.SubscriptionID, e.Admin(), e.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ras.Create(ctx, scope, uuid.NewString(), armauthorization.RoleAssignmentCreateParameters{
		Properties: &armauthorization.RoleAssignmentProperties{
			RoleDefinitionID: to.Ptr("/providers/Microsoft.Authorization/roleDefinitions/" + role),
			PrincipalID:      to.Ptr(claims.OID), PrincipalType: to.Ptr(armauthorization.PrincipalTypeServicePrincipal)}}, nil); err != nil {
		t.Fatal(err)
	}
}
