package batch

import (
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/store"
)

func TestDecodedPoolsServeOnlyTheRecordTheyDecoded(t *testing.T) {
	p := NewPool("p1", &Spec{}, time.Unix(100, 0))
	p.TaskSlotsPerNode = 4
	var r store.PoolRecord
	if err := encodePool(p, &r); err != nil {
		t.Fatal(err)
	}
	r.AccountKey, r.Key, r.Version = "acct", "p1", 3
	c := newPoolDecodes()
	decode := func(r store.PoolRecord) (*Pool, error) { return c.Get(r.AccountKey+"\x00"+r.Key, r) }
	a, err := decode(r)
	if err != nil || a.TaskSlotsPerNode != 4 || a.ETag != ETagOf(3) {
		t.Fatalf("first decode: %+v %v", a, err)
	}
	if b, _ := decode(r); b != a {
		t.Fatal("the same record was decoded again")
	}
	// Any field decodePool reads makes another pool.
	p.TaskSlotsPerNode = 2
	changed := r
	if err := encodePool(p, &changed); err != nil {
		t.Fatal(err)
	}
	changed.AccountKey, changed.Key, changed.Version = "acct", "p1", 3
	if b, _ := decode(changed); b == a || b.TaskSlotsPerNode != 2 {
		t.Fatalf("a changed body served the old pool: %+v", b)
	}
	for name, mod := range map[string]func(*store.PoolRecord){
		"version":         func(r *store.PoolRecord) { r.Version++ },
		"state":           func(r *store.PoolRecord) { r.State = PoolDeleting },
		"allocationState": func(r *store.PoolRecord) { r.AllocationState = AllocResizing },
		"id case":         func(r *store.PoolRecord) { r.ID = "P1" },
	} {
		first, _ := decode(changed)
		next := changed
		mod(&next)
		got, err := decode(next)
		if err != nil || got == first {
			t.Fatalf("%s: the cached pool served a different record (%v)", name, err)
		}
		if got.ID != next.ID || got.State != next.State || got.AllocationState != next.AllocationState || got.ETag != ETagOf(next.Version) {
			t.Fatalf("%s: decoded %+v from %+v", name, got, next)
		}
	}
}
