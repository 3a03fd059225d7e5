package batch

import (
	"context"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/errwire"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// storageAccounts is a storage directory with one account, "sa1".
type storageAccounts struct{ noSharedKey bool }

func (a storageAccounts) LookupStorageAccount(_ context.Context, name string) (cobalt.StorageAccount, error) {
	if name != "sa1" {
		return cobalt.StorageAccount{}, cobalt.Errorf(cobalt.ENotFound, "no storage account %s", name)
	}
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	id, _ := cobalt.ParseResourceID("/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.Storage/storageAccounts/sa1")
	return cobalt.StorageAccount{ID: id, Keys: [2]string{key, key}, SharedKeyAccess: !a.noSharedKey}, nil
}

const sa1ID = "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.Storage/storageAccounts/sa1"

func TestAutoStorageContainerURL(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.StorageAccounts = storageAccounts{}; c.BlobEndpoint = "https://127.0.0.1:9/" })
	ctx := context.Background()

	// Without auto-storage: a 404 naming the missing configuration.
	_, err := e.svc.AutoStorageContainerURL(ctx, testAcctID, "in")
	if !cobalt.IsCode(err, cobalt.ENotFound) || cobalt.ErrorReason(err) != errwire.ReasonAutoStorageNotConfigured {
		t.Fatalf("without auto-storage: %v", err)
	}

	linked := &cobalt.Account{ID: "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.Batch/batchAccounts/acct2", Name: "acct2",
		TenantID: testTenant, AutoStorage: &cobalt.AutoStorage{StorageAccountID: sa1ID}}
	e.putAccount(linked)
	u, err := e.svc.AutoStorageContainerURL(ctx, strings.ToUpper(linked.ID), "in")
	if err != nil {
		t.Fatal(err)
	}
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	q := pu.Query()
	if pu.Scheme != "https" || pu.Host != "127.0.0.1:9" || pu.Path != "/sa1/in" || q.Get("sig") == "" || q.Get("sp") != "rl" || q.Get("sr") != "c" {
		t.Fatalf("URL %s: want a read/list container SAS on https://127.0.0.1:9/sa1/in", u)
	}

	// An auto-storage account that refuses key-based access cannot back a
	// key-signed SAS: the resolver says so instead of handing out a URL the
	// blob service would refuse.
	e.svc.cfg.StorageAccounts = storageAccounts{noSharedKey: true}
	if _, err := e.svc.AutoStorageContainerURL(ctx, linked.ID, "in"); !cobalt.IsCode(err, cobalt.EForbidden) ||
		cobalt.ErrorReason(err) != "KeyBasedAuthenticationNotPermitted" {
		t.Fatalf("shared key access disabled: %v", err)
	}
}

// TestStartTaskAutoStorageResolvedAtRegistration: a start-task resource file
// naming an auto-storage container reaches the node with a SAS made when it
// registers; the node record keeps no SAS.
func TestStartTaskAutoStorageResolvedAtRegistration(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.StorageAccounts = storageAccounts{}; c.BlobEndpoint = "https://127.0.0.1:9" })
	ctx := context.Background()
	if _, _, err := e.svc.AccountUpdate(ctx, e.acct.ID, func(a *cobalt.Account, _ int64) error {
		a.AutoStorage = &cobalt.AutoStorage{StorageAccountID: sa1ID}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	spec := armPool(1)
	spec.Pool.StartTask = &cobalt.StartTask{CommandLine: "/bin/true", WaitForSuccess: true, ResourceFiles: []cobalt.ResourceFile{
		{HTTPURL: "https://127.0.0.1:9/x", FilePath: "x"},
		{AutoStorageContainerName: "in", BlobPrefix: "data/"},
	}}
	spec.Set(FStartTask)
	e.put("p", spec)
	e.settle("p")
	n := e.nodes_("p")[0]
	if stored := n.Config.StartTask.ResourceFiles[1].StorageContainerURL; stored != "" {
		t.Fatalf("the node record keeps %q; want no URL until registration", stored)
	}
	cfg, err := e.svc.NodeRegister(ctx, n, nodeproto.RegisterRequest{NodeID: n.ID})
	if err != nil {
		t.Fatal(err)
	}
	rfs := cfg.StartTask.ResourceFiles
	if len(rfs) != 2 || rfs[0].HTTPURL != "https://127.0.0.1:9/x" || rfs[0].StorageContainerURL != "" {
		t.Fatalf("resource files %+v", rfs)
	}
	if u := rfs[1].StorageContainerURL; !strings.HasPrefix(u, "https://127.0.0.1:9/sa1/in?") || !strings.Contains(u, "sig=") || rfs[1].BlobPrefix != "data/" || rfs[1].IdentityResourceID != "" {
		t.Fatalf("auto-storage file %+v: want a SAS URL and no identity", rfs[1])
	}
	again, err := e.svc.NodeGet(ctx, e.acct.Key(), "p", n.ID)
	if err != nil {
		t.Fatal(err)
	}
	if u := again.Config.StartTask.ResourceFiles[1].StorageContainerURL; u != "" {
		t.Fatalf("registration stored %q in the node record", u)
	}
}
