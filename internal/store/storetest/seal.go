package storetest

import (
	"bytes"
	"database/sql"
	"strings"
	"testing"

	"github.com/cobaltbatch/cobalt/internal/store"
	"github.com/cobaltbatch/cobalt/internal/store/sqlstore"
)

func init() {
	register("Resource/KeysSealedAtRest", testResourceSealed)
}

// sealTestKey stands for an account key: it must never appear in the database.
const sealTestKey = "c2VjcmV0LWFjY291bnQta2V5LW9mLXRoZS1jb25mb3JtYW5jZS1zdWl0ZQ=="

// rawBody reads a resource's body column as the database holds it.
func rawBody(t *testing.T, s store.Store, key string) []byte {
	t.Helper()
	r, ok := s.(interface{ Reader() *sql.DB })
	if !ok {
		t.Skip("the store does not expose its database")
	}
	var body []byte
	if err := r.Reader().QueryRowContext(ctx(t), `SELECT body FROM resources WHERE key = $1`, key).Scan(&body); err != nil {
		t.Fatal(err)
	}
	return body
}

func keyBody(key string) []byte {
	return []byte(`{"properties":{"provisioningState":"Succeeded"},"keys":[{"value":"` + key + `"}]}`)
}

func testResourceSealed(t *testing.T, s store.Store) {
	for _, typ := range store.SealedResourceTypes {
		name := strings.ToLower(typ[strings.LastIndex(typ, "/")+1:]) + "1"
		r := get(s.ResourceCreate(ctx(t), resNewResource("rg", typ, name))).must(t)
		r = get(s.ResourceUpdate(ctx(t), r.Key, func(x *store.Resource) error {
			x.Body = keyBody(sealTestKey)
			return nil
		})).must(t)
		if raw := rawBody(t, s, r.Key); bytes.Contains(raw, []byte(sealTestKey)) || bytes.Contains(raw, []byte("provisioningState")) {
			t.Fatalf("%s: the body column holds the key in clear: %q", typ, raw)
		}
		if g := get(s.ResourceGet(ctx(t), r.Key)).must(t); !bytes.Equal(g.Body, keyBody(sealTestKey)) {
			t.Fatalf("%s: get returns body %q", typ, g.Body)
		}
		l := get2(s.ResourceList(ctx(t), store.ResourceListParams{Type: typ})).must(t).items
		if len(l) != 1 || !bytes.Equal(l[0].Body, keyBody(sealTestKey)) {
			t.Fatalf("%s: list returns %+v", typ, l)
		}
		// A sealed body is bound to its row: copied into another, it does not open.
		other := get(s.ResourceCreate(ctx(t), resNewResource("rg", typ, name+"x"))).must(t)
		w, _ := s.(interface{ Writer() *sql.DB })
		if _, err := w.Writer().ExecContext(ctx(t), `UPDATE resources SET body = $1 WHERE key = $2`, rawBody(t, s, r.Key), other.Key); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ResourceGet(ctx(t), other.Key); err == nil {
			t.Fatalf("%s: a sealed body moved to another resource opened", typ)
		}
	}
	// Other types are stored as given.
	id := get(s.ResourceCreate(ctx(t), resNewResource("rg", "Microsoft.ManagedIdentity/userAssignedIdentities", "id1"))).must(t)
	if raw := rawBody(t, s, id.Key); !bytes.Equal(raw, id.Body) {
		t.Fatalf("an identity's body is stored as %q", raw)
	}
}

// SealMigration checks that keys an earlier version stored in clear are
// sealed when the store opens with a sealer, with their versions kept.
// open opens the same database every time it is called, with the given
// sealer (nil for none); each store it returns is closed by SealMigration.
func SealMigration(t *testing.T, open func(sqlstore.Sealer) store.Store) {
	s := open(nil)
	var keys []string
	for _, typ := range store.SealedResourceTypes {
		r := resNewResource("rg", typ, "legacy"+strings.ToLower(typ[strings.LastIndex(typ, "/")+1:]))
		r.Body = keyBody(sealTestKey)
		r = get(s.ResourceCreate(ctx(t), r)).must(t)
		if raw := rawBody(t, s, r.Key); !bytes.Contains(raw, []byte(sealTestKey)) {
			t.Fatalf("without a sealer, the body should be stored as given: %q", raw)
		}
		keys = append(keys, r.Key)
	}
	s.Close()
	sealer := TestSealer(t)
	s = open(sealer)
	for _, k := range keys {
		if raw := rawBody(t, s, k); bytes.Contains(raw, []byte(sealTestKey)) {
			t.Fatalf("%s: still in clear after opening with a sealer: %q", k, raw)
		}
		g := get(s.ResourceGet(ctx(t), k)).must(t)
		if !bytes.Equal(g.Body, keyBody(sealTestKey)) || g.Version != 1 {
			t.Fatalf("%s: after sealing, version %d body %q", k, g.Version, g.Body)
		}
	}
	s.Close()
	// Opened again, nothing is sealed twice.
	s = open(sealer)
	defer s.Close()
	for _, k := range keys {
		if g := get(s.ResourceGet(ctx(t), k)).must(t); !bytes.Equal(g.Body, keyBody(sealTestKey)) {
			t.Fatalf("%s: after a second open, body %q", k, g.Body)
		}
	}
	// Without the seal key, a sealed body cannot be read.
	s2 := open(nil)
	defer s2.Close()
	if _, err := s2.ResourceGet(ctx(t), keys[0]); err == nil {
		t.Fatal("a sealed body was read without the seal key")
	}
}
