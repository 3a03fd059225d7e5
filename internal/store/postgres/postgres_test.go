package postgres_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/cobaltbatch/cobalt/internal/store"
	"github.com/cobaltbatch/cobalt/internal/store/postgres"
	"github.com/cobaltbatch/cobalt/internal/store/sqlstore"

	"github.com/cobaltbatch/cobalt/internal/store/storetest"
)

func TestConformance(t *testing.T) { storetest.Run(t, storetest.Postgres(t)) }

func TestSealMigration(t *testing.T) {
	u := storetest.NewPostgresSchema(t, storetest.PostgresURL(t))
	storetest.SealMigration(t, func(s sqlstore.Sealer) store.Store {
		db, err := postgres.OpenConfig(context.Background(), u, sqlstore.Config{Sealer: s})
		if err != nil {
			t.Fatal(err)
		}
		return db
	})
}

func TestNamesMigration(t *testing.T) {
	u := storetest.NewPostgresSchema(t, storetest.PostgresURL(t))
	raw, err := sql.Open("pgx", u)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	storetest.NamesMigration(t, raw, postgres.Dialect(), func() store.Store {
		db, err := postgres.OpenConfig(context.Background(), u, sqlstore.Config{Sealer: storetest.TestSealer(t)})
		if err != nil {
			t.Fatal(err)
		}
		return db
	})
}
