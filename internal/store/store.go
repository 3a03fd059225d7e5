package store

import (
	"context"
	"time"

	"github.com/cobaltbatch/cobalt"
)

// SealedResourceTypes are the resource types whose bodies hold account keys
// (storage accounts, Batch accounts) or passwords (container registries). When the store is given a sealer (the
// installation's seal key), their bodies are sealed at rest: the database
// never holds the keys in clear, and bodies an earlier version stored in
// clear are sealed when the store opens. Callers see clear bodies.
var SealedResourceTypes = []string{"Microsoft.Storage/storageAccounts", "Microsoft.Batch/batchAccounts", "Microsoft.ContainerRegistry/registries"}

// Store is the storage interface of every Cobalt service.
type Store interface {
	MetaStore
	PrincipalStore
	KeyStore
	AuditStore
	ResourceStore
	BlobStore
	ComputeStore
	HostStore

	// Dialect names the backend: "sqlite" or "postgres".
	Dialect() string
	// Close releases the database handles.
	Close() error
}

// MetaStore keeps small named values of the installation, such as the tenant
// and subscription IDs chosen at first start.
type MetaStore interface {
	// MetaGet returns the value stored under key, or ENotFound.
	MetaGet(ctx context.Context, key string) (string, error)
	// MetaPutIfAbsent stores value under key unless the key exists, and returns
	// the value that is stored afterwards (the existing one if there was one).
	MetaPutIfAbsent(ctx context.Context, key, value string) (string, error)
}

// Page asks for one page of a list. A zero Limit means the implementation's
// default (100); Token is the opaque NextToken of the previous page.
type Page struct {
	Limit int
	Token string
}

// Secret is a hashed client secret of a service principal.
type Secret struct {
	// ID identifies the secret (its keyId); Hint is its first characters, as Entra shows.
	ID        string    `json:"id"`
	Hint      string    `json:"hint"`
	Hash      []byte    `json:"hash"`
	Salt      []byte    `json:"salt"`
	CreatedAt time.Time `json:"createdAt"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// PasswordHash is a user's password as the login service keeps it: the
// output of a password KDF with its salt and parameters, never the password.
type PasswordHash struct {
	// Alg names the KDF, for example "argon2id".
	Alg     string `json:"alg"`
	Salt    []byte `json:"salt"`
	Hash    []byte `json:"hash"`
	Time    uint32 `json:"time"`
	Memory  uint32 `json:"memory"`
	Threads uint8  `json:"threads"`
}

// PrincipalRecord is a stored principal with its credentials.
type PrincipalRecord struct {
	cobalt.Principal
	Secrets []Secret
	// Password is a user's password hash (KindUser only).
	Password  *PasswordHash
	Disabled  bool
	CreatedAt time.Time
	UpdatedAt time.Time
	Version   int64
}

// PrincipalStore keeps the login service's principals.
type PrincipalStore interface {
	// PrincipalCreate stores a new principal; EConflict if its object ID, or its
	// client ID within the tenant, is taken.
	PrincipalCreate(ctx context.Context, p PrincipalRecord) (PrincipalRecord, error)
	// PrincipalGet returns the principal with the given object ID, or ENotFound.
	PrincipalGet(ctx context.Context, objectID string) (PrincipalRecord, error)
	// PrincipalGetByClientID returns the tenant's principal with the given client ID, or ENotFound.
	PrincipalGetByClientID(ctx context.Context, tenantID, clientID string) (PrincipalRecord, error)
	// PrincipalGetByUserName returns the tenant's user whose
	// UserPrincipalName equals upn in any letter case, or ENotFound. User
	// principal names are unique per tenant in any letter case: PrincipalCreate
	// and PrincipalUpdate return EConflict for a second one.
	PrincipalGetByUserName(ctx context.Context, tenantID, upn string) (PrincipalRecord, error)
	// PrincipalUpdate applies fn to the principal under compare-and-swap and returns the result.
	PrincipalUpdate(ctx context.Context, objectID string, fn func(*PrincipalRecord) error) (PrincipalRecord, error)
	// PrincipalDelete removes the principal, or returns ENotFound.
	PrincipalDelete(ctx context.Context, objectID string) error
	// PrincipalList lists a tenant's principals ordered by object ID.
	PrincipalList(ctx context.Context, tenantID string, page Page) ([]PrincipalRecord, string, error)
}

// SigningKey is a token-signing key pair. PrivateKey is sealed by the login
// service with a key that lives outside the store; the store never sees it in clear.
type SigningKey struct {
	KID string
	// Alg is the JWS algorithm, "RS256".
	Alg string
	// PublicJWK is the public key as a JSON Web Key.
	PublicJWK []byte
	// PrivateKey is the sealed private key.
	PrivateKey []byte
	CreatedAt  time.Time
	// SignFrom is when the key may start signing: it is published in JWKS from
	// CreatedAt, so verifiers can fetch it before the first token it signs.
	SignFrom time.Time
	// RetiredAt is when the key stopped signing (zero while active).
	RetiredAt time.Time
	// PublishUntil is when the key leaves JWKS: after the last token it signed expires.
	PublishUntil time.Time
	Version      int64
}

// KeyStore keeps signing keys.
type KeyStore interface {
	// KeyCreate stores a new key; EConflict if the KID exists.
	KeyCreate(ctx context.Context, k SigningKey) (SigningKey, error)
	// KeyList returns every key, newest first.
	KeyList(ctx context.Context) ([]SigningKey, error)
	// KeyUpdate applies fn to the key under compare-and-swap.
	KeyUpdate(ctx context.Context, kid string, fn func(*SigningKey) error) (SigningKey, error)
	// KeyDelete removes a key, or returns ENotFound.
	KeyDelete(ctx context.Context, kid string) error
}

// AuditRecord is one security-relevant event: a token issued, a role assignment
// changed. It never holds a secret or a token.
type AuditRecord struct {
	ID   int64
	Time time.Time
	// Kind is a dotted event name, for example "token.issued" or "role.assigned".
	Kind string
	// Actor is who caused the event (an object ID, a node ID, "system").
	Actor string
	// Subject is what the event is about (the principal a token is for, an assignment ID).
	Subject string
	// Fields carries event details with constant keys (audience, node, pool, task, address).
	Fields map[string]string
}

// AuditStore keeps the audit trail.
type AuditStore interface {
	// AuditAppend stores a record; the ID is assigned by the store.
	AuditAppend(ctx context.Context, r AuditRecord) error
	// AuditList returns records of the given kind ("" for all), oldest first.
	AuditList(ctx context.Context, kind string, page Page) ([]AuditRecord, string, error)
}
