package batchprovider

import (
	"testing"

	"github.com/cobaltbatch/cobalt/internal/rbac"
)

// TestAutoStorageNeedsListKeys checks that linking a storage account as
// auto-storage requires Microsoft.Storage/storageAccounts/listkeys/action on
// it: the link hands the Batch account that storage account's keys.
func TestAutoStorageNeedsListKeys(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	f.setup()
	storeID := rgPath + "/providers/Microsoft.Storage/storageAccounts/store1"
	f.mustOK(f.do(adminOID, "PUT", storeID+"?api-version=2023-01-01",
		map[string]any{"location": "eastus", "sku": map[string]any{"name": "Standard_LRS"}, "kind": "StorageV2"}), 200, 201, 202)
	link := map[string]any{"properties": map[string]any{"autoStorage": map[string]any{"storageAccountId": storeID}}}
	f.assign(acctPath, rbac.RoleContributor, contribOID)
	for _, c := range []struct {
		name string
		role string // granted on the storage account before the attempt ("" for none)
	}{{"no role on the storage account", ""}, {"Reader on the storage account", rbac.RoleReader}} {
		if c.role != "" {
			f.assign(storeID, c.role, contribOID)
		}
		r := f.do(contribOID, "PATCH", acctPath, link)
		if r.Code != 403 || r.err(t).Code != "LinkedAuthorizationFailed" {
			t.Fatalf("%s: %d %s, want 403 LinkedAuthorizationFailed", c.name, r.Code, r.Body)
		}
	}
	// A nonexistent storage account is not revealed to a caller without the right.
	r := f.do(contribOID, "PATCH", acctPath, map[string]any{"properties": map[string]any{"autoStorage": map[string]any{
		"storageAccountId": rgPath + "/providers/Microsoft.Storage/storageAccounts/nope"}}})
	if r.Code != 403 || r.err(t).Code != "LinkedAuthorizationFailed" {
		t.Fatalf("nonexistent storage account: %d %s", r.Code, r.Body)
	}
	f.assign(storeID, rbac.RoleContributor, contribOID)
	f.mustOK(f.do(contribOID, "PATCH", acctPath, link), 200)
}
