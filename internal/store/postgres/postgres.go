package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/cobaltbatch/cobalt/internal/store/sqlstore"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// Dialect returns the PostgreSQL dialect for sqlstore.
func Dialect() sqlstore.Dialect {
	sub, _ := fs.Sub(migrations, "migrations")
	return sqlstore.Dialect{
		Name:              "postgres",
		Migrations:        sub,
		MigrationLock:     `SELECT pg_advisory_xact_lock(7301948151)`,
		ForUpdate:         " FOR UPDATE",
		IsUniqueViolation: isUnique,
		Compute:           computeQueries,
	}
}

func isUnique(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == "23505"
}

// maxConns bounds the store's PostgreSQL connections, open and idle alike.
const maxConns = 16

// Open connects to the database at url (postgres://...) and applies pending
// migrations. The store has no sealer: it is for tests; an installation uses OpenConfig.
func Open(ctx context.Context, url string, now func() time.Time) (*sqlstore.DB, error) {
	return OpenConfig(ctx, url, sqlstore.Config{Now: now})
}

// OpenConfig is Open with the store's configuration, its sealer included.
func OpenConfig(ctx context.Context, url string, cfg sqlstore.Config) (*sqlstore.DB, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	// Keep every connection the pool opens: database/sql keeps only two
	// idle by default, so under a fleet's load each burst past two closed
	// its connections and the next one opened new ones (a PostgreSQL
	// backend started per connection, its prepared statements lost).
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	s, err := sqlstore.New(ctx, db, db, Dialect(), cfg)
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}
