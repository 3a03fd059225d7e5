package store

import (
	"context"
	"time"
)

// JobRecord is a stored Batch job. The jobs package owns the meaning of Spec
// (its canonical job model as JSON); the other fields are columns that lists,
// the scheduler and the task rows depend on.
type JobRecord struct {
	// AccountKey is the Batch account's ARM resource ID in lower case.
	AccountKey string
	// ID is the job ID in the case it was created with; Key is ID in lower
	// case (job IDs are case-insensitive within an account).
	ID  string
	Key string
	// PoolKey is the lower-case ID of the pool the job's tasks run on.
	PoolKey string
	// State is the Batch job state ("active", "disabling", "disabled",
	// "enabling", "terminating", "completed", "deleting").
	State string
	// Priority orders jobs for the scheduler: higher first (-1000..1000).
	Priority int
	// Dispatch says whether the job's active tasks may be claimed by nodes.
	// The store copies it, PoolKey and Priority onto the job's tasks.
	Dispatch bool
	Spec     []byte
	// Version increases on every write; it is the job's ETag.
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// JobListParams selects jobs in (account, key) order.
type JobListParams struct {
	// AccountKey restricts the list to one account ("" for every account).
	AccountKey string
	// States, when non-empty, restricts the list to jobs in one of the states.
	States []string
	// IDPrefix, when set, restricts the list to jobs whose key starts with
	// it (lower case): the jobs of a job schedule ("{scheduleId}:").
	IDPrefix string
	Page     Page
}

// TaskRecord is a stored task. Spec (the task as added, JSON) and Exec (its
// execution and node information, JSON) belong to the jobs package; the other
// fields are the columns of the queue and its claims.
type TaskRecord struct {
	AccountKey string
	// JobKey is the lower-case job ID; ID is the task ID as added and Key its lower case.
	JobKey string
	ID     string
	Key    string
	// Seq is assigned by the store on add; tasks of equal priority are claimed
	// in Seq order (FIFO).
	Seq int64
	// PoolKey and Priority are copied from the job (read-only here).
	PoolKey  string
	Priority int
	// State is "active" (queued), "preparing", "running" or "completed".
	State string
	// StateAt is when State last changed.
	StateAt       time.Time
	RequiredSlots int
	// Result is "success", "failure" or "" (not completed).
	Result string
	// RetryCount counts retries after failures; RequeueCount counts requeues
	// after lost nodes (not failures).
	RetryCount    int
	RequeueCount  int
	LastRequeueAt time.Time
	// LeaseID identifies the current claim ("" when none); NodeID is the
	// claiming node; LeaseExpiry, when non-zero, is when the server gives up
	// on the claim.
	LeaseID     string
	NodeID      string
	LeaseExpiry time.Time
	// Waiting says an "active" task waits on dependencies: no claim offers it
	// until an update clears the flag.
	Waiting bool
	// Instances is the number of nodes the task runs on at once: its
	// multiInstanceSettings.numberOfInstances, 1 for other tasks (0 on add
	// means 1). It never changes after add.
	Instances int
	// RetainUntil is when a completed task's files may be removed (zero: not yet known).
	RetainUntil time.Time
	Spec        []byte
	Exec        []byte
	Version     int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// TaskListParams selects tasks. Every non-empty field must match (an empty
// AccountKey lists every account's tasks). Tasks are listed in (job, key) order.
type TaskListParams struct {
	AccountKey string
	// JobKey restricts the list to one job ("" for every job of the account).
	JobKey string
	// States, when non-empty, restricts the list to tasks in one of the states.
	States []string
	// NodeID restricts the list to tasks claimed by one node.
	NodeID string
	// Leased, when true, lists only tasks that hold a lease (LeaseID set):
	// with NodeID, a node's tasks in flight, found among the few leased
	// tasks rather than among every task the node ever ran.
	Leased bool
	// Waiting, when true, lists only tasks whose Waiting flag is set.
	Waiting bool
	// LeaseExpiredBefore, when non-zero, lists only tasks whose LeaseExpiry is set and earlier.
	LeaseExpiredBefore time.Time
	// RetainedBefore, when non-zero, lists only completed tasks whose RetainUntil is set and earlier.
	RetainedBefore time.Time
	Page           Page
}

// TaskStateCount is the number of a job's tasks, and the sum of their
// required slots, in one state with one result.
type TaskStateCount struct {
	State  string
	Result string
	Count  int
	Slots  int
}

// TaskCandidate is a queued task offered to a claim's pick function.
type TaskCandidate struct {
	Seq           int64
	JobKey        string
	Key           string
	Priority      int
	RequiredSlots int
	// Instances is the task's node count (TaskRecord.Instances).
	Instances int
}

// ClaimParams describes one atomic claim of queued tasks for a node.
type ClaimParams struct {
	AccountKey string
	PoolKey    string
	NodeID     string
	// Limit is how many queued tasks, in (priority desc, Seq) order, are
	// offered to the pick function at most.
	Limit int
	// State is the state claimed tasks move to (the jobs package says "running").
	State string
	// LeaseExpiry is stored on each claimed task (zero for none).
	LeaseExpiry func(TaskCandidate) time.Time
	// NewLeaseID returns a fresh, unique lease ID.
	NewLeaseID func() string
	// Before are updates by lease the claim applies in its own transaction
	// before it looks for tasks: a node's reports of the tasks that ended
	// and its request for the next ones cost one transaction. The store
	// rules on each (LeaseUpdate.Done, Err); a claim that fails leaves them
	// all undone. A claim with no Limit, node or NewLeaseID applies only
	// these.
	Before []*LeaseUpdate
}

// LeaseUpdate is an update by lease, as TaskUpdateByLease, that a claim
// applies first (ClaimParams.Before).
type LeaseUpdate struct {
	LeaseID string
	Fn      func(*TaskRecord) error
	// Done is set once the claim's transaction committed with this update
	// applied (Err nil), or ruled out: ENotFound when no task holds the
	// lease, or Fn's error, with the task left as it was.
	Done bool
	Err  error
}

// JobStore keeps Batch jobs, tasks and their claims. Claims are atomic across
// every replica sharing the database: a task is claimed by at most one node
// at a time (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite: the single writer).
type JobStore interface {
	JobPrepStore
	// JobCreate stores a new job; EConflict if the account has a job with that key.
	JobCreate(ctx context.Context, j JobRecord) (JobRecord, error)
	// JobGet returns the account's job with the ID (case-insensitive), or ENotFound.
	JobGet(ctx context.Context, accountKey, jobID string) (JobRecord, error)
	// JobUpdate applies fn to the job under compare-and-swap. PoolKey,
	// Priority, Dispatch, State, Spec and the ID's case may change; changes of
	// PoolKey, Priority and Dispatch are copied to the job's tasks in the same
	// transaction. ENotFound if absent; an error from fn is returned as is.
	JobUpdate(ctx context.Context, accountKey, jobID string, fn func(*JobRecord) error) (JobRecord, error)
	// JobDelete removes the job and all its tasks, or returns ENotFound.
	JobDelete(ctx context.Context, accountKey, jobID string) error
	// JobList lists jobs with a next-page token ("" on the last page).
	JobList(ctx context.Context, p JobListParams) ([]JobRecord, string, error)

	// TaskAdd adds tasks to a job in one transaction and returns one error per
	// task (nil on success, EConflict when the task exists or repeats an
	// earlier task of the same call). The returned records carry Seq and
	// Version. ENotFound (as the second result) if the job does not exist.
	TaskAdd(ctx context.Context, accountKey, jobID string, tasks []TaskRecord) ([]TaskRecord, []error, error)
	// TaskGet returns a task, or ENotFound.
	TaskGet(ctx context.Context, accountKey, jobID, taskID string) (TaskRecord, error)
	// TaskUpdate applies fn to the task under compare-and-swap. Every field but
	// the keys, Seq, PoolKey, Priority and CreatedAt may change.
	TaskUpdate(ctx context.Context, accountKey, jobID, taskID string, fn func(*TaskRecord) error) (TaskRecord, error)
	// TaskUpdateByLease applies fn to the task currently claimed under leaseID,
	// or returns ENotFound when no task holds that lease (it was requeued,
	// terminated or deleted).
	TaskUpdateByLease(ctx context.Context, leaseID string, fn func(*TaskRecord) error) (TaskRecord, error)
	// TaskDelete removes a task, or returns ENotFound.
	TaskDelete(ctx context.Context, accountKey, jobID, taskID string) error
	// TaskList lists tasks with a next-page token ("" on the last page).
	TaskList(ctx context.Context, p TaskListParams) ([]TaskRecord, string, error)
	// TaskCounts counts a job's tasks by state and result.
	TaskCounts(ctx context.Context, accountKey, jobID string) ([]TaskStateCount, error)
	// TaskAnyIncomplete reports whether the job has a task that is not completed.
	TaskAnyIncomplete(ctx context.Context, accountKey, jobID string) (bool, error)
	// TaskClaim atomically claims queued tasks for a node: it offers up to
	// p.Limit dispatchable "active" tasks that are not Waiting of the pool to pick, which returns
	// the indexes of the candidates to claim; those move to p.State with a
	// new lease, the node and the lease expiry, and are returned. Candidates
	// that another replica is claiming at the same moment are skipped.
	TaskClaim(ctx context.Context, p ClaimParams, pick func([]TaskCandidate) []int) ([]TaskRecord, error)
	// TaskLeasedToNodes returns the tasks leased to any of the nodes (a
	// lease, State "preparing" or "running"), of every account, in no
	// particular order: the heartbeats of many nodes reconcile their leases
	// with one read.
	TaskLeasedToNodes(ctx context.Context, nodeIDs []string) ([]TaskRecord, error)
	// TaskQueued reports whether the pool holds a task TaskClaim would offer
	// (dispatchable, "active", not Waiting), with one read that locks
	// nothing: a node's lease learns there is no work without a transaction.
	TaskQueued(ctx context.Context, accountKey, poolKey string) (bool, error)
	// TaskRequeueNode returns every task claimed by the node and not completed
	// to the queue: State "active", lease cleared, RequeueCount incremented.
	// It returns the requeued tasks as they were before.
	TaskRequeueNode(ctx context.Context, nodeID string) ([]TaskRecord, error)
}
