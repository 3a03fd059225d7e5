package batch

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/errwire"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// oldAccountJSON is an account row's body as the previous release wrote it
// (json.Marshal of the tagged batch.Account).
const oldAccountJSON = `{"id":"/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.Batch/batchAccounts/acct9","name":"acct9",` +
	`"location":"eastus","tenantId":"tenant-1","subscriptionId":"sub1","resourceGroup":"rg1","endpoint":"127.0.0.1:4567",` +
	`"keys":["a2V5MQ==","a2V5Mg=="],"allowedAuthenticationModes":["SharedKey","AAD"],"poolAllocationMode":"BatchService",` +
	`"publicNetworkAccess":"Enabled","autoStorage":{"storageAccountId":"/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.Storage/storageAccounts/sa1",` +
	`"authenticationMode":"StorageKeys","nodeIdentityReference":{"resourceId":"/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u1"},` +
	`"lastKeySync":"2026-11-29T18:00:00Z"},"identity":{"type":"UserAssigned","userAssignedIdentities":[{"resourceId":"/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u1",` +
	`"clientId":"c1","principalId":"p1","tenantId":"tenant-1"}]},"tags":{"env":"test"},"provisioningState":"Succeeded",` +
	`"createdAt":"2026-11-29T17:00:00Z","extra":{"encryption":{"keySource":"Microsoft.Batch"}}}`

func TestAccountDecodesPreviousRelease(t *testing.T) {
	t.Parallel()
	a, err := decodeAccount([]byte(oldAccountJSON))
	if err != nil {
		t.Fatal(err)
	}
	uami := "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u1"
	want := &cobalt.Account{ID: "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.Batch/batchAccounts/acct9", Name: "acct9",
		Location: "eastus", TenantID: "tenant-1", SubscriptionID: "sub1", ResourceGroup: "rg1", Endpoint: "127.0.0.1:4567",
		Keys: [2]string{"a2V5MQ==", "a2V5Mg=="}, AllowedAuthenticationModes: []string{"SharedKey", "AAD"}, PoolAllocationMode: "BatchService",
		PublicNetworkAccess: "Enabled",
		AutoStorage: &cobalt.AutoStorage{StorageAccountID: sa1ID, AuthenticationMode: "StorageKeys",
			NodeIdentityReference: &cobalt.IdentityReference{ResourceID: uami}, LastKeySync: time.Date(2026, 11, 29, 18, 0, 0, 0, time.UTC)},
		Identity: &cobalt.AccountIdentity{Type: "UserAssigned", UserAssigned: []cobalt.UserAssignedIdentity{
			{ResourceID: uami, ClientID: "c1", PrincipalID: "p1", TenantID: "tenant-1"}}},
		Tags: map[string]string{"env": "test"}, ProvisioningState: "Succeeded", CreatedAt: time.Date(2026, 11, 29, 17, 0, 0, 0, time.UTC),
		Extra: map[string][]byte{"encryption": []byte(`{"keySource":"Microsoft.Batch"}`)}}
	if !reflect.DeepEqual(a, want) {
		t.Fatalf("decoded\n%+v\nwant\n%+v", a, want)
	}
	// Encoding writes the same JSON back.
	b, err := encodeAccount(a)
	if err != nil {
		t.Fatal(err)
	}
	var got, old any
	_ = json.Unmarshal(b, &got)
	_ = json.Unmarshal([]byte(oldAccountJSON), &old)
	if !reflect.DeepEqual(got, old) {
		t.Fatalf("re-encoded\n%s\nwant\n%s", b, oldAccountJSON)
	}
}

func TestAccountRows(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()

	got, v1, err := e.svc.AccountRead(ctx, testAcctID)
	if err != nil || got.Name != "acct1" || v1 == 0 {
		t.Fatalf("AccountRead = %+v, %d, %v", got, v1, err)
	}
	if _, _, err := e.svc.AccountCreate(ctx, e.acct); !cobalt.IsCode(err, cobalt.EConflict) {
		t.Fatalf("second create: %v, want EConflict", err)
	}
	if a, err := e.svc.AccountGet(ctx, "ACCT1"); err != nil || a.ID != testAcctID {
		t.Fatalf("AccountGet = %+v, %v", a, err)
	}
	if a, err := e.svc.AccountFind(ctx, "nope"); a != nil || err != nil {
		t.Fatalf("AccountFind(nope) = %+v, %v", a, err)
	}
	up, v2, err := e.svc.AccountUpdate(ctx, testAcctID, func(a *cobalt.Account, v int64) error {
		if v != v1 {
			t.Errorf("update sees version %d, want %d", v, v1)
		}
		a.Endpoint = "127.0.0.1:2"
		return nil
	})
	if err != nil || up.Endpoint != "127.0.0.1:2" || v2 == v1 {
		t.Fatalf("AccountUpdate = %+v, %d, %v", up, v2, err)
	}
	other := &cobalt.Account{ID: "/subscriptions/sub2/resourceGroups/rg9/providers/Microsoft.Batch/batchAccounts/acct2", Name: "acct2"}
	if _, _, err := e.svc.AccountCreate(ctx, other); err != nil {
		t.Fatal(err)
	}
	list, next, err := e.svc.AccountList(ctx, AccountListParams{SubscriptionID: "SUB2", Page: store.Page{Limit: 10}})
	if err != nil || next != "" || len(list) != 1 || list[0].Name != "acct2" {
		t.Fatalf("AccountList(sub2) = %+v, %q, %v", list, next, err)
	}
	all, err := e.svc.AccountListAll(ctx)
	if err != nil || len(all) != 2 {
		t.Fatalf("AccountListAll = %d accounts, %v", len(all), err)
	}
	if err := e.svc.AccountDelete(ctx, other.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.AccountDelete(ctx, other.ID); err != nil {
		t.Fatalf("deleting an absent account: %v", err)
	}
	_, _, err = e.svc.AccountUpdate(ctx, other.ID, func(*cobalt.Account, int64) error { return nil })
	if !cobalt.IsCode(err, cobalt.ENotFound) || cobalt.ErrorReason(err) != errwire.ReasonAccountNotFound {
		t.Fatalf("update of a deleted account: %v", err)
	}
}
