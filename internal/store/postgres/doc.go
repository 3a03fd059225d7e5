// Package postgres opens Cobalt's shared store on PostgreSQL (pgx through
// database/sql), for several control-plane replicas on one database.
package postgres
