package sqlite

import "github.com/cobaltbatch/cobalt/internal/store/sqlstore"

// computeQueries are the SQLite texts of the compute statements that differ per dialect.
// SQLite's single writer connection serializes claims, so no row lock is needed.
var computeQueries = sqlstore.ComputeQueries{
	TaskClaimLock: "",
	// SQLite commits as it is configured for every write.
	NodeTouchPrelude: "",
}
