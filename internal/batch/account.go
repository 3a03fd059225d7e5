package batch

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/errwire"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// AccountType is the lower-case resource type of Batch accounts in the ResourceStore.
const AccountType = "microsoft.batch/batchaccounts"

// The pool service owns the Batch account rows: the Microsoft.Batch
// provider and the data plane read and write them through the methods in
// this file, never through the store. An account is stored as an ARM
// resource whose body is accountRecord's JSON.

func accountNotFound(name string) error {
	return cobalt.Errorf(cobalt.ENotFound, "The Batch account '%s' does not exist.", name).WithReason(errwire.ReasonAccountNotFound)
}

// AccountGet returns the Batch account with the given name (case-insensitive),
// or ENotFound. Account names are unique in a Cobalt installation, as each
// account has its own endpoint.
func (s *Service) AccountGet(ctx context.Context, name string) (*cobalt.Account, error) {
	a, err := s.AccountFind(ctx, name)
	if err != nil {
		return nil, err
	}
	if a == nil {
		return nil, accountNotFound(name)
	}
	return a, nil
}

// AccountFind returns the Batch account with the given name
// (case-insensitive), or nil when there is none.
func (s *Service) AccountFind(ctx context.Context, name string) (*cobalt.Account, error) {
	page := store.Page{Limit: 500}
	for {
		rs, next, err := s.cfg.Store.ResourceList(ctx, store.ResourceListParams{Type: AccountType, Page: page})
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			id, err := cobalt.ParseResourceID(r.ID)
			if err != nil || !strings.EqualFold(id.Name(), name) {
				continue
			}
			return decodeAccountResource(r)
		}
		if next == "" {
			return nil, nil
		}
		page.Token = next
	}
}

// AccountByID returns the Batch account with the given ARM ID (any case),
// or ENotFound (reason AccountNotFound).
func (s *Service) AccountByID(ctx context.Context, id string) (*cobalt.Account, error) {
	a, _, err := s.AccountRead(ctx, id)
	return a, err
}

// AccountRead returns the Batch account with the given ARM ID (any case)
// and its row version (the ARM ETag), or ENotFound (reason AccountNotFound).
func (s *Service) AccountRead(ctx context.Context, id string) (*cobalt.Account, int64, error) {
	r, err := s.cfg.Store.ResourceGet(ctx, strings.ToLower(id))
	if err != nil {
		if cobalt.IsCode(err, cobalt.ENotFound) {
			return nil, 0, accountNotFound(id)
		}
		return nil, 0, err
	}
	if r.Type != AccountType {
		return nil, 0, accountNotFound(id)
	}
	a, err := decodeAccountResource(r)
	return a, r.Version, err
}

// AccountCreate stores a new account under a.ID and returns it with its
// version. EConflict when a row with the ID exists.
func (s *Service) AccountCreate(ctx context.Context, a *cobalt.Account) (*cobalt.Account, int64, error) {
	id, err := cobalt.ParseResourceID(a.ID)
	if err != nil {
		return nil, 0, err
	}
	body, err := encodeAccount(a)
	if err != nil {
		return nil, 0, err
	}
	r, err := s.cfg.Store.ResourceCreate(ctx, store.Resource{
		ID: id.String(), Key: id.Key(), Type: AccountType, ParentKey: id.Parent().Key(),
		SubscriptionID: strings.ToLower(id.SubscriptionID), ResourceGroup: strings.ToLower(id.ResourceGroup), Body: body,
	})
	if err != nil {
		return nil, 0, err
	}
	out, err := decodeAccountResource(r)
	return out, r.Version, err
}

// AccountUpdate applies fn to the stored account with the given ARM ID under
// compare-and-swap and returns the result with its new version. fn gets the
// row's current version (to check an If-Match) and may be called again
// when another writer wins. ENotFound (reason AccountNotFound) when absent;
// fn's error otherwise aborts the update.
func (s *Service) AccountUpdate(ctx context.Context, id string, fn func(a *cobalt.Account, version int64) error) (*cobalt.Account, int64, error) {
	var out *cobalt.Account
	r, err := s.cfg.Store.ResourceUpdate(ctx, strings.ToLower(id), func(r *store.Resource) error {
		if r.Type != AccountType {
			return accountNotFound(id)
		}
		a, err := decodeAccountResource(*r)
		if err != nil {
			return err
		}
		if err := fn(a, r.Version); err != nil {
			return err
		}
		out = a
		r.Body, err = encodeAccount(a)
		return err
	})
	if cobalt.IsCode(err, cobalt.ENotFound) && cobalt.ErrorReason(err) == "" {
		return nil, 0, accountNotFound(id)
	}
	if err != nil {
		return nil, 0, err
	}
	return out, r.Version, nil
}

// AccountDelete deletes the account row with the given ARM ID; deleting an
// absent account is not an error. The caller removes the account's pools
// first (DeleteAccountPools).
func (s *Service) AccountDelete(ctx context.Context, id string) error {
	if err := s.cfg.Store.ResourceDelete(ctx, strings.ToLower(id)); err != nil && !cobalt.IsCode(err, cobalt.ENotFound) {
		return err
	}
	return nil
}

// AccountListParams select Batch accounts: in one subscription, optionally
// one resource group of it, or below the resource with key WithinKey (a
// scope being deleted). Zero values select every account.
type AccountListParams struct {
	SubscriptionID string
	ResourceGroup  string
	WithinKey      string
	Page           store.Page
}

// AccountList returns a page of Batch accounts and the next page's token
// ("" after the last page).
func (s *Service) AccountList(ctx context.Context, p AccountListParams) ([]*cobalt.Account, string, error) {
	rs, next, err := s.cfg.Store.ResourceList(ctx, store.ResourceListParams{Type: AccountType,
		SubscriptionID: strings.ToLower(p.SubscriptionID), ResourceGroup: strings.ToLower(p.ResourceGroup), WithinKey: p.WithinKey, Page: p.Page})
	if err != nil {
		return nil, "", err
	}
	out := make([]*cobalt.Account, 0, len(rs))
	for _, r := range rs {
		a, err := decodeAccountResource(r)
		if err != nil {
			return nil, "", err
		}
		out = append(out, a)
	}
	return out, next, nil
}

// AccountListAll returns every Batch account of the installation.
func (s *Service) AccountListAll(ctx context.Context) ([]*cobalt.Account, error) {
	var all []*cobalt.Account
	p := AccountListParams{Page: store.Page{Limit: 500}}
	for {
		as, next, err := s.AccountList(ctx, p)
		if err != nil {
			return nil, err
		}
		all = append(all, as...)
		if next == "" {
			return all, nil
		}
		p.Page.Token = next
	}
}

// accountRecord is the persisted form of an account: the JSON body of its
// resource row, as every release has written it.
type accountRecord struct {
	ID                         string                     `json:"id"`
	Name                       string                     `json:"name"`
	Location                   string                     `json:"location"`
	TenantID                   string                     `json:"tenantId"`
	SubscriptionID             string                     `json:"subscriptionId"`
	ResourceGroup              string                     `json:"resourceGroup"`
	Endpoint                   string                     `json:"endpoint"`
	Keys                       [2]string                  `json:"keys"`
	AllowedAuthenticationModes []string                   `json:"allowedAuthenticationModes,omitempty"`
	PoolAllocationMode         string                     `json:"poolAllocationMode,omitempty"`
	PublicNetworkAccess        string                     `json:"publicNetworkAccess,omitempty"`
	AutoStorage                *autoStorageRecord         `json:"autoStorage,omitempty"`
	Identity                   *accountIdentityRecord     `json:"identity,omitempty"`
	Tags                       map[string]string          `json:"tags,omitempty"`
	ProvisioningState          string                     `json:"provisioningState"`
	CreatedAt                  time.Time                  `json:"createdAt"`
	Extra                      map[string]json.RawMessage `json:"extra,omitempty"`
}

type autoStorageRecord struct {
	StorageAccountID      string                   `json:"storageAccountId"`
	AuthenticationMode    string                   `json:"authenticationMode"`
	NodeIdentityReference *identityReferenceRecord `json:"nodeIdentityReference,omitempty"`
	LastKeySync           time.Time                `json:"lastKeySync"`
}

type accountIdentityRecord struct {
	Type         string           `json:"type"`
	PrincipalID  string           `json:"principalId,omitempty"`
	TenantID     string           `json:"tenantId,omitempty"`
	UserAssigned []identityRecord `json:"userAssignedIdentities,omitempty"`
}

// decodeAccountResource decodes an account row; the account's ID is the
// row's.
func decodeAccountResource(r store.Resource) (*cobalt.Account, error) {
	a, err := decodeAccount(r.Body)
	if err != nil {
		return nil, err
	}
	if id, err := cobalt.ParseResourceID(r.ID); err == nil {
		a.ID = id.String()
	} else if r.ID != "" {
		a.ID = r.ID
	}
	return a, nil
}

func decodeAccount(body []byte) (*cobalt.Account, error) {
	var rec accountRecord
	if err := json.Unmarshal(body, &rec); err != nil {
		return nil, fmt.Errorf("decode batch account: %w", err)
	}
	a := &cobalt.Account{ID: rec.ID, Name: rec.Name, Location: rec.Location, TenantID: rec.TenantID, SubscriptionID: rec.SubscriptionID,
		ResourceGroup: rec.ResourceGroup, Endpoint: rec.Endpoint, Keys: rec.Keys, AllowedAuthenticationModes: rec.AllowedAuthenticationModes,
		PoolAllocationMode: rec.PoolAllocationMode, PublicNetworkAccess: rec.PublicNetworkAccess, Tags: rec.Tags,
		ProvisioningState: rec.ProvisioningState, CreatedAt: rec.CreatedAt}
	if as := rec.AutoStorage; as != nil {
		a.AutoStorage = &cobalt.AutoStorage{StorageAccountID: as.StorageAccountID, AuthenticationMode: as.AuthenticationMode, LastKeySync: as.LastKeySync}
		if as.NodeIdentityReference != nil {
			a.AutoStorage.NodeIdentityReference = &cobalt.IdentityReference{ResourceID: as.NodeIdentityReference.ResourceID}
		}
	}
	if id := rec.Identity; id != nil {
		a.Identity = &cobalt.AccountIdentity{Type: id.Type, PrincipalID: id.PrincipalID, TenantID: id.TenantID}
		for _, u := range id.UserAssigned {
			a.Identity.UserAssigned = append(a.Identity.UserAssigned, cobalt.UserAssignedIdentity(u))
		}
	}
	for k, v := range rec.Extra {
		if a.Extra == nil {
			a.Extra = map[string][]byte{}
		}
		a.Extra[k] = v
	}
	return a, nil
}

func encodeAccount(a *cobalt.Account) ([]byte, error) {
	rec := accountRecord{ID: a.ID, Name: a.Name, Location: a.Location, TenantID: a.TenantID, SubscriptionID: a.SubscriptionID,
		ResourceGroup: a.ResourceGroup, Endpoint: a.Endpoint, Keys: a.Keys, AllowedAuthenticationModes: a.AllowedAuthenticationModes,
		PoolAllocationMode: a.PoolAllocationMode, PublicNetworkAccess: a.PublicNetworkAccess, Tags: a.Tags,
		ProvisioningState: a.ProvisioningState, CreatedAt: a.CreatedAt}
	if as := a.AutoStorage; as != nil {
		rec.AutoStorage = &autoStorageRecord{StorageAccountID: as.StorageAccountID, AuthenticationMode: as.AuthenticationMode, LastKeySync: as.LastKeySync}
		if as.NodeIdentityReference != nil {
			rec.AutoStorage.NodeIdentityReference = &identityReferenceRecord{ResourceID: as.NodeIdentityReference.ResourceID}
		}
	}
	if id := a.Identity; id != nil {
		rec.Identity = &accountIdentityRecord{Type: id.Type, PrincipalID: id.PrincipalID, TenantID: id.TenantID}
		for _, u := range id.UserAssigned {
			rec.Identity.UserAssigned = append(rec.Identity.UserAssigned, identityRecord(u))
		}
	}
	for k, v := range a.Extra {
		if rec.Extra == nil {
			rec.Extra = map[string]json.RawMessage{}
		}
		rec.Extra[k] = v
	}
	return json.Marshal(rec)
}
