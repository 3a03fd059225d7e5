package sqlite

import "github.com/cobaltbatch/cobalt/internal/store/sqlstore"

// computeQueries are the SQLite texts of the compute statements that differ per dialect.
var computeQueries = sqlstore.ComputeQueries{}
