package cobalt

// StorageAccount is what the data-plane services need of a storage account:
// the management plane owns the account, blob storage authenticates requests
// to it, and the Batch service signs auto-storage SAS URLs with its keys.
type StorageAccount struct {
	// ID is the account's resource ID, the root of its RBAC scopes.
	ID ResourceID
	// Keys are the account's two keys (base64).
	Keys [2]string
	// SharedKeyAccess is false when the account's allowSharedKeyAccess is
	// false: SharedKey and key-signed SAS are then refused with 403
	// KeyBasedAuthenticationNotPermitted; bearer tokens and user delegation
	// SAS still work.
	SharedKeyAccess bool
}
