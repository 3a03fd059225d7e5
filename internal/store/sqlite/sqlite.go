package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"time"

	"github.com/cobaltbatch/cobalt/internal/store/sqlstore"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Dialect returns the SQLite dialect for sqlstore.
func Dialect() sqlstore.Dialect {
	sub, _ := fs.Sub(migrations, "migrations")
	return sqlstore.Dialect{
		Name:              "sqlite",
		Migrations:        sub,
		IsUniqueViolation: isUnique,
		Compute:           computeQueries,
	}
}

func isUnique(err error) bool {
	var e *sqlite.Error
	if errors.As(err, &e) {
		c := e.Code()
		return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// Open opens (creating if needed) the database file at path and applies
// pending migrations. now is the store's clock (nil for time.Now). The store
// has no sealer: it is for tests; an installation uses OpenConfig.
func Open(ctx context.Context, path string, now func() time.Time) (*sqlstore.DB, error) {
	return OpenConfig(ctx, path, sqlstore.Config{Now: now})
}

// OpenConfig is Open with the store's configuration, its sealer included.
func OpenConfig(ctx context.Context, path string, cfg sqlstore.Config) (*sqlstore.DB, error) {
	if err := privateFiles(path); err != nil {
		return nil, err
	}
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)", "foreign_keys(1)", "synchronous(NORMAL)"} {
		q.Add("_pragma", p)
	}
	wq := url.Values{}
	for k, v := range q {
		wq[k] = v
	}
	wq.Set("_txlock", "immediate")
	w := sql.OpenDB(newConnector("file:" + path + "?" + wq.Encode()))
	// One writer: SQLite serializes writes anyway; one connection avoids SQLITE_BUSY.
	w.SetMaxOpenConns(1)
	w.SetConnMaxLifetime(0)
	r := sql.OpenDB(newConnector("file:" + path + "?" + q.Encode()))
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	db, err := sqlstore.New(ctx, w, r, Dialect(), cfg)
	if err != nil {
		w.Close()
		r.Close()
		return nil, err
	}
	return db, nil
}

// privateFiles makes the database file, and its WAL and shared-memory files
// when they exist, readable by their owner only (0600): the database holds
// every account of the installation. A new database file is created empty
// with that mode, so that SQLite, which gives the -wal and -shm files the
// main file's mode, creates them 0600 too; an existing installation's files
// are tightened at every start.
func privateFiles(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		if err := f.Close(); err != nil {
			return fmt.Errorf("create sqlite %s: %w", path, err)
		}
	case !errors.Is(err, os.ErrExist):
		return fmt.Errorf("create sqlite %s: %w", path, err)
	}
	for _, name := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		if err := os.Chmod(name, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("sqlite file permissions: %w", err)
		}
	}
	return nil
}
