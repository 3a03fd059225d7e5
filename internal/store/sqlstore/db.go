package sqlstore

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cobaltbatch/cobalt"
)

// Dialect is what a backend supplies to sqlstore.
type Dialect struct {
	// Name is "sqlite" or "postgres".
	Name string
	// Migrations holds files named NNNN_name.sql, applied in order, each once.
	Migrations fs.FS
	// MigrationLock is run first in the migration transaction to serialize
	// replicas migrating one database ("" for none).
	MigrationLock string
	// ForUpdate is appended to a SELECT that reads a row to be rewritten in the
	// same transaction (" FOR UPDATE" on PostgreSQL; SQLite's writer lock makes it unneeded).
	ForUpdate string
	// IsUniqueViolation reports whether err is a unique-constraint violation.
	IsUniqueViolation func(error) bool
	// Compute holds the compute statements whose text differs per dialect.
	Compute ComputeQueries
}

// ComputeQueries are the dialect-specific statements of the compute slice.
// The batch scheduler owns their meaning.
type ComputeQueries struct {
	// TaskClaimLock is appended to the SELECT of queued tasks in a claim: on
	// PostgreSQL " FOR UPDATE SKIP LOCKED", so that concurrent claims by
	// several replicas take disjoint tasks; "" on SQLite (one writer).
	TaskClaimLock string
	// NodeTouchPrelude runs first in the transaction of a heartbeat's
	// touch: on PostgreSQL "SET LOCAL synchronous_commit = off", so that a
	// heartbeat does not wait for a WAL flush; "" on SQLite.
	NodeTouchPrelude string
}

// DB is a store.Store over a writer handle and a reader handle (the same handle
// on PostgreSQL; on SQLite, a single-connection writer and a pool of readers).
type DB struct {
	w, r   *sql.DB
	d      Dialect
	now    func() time.Time
	sealer Sealer
	audit  auditWriter
}

// Config configures a DB.
type Config struct {
	// Now is the store's clock (nil for time.Now).
	Now func() time.Time
	// Sealer seals the bodies of store.SealedResourceTypes at rest. Nil
	// stores them in clear, and a sealed body then cannot be read: only
	// tests of other slices leave it nil.
	Sealer Sealer
}

// New returns a DB over the given handles, applies pending migrations and,
// with a sealer, seals the secrets an earlier version stored in clear.
func New(ctx context.Context, w, r *sql.DB, d Dialect, cfg Config) (*DB, error) {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	db := &DB{w: w, r: r, d: d, now: now, sealer: cfg.Sealer}
	if err := db.migrate(ctx); err != nil {
		return nil, fmt.Errorf("migrate %s store: %w", d.Name, err)
	}
	return db, nil
}

// Dialect names the backend.
func (db *DB) Dialect() string { return db.d.Name }

// Close closes both handles.
func (db *DB) Close() error {
	db.stopAudit()
	err := db.w.Close()
	if db.r != db.w {
		err = errors.Join(err, db.r.Close())
	}
	return err
}

// Writer returns the writer handle, for tests that inject faults.
func (db *DB) Writer() *sql.DB { return db.w }

func (db *DB) migrate(ctx context.Context) error {
	entries, err := fs.ReadDir(db.d.Migrations, ".")
	if err != nil {
		return err
	}
	type mig struct {
		version int
		name    string
	}
	var migs []mig
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".sql" {
			continue
		}
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return fmt.Errorf("migration %q: name must be NNNN_name.sql", e.Name())
		}
		migs = append(migs, mig{v, e.Name()})
	}
	sort.Slice(migs, func(i, j int) bool { return migs[i].version < migs[j].version })
	return db.tx(ctx, func(tx *sql.Tx) error {
		if db.d.MigrationLock != "" {
			if _, err := tx.ExecContext(ctx, db.d.MigrationLock); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
			return err
		}
		applied := map[int]bool{}
		rows, err := tx.QueryContext(ctx, `SELECT version FROM schema_migrations`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return err
			}
			applied[v] = true
		}
		if err := rows.Close(); err != nil {
			return err
		}
		for _, m := range migs {
			if applied[m.version] {
				continue
			}
			body, err := fs.ReadFile(db.d.Migrations, m.name)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return fmt.Errorf("apply %s: %w", m.name, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.version, m.name, db.now().UnixNano()); err != nil {
				return err
			}
		}
		return db.sealExisting(ctx, tx)
	})
}

// tx runs fn in a write transaction, committing if fn returns nil.
func (db *DB) tx(ctx context.Context, fn func(tx *sql.Tx) error) (err error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Tx runs fn in a write transaction. It is exported for the store slices that
// other packages of this module add.
func (db *DB) Tx(ctx context.Context, fn func(tx *sql.Tx) error) error { return db.tx(ctx, fn) }

// Reader returns the read handle.
func (db *DB) Reader() *sql.DB { return db.r }

// Now returns the store's clock reading.
func (db *DB) Now() time.Time { return db.now() }

// ForUpdate returns the dialect's row-lock suffix for a SELECT.
func (db *DB) ForUpdate() string { return db.d.ForUpdate }

// conflictOr maps a unique violation to EConflict with msg, and wraps anything else.
func (db *DB) conflictOr(err error, msg string) error {
	if err == nil {
		return nil
	}
	if db.d.IsUniqueViolation != nil && db.d.IsUniqueViolation(err) {
		return cobalt.Errorf(cobalt.EConflict, "%s", msg)
	}
	return err
}

// IsConflict maps a unique violation to EConflict with msg; other errors pass through.
func (db *DB) IsConflict(err error, msg string) error { return db.conflictOr(err, msg) }

func notFound(what string) error { return cobalt.Errorf(cobalt.ENotFound, "%s not found", what) }

func casLost(what string) error {
	return cobalt.Errorf(cobalt.EPreconditionFailed, "%s was changed concurrently", what)
}

// encodeToken makes an opaque page token from the last key of a page.
func encodeToken(key string) string { return base64.RawURLEncoding.EncodeToString([]byte(key)) }

// decodeToken reverses encodeToken; a malformed token is EInvalid.
func decodeToken(tok string) (string, error) {
	if tok == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return "", cobalt.Errorf(cobalt.EInvalid, "the page token is not valid")
	}
	return string(b), nil
}

// EncodePageToken and DecodePageToken are the page-token codec for other slices.
func EncodePageToken(key string) string { return encodeToken(key) }

// DecodePageToken decodes a token made by EncodePageToken.
func DecodePageToken(tok string) (string, error) { return decodeToken(tok) }

func limitOf(p int) int {
	switch {
	case p <= 0:
		return 100
	case p > 5000:
		return 5000
	default:
		return p
	}
}

// LimitOf clamps a page limit to the store's range (default 100, at most 5000).
func LimitOf(p int) int { return limitOf(p) }

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// UnixNano and FromUnixNano convert times to and from the stored form (0 = zero time).
func UnixNano(t time.Time) int64 { return unixNano(t) }

// FromUnixNano converts a stored time back.
func FromUnixNano(n int64) time.Time { return fromUnixNano(n) }
