package cobalt

// PrincipalKind tells what kind of directory object a principal is.
type PrincipalKind string

// Principal kinds.
const (
	// KindServicePrincipal is an application's service principal with client secrets.
	KindServicePrincipal PrincipalKind = "ServicePrincipal"
	// KindManagedIdentity is the service principal behind a managed identity. It
	// has no secret: tokens for it are issued only to the nodes of pools that
	// carry the identity.
	KindManagedIdentity PrincipalKind = "ManagedIdentity"
	// KindUser is a person who signs in with a user name and a password
	// (authorization code flow). A user is never a client: its ClientID
	// repeats its ObjectID, and its tokens' appid names the application
	// that asked for them.
	KindUser PrincipalKind = "User"
)

// Principal is a security principal of a tenant, as the login service knows it.
type Principal struct {
	// ObjectID is the service principal's object ID: the "oid" claim, and the
	// principalId that role assignments name.
	ObjectID string
	// ClientID is the application (client) ID: the "appid" claim.
	ClientID string
	TenantID string
	Kind     PrincipalKind
	// DisplayName is a human-readable name.
	DisplayName string
	// ResourceID is the ARM ID of the managed identity, for KindManagedIdentity.
	ResourceID string
	// UserPrincipalName is a user's sign-in name (name@domain), for KindUser.
	UserPrincipalName string
}

// Caller is the authenticated caller of a request, as established from a
// validated bearer token or a shared key.
type Caller struct {
	// ObjectID, ClientID and TenantID come from the token's oid, appid/azp and tid.
	ObjectID string
	ClientID string
	TenantID string
	// ManagedIdentityID is the token's xms_mirid claim, if any.
	ManagedIdentityID string
	// SharedKeyAccount is set, instead of the token fields, when the request was
	// authenticated with an account key (Blob and Batch SharedKey). Such a caller
	// holds every right on that account and on nothing else.
	SharedKeyAccount string
}
