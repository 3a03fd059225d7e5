package store

import (
	"context"
	"time"
)

// JobPrepRecord is one node's run of a job's preparation and release tasks.
// The jobs package owns the meaning of Info (the execution information as
// JSON); the other fields are the columns the claim, the heartbeat and the
// status list select on.
type JobPrepRecord struct {
	// AccountKey is the Batch account's ARM resource ID in lower case;
	// JobKey the lower-case job ID; NodeID the node's ID.
	AccountKey string
	JobKey     string
	NodeID     string
	PoolKey    string
	// Blocked is set while the job's tasks must not run on the node: its
	// preparation task failed and the job waits for success.
	Blocked bool
	// ReleaseState is "" (the job has not ended), "pending" (the node must
	// run the release task), "running" or "completed".
	ReleaseState string
	// RetainUntil is when the node's directories of the job's preparation
	// or release task are next due for deletion (zero: none is).
	RetainUntil time.Time
	Info        []byte
	Version     int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// JobPrepListParams selects preparation records in (account, job, node)
// order. Every non-empty field must match.
type JobPrepListParams struct {
	AccountKey   string
	JobKey       string
	NodeID       string
	ReleaseState string
	// BlockedOnly keeps the records with Blocked set.
	BlockedOnly bool
	// RetainedBefore, when non-zero, keeps the records whose RetainUntil
	// is set and earlier.
	RetainedBefore time.Time
	Page           Page
}

// JobPrepStore keeps the per-node runs of jobs' preparation and release
// tasks. Records outlive their job until the release task reported, so a
// deleted job's nodes still run it.
type JobPrepStore interface {
	// JobPrepUpdate applies fn to the job's record for the node under
	// compare-and-swap, creating it (Version 0 in fn) when absent; Blocked,
	// ReleaseState, RetainUntil, PoolKey and Info may change. An error from fn is
	// returned as is and nothing is written.
	JobPrepUpdate(ctx context.Context, accountKey, jobID, nodeID string, fn func(*JobPrepRecord) error) (JobPrepRecord, error)
	// JobPrepList lists records with a next-page token ("" on the last page).
	JobPrepList(ctx context.Context, p JobPrepListParams) ([]JobPrepRecord, string, error)
	// JobPrepReleasesOf returns the records of any of the nodes whose
	// ReleaseState is "pending", of every account, in no particular order:
	// the heartbeats of many nodes learn their release tasks with one read.
	JobPrepReleasesOf(ctx context.Context, nodeIDs []string) ([]JobPrepRecord, error)
	// JobPrepMarkRelease sets ReleaseState "pending" on the job's records
	// whose ReleaseState is "", and returns how many it changed.
	JobPrepMarkRelease(ctx context.Context, accountKey, jobID string) (int, error)
	// JobPrepDelete removes the job's record for the node, or every record
	// of the job when nodeID is "". Removing nothing is not an error.
	JobPrepDelete(ctx context.Context, accountKey, jobID, nodeID string) error
}
