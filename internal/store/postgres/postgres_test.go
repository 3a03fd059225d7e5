package postgres_test

import (
	"context"
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
