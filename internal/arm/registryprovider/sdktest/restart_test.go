package sdktest

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerregistry/armcontainerregistry"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"

	"github.com/cobaltbatch/cobalt/internal/sdkharness"
	"github.com/cobaltbatch/cobalt/internal/server"
)

// TestRestartReopensRegistries: after a restart on the same data directory,
// each registry serves again on the port its loginServer names.
func TestRestartReopensRegistries(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for d := dir; d != filepath.Dir(d) && strings.HasPrefix(d, os.TempDir()+string(filepath.Separator)); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	h := sdkharness.Start(t, server.Options{DataDir: dir})
	groups, _ := armresources.NewResourceGroupsClient(h.EP.SubscriptionID, h.Admin(), h.ARMOptions())
	if _, err := groups.CreateOrUpdate(ctx, "rg", armresources.ResourceGroup{Location: to.Ptr("eastus")}, nil); err != nil {
		t.Fatal(err)
	}
	regs, _ := armcontainerregistry.NewRegistriesClient(h.EP.SubscriptionID, h.Admin(), h.ARMOptions())
	p, err := regs.BeginCreate(ctx, "rg", "restartreg", armcontainerregistry.Registry{
		Location: to.Ptr("eastus"), SKU: &armcontainerregistry.SKU{Name: to.Ptr(armcontainerregistry.SKUNameBasic)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	created, err := p.PollUntilDone(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := *created.Properties.LoginServer
	if err := h.Server.Close(); err != nil {
		t.Fatal(err)
	}

	h2 := sdkharness.Start(t, server.Options{DataDir: dir})
	regs2, _ := armcontainerregistry.NewRegistriesClient(h2.EP.SubscriptionID, h2.Admin(), h2.ARMOptions())
	got, err := regs2.Get(ctx, "rg", "restartreg", nil)
	if err != nil {
		t.Fatal(err)
	}
	after := *got.Properties.LoginServer
	if after != before {
		// Another process may have taken the port meanwhile; then the new one is recorded.
		t.Logf("the login server moved from %s to %s", before, after)
	}
	// The registry answers there: the anonymous challenge of /v2/.
	resp, err := h2.HTTP.Get("https://" + after + "/v2/")
	if err != nil {
		t.Fatalf("the registry does not serve on %s after the restart: %v", after, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("Www-Authenticate"), "Bearer realm=") {
		t.Fatalf("GET /v2/ after the restart: %d %v", resp.StatusCode, resp.Header)
	}
}
