package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"path/filepath"
	"testing"

	"github.com/cobaltbatch/cobalt/internal/store"
	"github.com/cobaltbatch/cobalt/internal/store/postgres"
	"github.com/cobaltbatch/cobalt/internal/store/sqlite"
	"github.com/cobaltbatch/cobalt/internal/store/sqlstore"
	"github.com/cobaltbatch/cobalt/internal/testenv"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to create schemas
)

// TestSealer returns a sealer with a fresh random key.
func TestSealer(t testing.TB) sqlstore.Sealer {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	s, err := sqlstore.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// SQLite returns a Factory of SQLite stores in temporary directories, each
// with a sealer, as an installation's.
func SQLite(t *testing.T) Factory {
	return func(t *testing.T) store.Store {
		s, err := sqlite.OpenConfig(context.Background(), filepath.Join(t.TempDir(), "cobalt.db"), sqlstore.Config{Sealer: TestSealer(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
}

// PostgresURL returns TEST_POSTGRES_URL. When it is unset the test skips, or
// fails under CI=true (testenv.PostgresURL).
func PostgresURL(t testing.TB) string {
	t.Helper()
	return testenv.PostgresURL(t)
}

// Postgres returns a Factory of PostgreSQL stores, each in a schema of its own
// on the database at TEST_POSTGRES_URL, dropped when the test ends, each with
// a sealer. It skips when TEST_POSTGRES_URL is unset (fails under CI=true).
func Postgres(t *testing.T) Factory {
	base := PostgresURL(t)
	return func(t *testing.T) store.Store {
		u := NewPostgresSchema(t, base)
		s, err := postgres.OpenConfig(context.Background(), u, sqlstore.Config{Sealer: TestSealer(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
}

// NewPostgresSchema creates a fresh schema on the database at base, drops it at
// cleanup, and returns a URL whose connections use it.
func NewPostgresSchema(t testing.TB, base string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		admin.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
