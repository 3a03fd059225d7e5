package batch

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
)

// TestPoolRenderedFreshness: a pool GET answered from the render cache
// without reading the store sees this replica's writes at once (update and
// delete) and another replica's once poolFresh has passed.
func TestPoolRenderedFreshness(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	var mu sync.Mutex
	now := time.Unix(1000, 0)
	e.svc.renders.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	ctx := context.Background()
	get := func(s *Service) string {
		t.Helper()
		b, _, err := s.PoolRendered(ctx, e.acct.ID, "p1", "test", func(p *cobalt.Pool) ([]byte, error) {
			return []byte(strconv.Itoa(int(p.TargetDedicatedNodes)) + " " + string(p.State)), nil
		})
		if err != nil {
			return string(cobalt.ErrorCode(err))
		}
		return string(b)
	}
	e.put("p1", armPool(1))
	if got := get(e.svc); got != "1 active" {
		t.Fatalf("first GET: %s, want 1", got)
	}
	e.put("p1", armPool(2)) // this replica's write
	if got := get(e.svc); got != "2 active" {
		t.Errorf("GET after this replica's update: %s, want 2 at once", got)
	}
	other, err := New(Config{Store: e.st, Now: e.clock, Nodes: e.nodes, Identities: e.dir, MaxNodes: 20, Location: "local"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := other.PoolPut(ctx, e.acct, "p1", armPool(3), Conditions{}); err != nil {
		t.Fatal(err)
	}
	if got := get(e.svc); got != "2 active" {
		t.Errorf("GET within poolFresh of another replica's write: %s, want the cached 2 (no store read)", got)
	}
	advance(poolFresh)
	if got := get(e.svc); got != "3 active" {
		t.Errorf("GET poolFresh after another replica's write: %s, want 3", got)
	}
	if _, err := e.svc.PoolDelete(ctx, lower(e.acct.ID), "p1", Conditions{}); err != nil {
		t.Fatal(err)
	}
	if got := get(e.svc); got != "3 deleting" {
		t.Errorf("GET after this replica's delete: %s, want 3 deleting at once", got)
	}
}
