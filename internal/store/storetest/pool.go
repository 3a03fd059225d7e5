package storetest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

func init() {
	register("Pool/CreateGetCaseInsensitive", testPoolCreateGet)
	register("Pool/UpdateCAS", testPoolUpdateCAS)
	register("Pool/ListFiltersAndPages", testPoolList)
	register("Pool/Delete", testPoolDelete)
	register("Pool/GetAfterClose", testPoolGetAfterClose)
}

const acct1 = "/subscriptions/S1/resourceGroups/RG/providers/Microsoft.Batch/batchAccounts/Acct1"

func newPool(account, id string) store.PoolRecord {
	return store.PoolRecord{AccountKey: account, ID: id, State: "active", AllocationState: "steady", Body: []byte(`{"id":"` + id + `"}`)}
}

func testPoolCreateGet(t *testing.T, s store.Store) {
	p := get(s.PoolCreate(ctx(t), newPool(acct1, "Pool-A"))).must(t)
	if p.Version != 1 || p.Key != "pool-a" || p.CreatedAt.IsZero() {
		t.Fatalf("created = %+v", p)
	}
	got := get(s.PoolGet(ctx(t), acct1, "POOL-a")).must(t)
	if got.ID != "Pool-A" || string(got.Body) != `{"id":"Pool-A"}` || got.State != "active" || got.AllocationState != "steady" {
		t.Fatalf("get = %+v", got)
	}
	_, err := s.PoolCreate(ctx(t), newPool(acct1, "pool-a"))
	wantCode(t, err, cobalt.EConflict)
	// The same pool ID in another account is another pool.
	get(s.PoolCreate(ctx(t), newPool(acct1+"x", "pool-a"))).must(t)
	_, err = s.PoolGet(ctx(t), acct1, "nope")
	wantCode(t, err, cobalt.ENotFound)
}

func testPoolUpdateCAS(t *testing.T, s store.Store) {
	get(s.PoolCreate(ctx(t), newPool(acct1, "p1"))).must(t)
	u := get(s.PoolUpdate(ctx(t), acct1, "P1", func(p *store.PoolRecord) error {
		p.AllocationState = "resizing"
		p.Body = []byte(`{"x":1}`)
		return nil
	})).must(t)
	if u.Version != 2 || u.AllocationState != "resizing" || u.ID != "p1" {
		t.Fatalf("updated = %+v", u)
	}
	// fn errors are returned as they are and nothing is written.
	_, err := s.PoolUpdate(ctx(t), acct1, "p1", func(p *store.PoolRecord) error {
		p.State = "deleting"
		return cobalt.Errorf(cobalt.EConflict, "no")
	})
	wantCode(t, err, cobalt.EConflict)
	if g := get(s.PoolGet(ctx(t), acct1, "p1")).must(t); g.State != "active" || g.Version != 2 {
		t.Fatalf("after failed update: %+v", g)
	}
	_, err = s.PoolUpdate(ctx(t), acct1, "absent", func(*store.PoolRecord) error { return nil })
	wantCode(t, err, cobalt.ENotFound)
	// Concurrent increments through a body counter: none is lost.
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				_, err := s.PoolUpdate(ctx(t), acct1, "p1", func(p *store.PoolRecord) error {
					p.Body = append([]byte(nil), p.Body...)
					p.Body = append(p.Body[:len(p.Body)-1], '}')
					return nil
				})
				if cobalt.IsCode(err, cobalt.EPreconditionFailed) {
					continue
				}
				errs <- err
				return
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if g := get(s.PoolGet(ctx(t), acct1, "p1")).must(t); g.Version != 12 {
		t.Fatalf("version after 10 concurrent updates = %d, want 12", g.Version)
	}
}

func testPoolList(t *testing.T, s store.Store) {
	for i := range 5 {
		p := newPool(acct1, fmt.Sprintf("p%d", i))
		if i%2 == 1 {
			p.AllocationState = "resizing"
		}
		get(s.PoolCreate(ctx(t), p)).must(t)
	}
	get(s.PoolCreate(ctx(t), newPool("/other", "q"))).must(t)
	all := get2(s.PoolList(ctx(t), store.PoolListParams{})).must(t)
	if len(all.items) != 6 {
		t.Fatalf("all = %d pools", len(all.items))
	}
	var ids []string
	tok := ""
	for {
		l := get2(s.PoolList(ctx(t), store.PoolListParams{AccountKey: acct1, Page: store.Page{Limit: 2, Token: tok}})).must(t)
		for _, p := range l.items {
			ids = append(ids, p.ID)
		}
		if tok = l.next; tok == "" {
			break
		}
	}
	if fmt.Sprint(ids) != "[p0 p1 p2 p3 p4]" {
		t.Fatalf("paged ids = %v", ids)
	}
	tok = ""
	n := 0
	for {
		l := get2(s.PoolList(ctx(t), store.PoolListParams{Page: store.Page{Limit: 4, Token: tok}})).must(t)
		n += len(l.items)
		if tok = l.next; tok == "" {
			break
		}
	}
	if n != 6 {
		t.Fatalf("paging across accounts listed %d pools", n)
	}
	r := get2(s.PoolList(ctx(t), store.PoolListParams{AllocationStates: []string{"resizing", "stopping"}})).must(t)
	if len(r.items) != 2 || r.items[0].ID != "p1" || r.items[1].ID != "p3" {
		t.Fatalf("resizing = %+v", r.items)
	}
	_, _, err := s.PoolList(ctx(t), store.PoolListParams{Page: store.Page{Token: "!!"}})
	wantCode(t, err, cobalt.EInvalid)
}

func testPoolDelete(t *testing.T, s store.Store) {
	get(s.PoolCreate(ctx(t), newPool(acct1, "p1"))).must(t)
	if err := s.PoolDelete(ctx(t), acct1, "P1"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.PoolDelete(ctx(t), acct1, "p1"), cobalt.ENotFound)
	_, err := s.PoolGet(ctx(t), acct1, "p1")
	wantCode(t, err, cobalt.ENotFound)
}

type page[T any] struct {
	items []T
	next  string
}

func get2[T any](items []T, next string, err error) result[page[T]] {
	return result[page[T]]{page[T]{items, next}, err}
}

// testPoolGetAfterClose checks that a store's cached statements go with it:
// a read after Close fails cleanly.
func testPoolGetAfterClose(t *testing.T, s store.Store) {
	get(s.PoolCreate(ctx(t), newPool(acct1, "p1"))).must(t)
	for range 2 { // the second read reuses what the first prepared
		get(s.PoolGet(ctx(t), acct1, "p1")).must(t)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PoolGet(ctx(t), acct1, "p1"); err == nil || cobalt.IsCode(err, cobalt.ENotFound) {
		t.Fatalf("PoolGet after Close: %v", err)
	}
}
