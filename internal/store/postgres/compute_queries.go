package postgres

import "github.com/cobaltbatch/cobalt/internal/store/sqlstore"

// computeQueries are the PostgreSQL texts of the compute statements that differ per dialect.
var computeQueries = sqlstore.ComputeQueries{
	// Concurrent claims from several replicas skip each other's candidate rows.
	TaskClaimLock: " FOR UPDATE SKIP LOCKED",
	// A heartbeat is soft state: its commit need not wait for the WAL flush.
	NodeTouchPrelude: "SET LOCAL synchronous_commit = off",
}
