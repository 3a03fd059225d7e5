// Package sqlstore implements store.Store over database/sql. The SQL of each
// dialect lives with the dialect (sqlite, postgres): schema migrations, and the
// statements whose text differs. Statements written identically for both (SQLite
// 3.35+ and PostgreSQL share $N placeholders, RETURNING and ON CONFLICT) live
// here once. No SQL text is rewritten between dialects.
package sqlstore
