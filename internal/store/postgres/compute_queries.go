package postgres

import "github.com/cobaltbatch/cobalt/internal/store/sqlstore"

// computeQueries are the PostgreSQL texts of the compute statements that differ per dialect.
var computeQueries = sqlstore.ComputeQueries{}
