package store

import (
	"context"
	"time"
)

// Host states.
const (
	// HostReady is a host whose lease is current.
	HostReady = "ready"
	// HostLost is a host whose lease expired: its nodes were given up.
	HostLost = "lost"
	// HostRevoked is a removed host: its credential is refused for good.
	HostRevoked = "revoked"
)

// HostRecord is a machine that runs compute nodes: the control plane's own
// local host, or one that joined with a join token.
type HostRecord struct {
	ID string
	// Name is the host's name as it reported it (its hostname).
	Name string
	// Address is the host's address, which its nodes report as ipAddress.
	Address string
	// State is HostReady, HostLost or HostRevoked.
	State string
	// Local marks the control plane's own host (its local node provider).
	Local bool
	// CredentialHash is the hash of the host credential; the credential
	// itself is never stored.
	CredentialHash []byte
	// Capacity as the host last reported it.
	Cores       int
	MemoryBytes int64
	MaxNodes    int
	// HeartbeatAt is when the host last reported; LeaseExpiry is when it is
	// declared lost without a further heartbeat.
	HeartbeatAt time.Time
	LeaseExpiry time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
	Version     int64
}

// JoinToken is a one-time host join token, kept hashed.
type JoinToken struct {
	Hash      []byte
	ExpiresAt time.Time
	CreatedAt time.Time
}

// HostStore keeps hosts and their join tokens. Hosts are listed in ID order.
type HostStore interface {
	// HostCreate stores a new host; EConflict if the ID exists. Version,
	// CreatedAt and UpdatedAt are set.
	HostCreate(ctx context.Context, h HostRecord) (HostRecord, error)
	// HostGet returns the host, or ENotFound.
	HostGet(ctx context.Context, hostID string) (HostRecord, error)
	// HostUpdate applies fn to the host under compare-and-swap; every field
	// but ID, Local and CreatedAt may change. ENotFound if absent,
	// EPreconditionFailed if another writer won; an error from fn is returned as is.
	HostUpdate(ctx context.Context, hostID string, fn func(*HostRecord) error) (HostRecord, error)
	// HostList lists hosts with a next-page token ("" on the last page).
	HostList(ctx context.Context, page Page) ([]HostRecord, string, error)
	// JoinTokenCreate stores a new join token; EConflict if its hash exists.
	JoinTokenCreate(ctx context.Context, t JoinToken) error
	// JoinTokenUse marks the token with the given hash used by hostID, at
	// most once: ENotFound when no such token is unused and unexpired at
	// now (unknown, used or expired look the same to a caller). Safe for
	// concurrent use: of two uses of one token, one fails.
	JoinTokenUse(ctx context.Context, hash []byte, hostID string, now time.Time) error
}
