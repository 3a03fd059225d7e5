package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/cobaltbatch/cobalt/internal/store"
	"github.com/cobaltbatch/cobalt/internal/store/sqlite"
	"github.com/cobaltbatch/cobalt/internal/store/sqlstore"

	"github.com/cobaltbatch/cobalt/internal/store/storetest"
)

func TestConformance(t *testing.T) { storetest.Run(t, storetest.SQLite(t)) }

func TestSealMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cobalt.db")
	storetest.SealMigration(t, func(s sqlstore.Sealer) store.Store {
		db, err := sqlite.OpenConfig(context.Background(), path, sqlstore.Config{Sealer: s})
		if err != nil {
			t.Fatal(err)
		}
		return db
	})
}

func TestNamesMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cobalt.db")
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	storetest.NamesMigration(t, raw, sqlite.Dialect(), func() store.Store {
		db, err := sqlite.OpenConfig(context.Background(), path, sqlstore.Config{Sealer: storetest.TestSealer(t)})
		if err != nil {
			t.Fatal(err)
		}
		return db
	})
}
