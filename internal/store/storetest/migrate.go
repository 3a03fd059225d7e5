package storetest

import (
	"database/sql"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
	"github.com/cobaltbatch/cobalt/internal/store/sqlstore"
)

// applyBefore applies to db the dialect's migrations numbered below version,
// recording them as sqlstore does: the database an older Cobalt left.
func applyBefore(t *testing.T, db *sql.DB, d sqlstore.Dialect, version int) {
	t.Helper()
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	entries, err := fs.ReadDir(d.Migrations, ".")
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	for _, e := range entries {
		num, _, _ := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if err != nil || path.Ext(e.Name()) != ".sql" || v >= version {
			continue
		}
		body, err := fs.ReadFile(d.Migrations, e.Name())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(string(body)); err != nil {
			t.Fatalf("apply %s: %v", e.Name(), err)
		}
		if _, err := db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, 0)`, v, e.Name()); err != nil {
			t.Fatal(err)
		}
	}
}

// NamesMigration checks the migration that makes storage account names unique
// on a database an older Cobalt left, with two accounts that a race let share
// a name: the first by key keeps the name, the other keeps working without
// one, and the name is taken from then on. raw is a handle on that database
// (empty); open opens it as a store, which applies the pending migrations.
func NamesMigration(t *testing.T, raw *sql.DB, d sqlstore.Dialect, open func() store.Store) {
	applyBefore(t, raw, d, 10)
	ins := func(rg, typ, name string) string {
		r := resNewResource(rg, typ, name)
		if _, err := raw.Exec(`INSERT INTO resources (key, id, type, parent_key, subscription_id, resource_group, body, version, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, 1, 1, 1)`, r.Key, r.ID, r.Type, r.ParentKey, r.SubscriptionID, r.ResourceGroup, r.Body); err != nil {
			t.Fatal(err)
		}
		return r.Key
	}
	const sa = "Microsoft.Storage/storageAccounts"
	first, second, solo := ins("rg1", sa, "dup"), ins("rg2", sa, "dup"), ins("rg1", sa, "solo")
	ident := ins("rg1", "Microsoft.ManagedIdentity/userAssignedIdentities", "dup")
	s := open()
	defer s.Close()
	for key, want := range map[string]string{first: "dup", second: "", solo: "solo", ident: ""} {
		r := get(s.ResourceGet(ctx(t), key)).must(t)
		if r.UniqueName != want {
			t.Errorf("%s: unique name %q, want %q", key, r.UniqueName, want)
		}
	}
	_, err := s.ResourceCreate(ctx(t), storageAccount("rg3", "solo"))
	wantCode(t, err, cobalt.EConflict)
	get(s.ResourceCreate(ctx(t), storageAccount("rg3", "fresh"))).must(t)
}
