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

// fleetDB is one size's fresh database on the bench's PostgreSQL server.
type fleetDB struct {
	dsn   string  // its URL, for the child
	name  string  // its name
	admin *sql.DB // the server as the admin URL's user
}

// freshDatabase creates an empty database on the server of admin (a
// postgres:// URL of a user who may create databases).
func freshDatabase(ctx context.Context, admin string) (*fleetDB, error) {
	u, err := url.Parse(admin)
	if err != nil {
		return nil, fmt.Errorf("--postgres: %w", err)
	}
	db, err := sql.Open("pgx", admin)
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("cobalt_fleet_%d_%d", os.Getpid(), time.Now().UnixNano())
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		db.Close()
		return nil, fmt.Errorf("create the bench's database: %w", err)
	}
	u.Path = "/" + name
	return &fleetDB{dsn: u.String(), name: name, admin: db}, nil
}

// drop removes the database and closes the admin connection.
func (d *fleetDB) drop() {
	dctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, _ = d.admin.ExecContext(dctx, "DROP DATABASE IF EXISTS "+d.name+" WITH (FORCE)")
	d.admin.Close()
}

// backendCPU returns, by process id, the CPU time so far of the server
// processes serving the database (its sessions: the control plane's
// connections). It reads /proc, so it sees a server on this machine only;
// a server elsewhere gives an empty map.
func (d *fleetDB) backendCPU(ctx context.Context) (map[int]time.Duration, error) {
	rows, err := d.admin.QueryContext(ctx, "SELECT pid FROM pg_stat_activity WHERE datname = $1", d.name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int]time.Duration{}
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			return nil, err
		}
		if st, err := readProcStat(pid); err == nil {
			out[pid] = st.own
		}
	}
	return out, rows.Err()
}

// cpuBetween is the CPU the processes of after used since before: a
// process absent from before started meanwhile and counts whole; one gone
// from after took its time with it (the store keeps its sessions open).
func cpuBetween(before, after map[int]time.Duration) time.Duration {
	var sum time.Duration
	for pid, t := range after {
		sum += t - before[pid]
	}
	return sum
}
