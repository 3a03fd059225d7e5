package cobalt

import (
	"strings"
	"time"
)

// Account is a Batch account: what the management plane creates and the
// data plane serves. Enumerations hold ARM's spelling ("BatchService",
// "Enabled", "SharedKey").
type Account struct {
	// ID is the account's ARM resource ID; Name its name, unique in the
	// installation (each account has its own endpoint).
	ID             string
	Name           string
	Location       string
	TenantID       string
	SubscriptionID string
	ResourceGroup  string
	// Endpoint is the data plane's host:port (no scheme), the account's
	// accountEndpoint; empty until the endpoint is allocated.
	Endpoint string
	// Keys are the primary and secondary shared keys (base64).
	Keys [2]string
	// AllowedAuthenticationModes are among "SharedKey", "AAD" and
	// "TaskAuthenticationToken".
	AllowedAuthenticationModes []string
	PoolAllocationMode         string
	PublicNetworkAccess        string
	AutoStorage                *AutoStorage
	Identity                   *AccountIdentity
	Tags                       map[string]string
	// ProvisioningState is "Creating", "Succeeded", "Failed" or "Deleting".
	ProvisioningState string
	CreatedAt         time.Time
	// Extra keeps other account properties (keyVaultReference,
	// networkProfile, encryption) as the raw JSON the client sent, so they
	// round-trip.
	Extra map[string][]byte
}

// Key returns the account's store key: its ARM ID in lower case.
func (a *Account) Key() string { return strings.ToLower(a.ID) }

// SharedKeyAllowed reports whether the account accepts SharedKey
// authentication.
func (a *Account) SharedKeyAllowed() bool {
	for _, m := range a.AllowedAuthenticationModes {
		if m == "SharedKey" {
			return true
		}
	}
	return false
}

// AutoStorage is an account's auto-storage account. AuthenticationMode is
// "StorageKeys" or "BatchAccountManagedIdentity".
type AutoStorage struct {
	StorageAccountID      string
	AuthenticationMode    string
	NodeIdentityReference *IdentityReference
	LastKeySync           time.Time
}

// AccountIdentity is the account's own identity: Type "SystemAssigned",
// "UserAssigned" or "None". PrincipalID and TenantID belong to the
// system-assigned identity.
type AccountIdentity struct {
	Type         string
	PrincipalID  string
	TenantID     string
	UserAssigned []UserAssignedIdentity
}

// UserAssignedIdentity is one user-assigned managed identity, by ARM
// resource ID, with its principal.
type UserAssignedIdentity struct {
	ResourceID  string
	ClientID    string
	PrincipalID string
	TenantID    string
}
