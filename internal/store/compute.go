package store

import (
	"context"
	"time"
)

// ComputeStore keeps the batch data plane and compute nodes: pools, nodes,
// jobs, tasks and their claims. PoolStore and NodeStore serve the pool
// service (internal/batch); JobStore serves the jobs service (internal/jobs).
type ComputeStore interface {
	PoolStore
	NodeStore
	JobStore
	ScheduleStore
}

// PoolRecord is a stored Batch pool. The batch package owns the meaning of
// Body (its canonical pool model as JSON); the other fields are columns that
// the allocator and the lists filter on.
type PoolRecord struct {
	// AccountKey is the Batch account's ARM resource ID in lower case.
	AccountKey string
	// ID is the pool ID in the case it was created with; Key is ID in lower
	// case (pool IDs are case-insensitive within an account).
	ID  string
	Key string
	// State is the Batch pool state ("active" or "deleting").
	State string
	// AllocationState is "steady", "resizing" or "stopping".
	AllocationState string
	Body            []byte
	// Version increases on every write; it is the pool's ETag.
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// PoolListParams selects pools. Every non-empty field must match.
type PoolListParams struct {
	// AccountKey restricts the list to one account ("" for every account).
	AccountKey string
	// States and AllocationStates, when non-empty, restrict the list to pools in
	// one of the given states.
	States           []string
	AllocationStates []string
	Page             Page
}

// PoolStore keeps Batch pools. Pools are listed in (account, key) order.
type PoolStore interface {
	// PoolCreate stores a new pool; EConflict if the account already has a
	// pool whose key equals p.Key. Version, CreatedAt and UpdatedAt are set.
	PoolCreate(ctx context.Context, p PoolRecord) (PoolRecord, error)
	// PoolGet returns the account's pool with the given ID (case-insensitive), or ENotFound.
	PoolGet(ctx context.Context, accountKey, poolID string) (PoolRecord, error)
	// PoolUpdate applies fn to the pool under compare-and-swap; Body, State,
	// AllocationState and ID's case may change. ENotFound if absent,
	// EPreconditionFailed if another writer won; an error from fn is returned as is.
	PoolUpdate(ctx context.Context, accountKey, poolID string, fn func(*PoolRecord) error) (PoolRecord, error)
	// PoolDelete removes the pool, or returns ENotFound. It does not remove nodes.
	PoolDelete(ctx context.Context, accountKey, poolID string) error
	// PoolList lists pools with a next-page token ("" on the last page).
	PoolList(ctx context.Context, p PoolListParams) ([]PoolRecord, string, error)
}

// NodeRecord is a stored compute node of a pool.
type NodeRecord struct {
	// ID is the node ID (unique in the installation, for example
	// "tvm-1695681911_2-20161122t193202z").
	ID string
	// AccountKey and PoolKey are the lower-case account ARM ID and pool ID.
	AccountKey string
	PoolKey    string
	// State is the Batch node state ("creating", "idle", "leavingpool", ...).
	State string
	// CredentialHash is the hash of the node's credential; the credential
	// itself is never stored.
	CredentialHash []byte
	// Identities is the JSON of the identity set the node carries: the pool's
	// identities when the node was allocated.
	Identities []byte
	// StartTaskInfo is the JSON of the start task's latest reported progress (nil if none).
	StartTaskInfo []byte
	// Body is further JSON the batch package owns (errors, pending commands,
	// allocation details).
	Body []byte
	// HeartbeatAt is when the node last reported; LeaseExpiry is when it is
	// declared lost without a further heartbeat.
	HeartbeatAt time.Time
	LeaseExpiry time.Time
	// HostID is the host the node is placed on ("": the local host).
	HostID    string
	CreatedAt time.Time
	UpdatedAt time.Time
	Version   int64
}

// NodeListParams selects nodes. Every non-empty field must match.
type NodeListParams struct {
	AccountKey string
	PoolKey    string
	// HostID restricts the list to the nodes placed on one host.
	HostID string
	// States, when non-empty, restricts the list to nodes in one of these states.
	States []string
	// ExpiredBefore, when non-zero, lists only nodes whose LeaseExpiry is set
	// and earlier than it.
	ExpiredBefore time.Time
	Page          Page
}

// NodeCount is the number of an account's pool's nodes in one state.
type NodeCount struct {
	AccountKey string
	PoolKey    string
	State      string
	Count      int
}

// NodeTouch is one heartbeat for NodeTouchMany.
type NodeTouch struct {
	NodeID      string
	Version     int64
	HeartbeatAt time.Time
	LeaseExpiry time.Time
}

// NodeStore keeps compute nodes. Nodes are listed in ID order.
type NodeStore interface {
	// NodeCreate stores a new node; EConflict if the ID exists. Version,
	// CreatedAt and UpdatedAt are set.
	NodeCreate(ctx context.Context, n NodeRecord) (NodeRecord, error)
	// NodeCreateMany stores new nodes in one transaction, all or none (one
	// commit for an allocation of many nodes); EConflict if an ID exists.
	NodeCreateMany(ctx context.Context, ns []NodeRecord) ([]NodeRecord, error)
	// NodeGet returns the node with the given ID, or ENotFound.
	NodeGet(ctx context.Context, nodeID string) (NodeRecord, error)
	// NodeUpdate applies fn to the node under compare-and-swap; every field
	// but ID, AccountKey, PoolKey and CreatedAt may change. ENotFound if
	// absent, EPreconditionFailed if another writer won; an error from fn is returned as is.
	NodeUpdate(ctx context.Context, nodeID string, fn func(*NodeRecord) error) (NodeRecord, error)
	// NodeTouch records a heartbeat that changes nothing but the node's
	// heartbeat time and lease expiry, in one statement, if the node's
	// version is still version, and returns the new version (a heartbeat
	// moves the ETag as NodeUpdate does). ENotFound if absent,
	// EPreconditionFailed if the version moved. Heartbeats are soft state:
	// the PostgreSQL backend commits a touch asynchronously (a touch
	// acknowledged just before the database crashed may be lost; the next
	// heartbeat repeats it), which spares a WAL flush per heartbeat.
	NodeTouch(ctx context.Context, nodeID string, version int64, heartbeatAt, leaseExpiry time.Time) (int64, error)
	// NodeTouchMany is NodeTouch for many nodes in one statement (the
	// heartbeats of a fleet arriving together): it returns, in the order of
	// ts, whether each touch took (false: the node is absent or its version
	// moved). At most one touch per node ID.
	NodeTouchMany(ctx context.Context, ts []NodeTouch) ([]bool, error)
	// NodeDelete removes the node, or returns ENotFound.
	NodeDelete(ctx context.Context, nodeID string) error
	// NodeList lists nodes with a next-page token ("" on the last page).
	NodeList(ctx context.Context, p NodeListParams) ([]NodeRecord, string, error)
	// NodeCounts counts nodes by pool and state, for one account ("" for all)
	// and one pool ("" for all the account's pools).
	NodeCounts(ctx context.Context, accountKey, poolKey string) ([]NodeCount, error)
}
