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

// Account is a Batch account as the management plane stores it (the body of
// its ARM resource) and as the data plane needs it.
type Account struct {
	// ID is the account's ARM resource ID; Name its name.
	ID             string `json:"id"`
	Name           string `json:"name"`
	Location       string `json:"location"`
	TenantID       string `json:"tenantId"`
	SubscriptionID string `json:"subscriptionId"`
	ResourceGroup  string `json:"resourceGroup"`
	// Endpoint is the data plane's host:port (no scheme), the account's accountEndpoint.
	Endpoint string `json:"endpoint"`
	// Keys are the primary and secondary shared keys (base64).
	Keys                       [2]string         `json:"keys"`
	AllowedAuthenticationModes []string          `json:"allowedAuthenticationModes,omitempty"`
	PoolAllocationMode         string            `json:"poolAllocationMode,omitempty"`
	PublicNetworkAccess        string            `json:"publicNetworkAccess,omitempty"`
	AutoStorage                *AutoStorage      `json:"autoStorage,omitempty"`
	Identity                   *AccountIdentity  `json:"identity,omitempty"`
	Tags                       map[string]string `json:"tags,omitempty"`
	ProvisioningState          string            `json:"provisioningState"`
	CreatedAt                  time.Time         `json:"createdAt"`
	// Extra keeps other account properties so they round-trip.
	Extra map[string]json.RawMessage `json:"extra,omitempty"`
}

// AutoStorage is an account's auto-storage account.
type AutoStorage struct {
	StorageAccountID      string             `json:"storageAccountId"`
	AuthenticationMode    string             `json:"authenticationMode"`
	NodeIdentityReference *IdentityReference `json:"nodeIdentityReference,omitempty"`
	LastKeySync           time.Time          `json:"lastKeySync"`
}

// AccountIdentity is the account's own identity: Type "SystemAssigned",
// "UserAssigned" or "None". PrincipalID and TenantID belong to the system identity.
type AccountIdentity struct {
	Type         string         `json:"type"`
	PrincipalID  string         `json:"principalId,omitempty"`
	TenantID     string         `json:"tenantId,omitempty"`
	UserAssigned []IdentityInfo `json:"userAssignedIdentities,omitempty"`
}

// Key returns the account's store key: its ARM ID in lower case.
func (a *Account) Key() string { return strings.ToLower(a.ID) }

// DecodeAccount parses an account resource body.
func DecodeAccount(body []byte) (*Account, error) {
	var a Account
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, fmt.Errorf("decode batch account: %w", err)
	}
	return &a, nil
}

// AccountNotFound is the error for an unknown account name.
func accountNotFound(name string) error {
	return cobalt.Errorf(cobalt.ENotFound, "The Batch account '%s' does not exist.", name).WithReason(errwire.ReasonAccountNotFound)
}

// AccountGet returns the Batch account with the given name (case-insensitive),
// or ENotFound. Account names are unique in a Cobalt installation, as each
// account has its own endpoint.
func (s *Service) AccountGet(ctx context.Context, name string) (*Account, error) {
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
			return DecodeAccount(r.Body)
		}
		if next == "" {
			return nil, accountNotFound(name)
		}
		page.Token = next
	}
}

// AccountByID returns the Batch account with the given ARM ID, or ENotFound.
func (s *Service) AccountByID(ctx context.Context, id string) (*Account, error) {
	r, err := s.cfg.Store.ResourceGet(ctx, strings.ToLower(id))
	if err != nil {
		if cobalt.IsCode(err, cobalt.ENotFound) {
			return nil, accountNotFound(id)
		}
		return nil, err
	}
	return DecodeAccount(r.Body)
}
