package benchrun

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// DefaultFleetPostgres is the PostgreSQL server `cobalt bench fleet` uses
// by default: the local server's Unix socket, which a loopback-only network
// namespace still reaches (sockets in the file system are not in a network
// namespace), as the postgres superuser with trust authentication.
const DefaultFleetPostgres = "postgres://postgres@/postgres?host=/var/run/postgresql&sslmode=disable"

// freshDatabase creates an empty database on the server of admin (a
// postgres:// URL of a user who may create databases) and returns its URL
// and a function that drops it.
func freshDatabase(ctx context.Context, admin string) (string, func(), error) {
	u, err := url.Parse(admin)
	if err != nil {
		return "", nil, fmt.Errorf("--postgres: %w", err)
	}
	db, err := sql.Open("pgx", admin)
	if err != nil {
		return "", nil, err
	}
	name := fmt.Sprintf("cobalt_fleet_%d_%d", os.Getpid(), time.Now().UnixNano())
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		db.Close()
		return "", nil, fmt.Errorf("create the bench's database: %w", err)
	}
	u.Path = "/" + name
	drop := func() {
		dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, _ = db.ExecContext(dctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		db.Close()
	}
	return u.String(), drop, nil
}
