// Package sqlite opens Cobalt's embedded store: a SQLite database file in WAL
// mode with one writer connection and a pool of readers (modernc.org/sqlite, no cgo).
package sqlite
