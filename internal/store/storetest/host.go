package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

func init() {
	register("Host/CreateGetUpdateList", testHostCRUD)
	register("Host/JoinTokenOnce", testJoinTokenOnce)
	register("Host/JoinTokenConcurrent", testJoinTokenConcurrent)
	register("Host/NodesByHost", testNodesByHost)
}

func testHostCRUD(t *testing.T, s store.Store) {
	h := store.HostRecord{ID: "h1", Name: "m1", Address: "10.0.0.1", State: store.HostReady, CredentialHash: []byte{1, 2},
		Cores: 8, MemoryBytes: 16 << 30, MaxNodes: 32, LeaseExpiry: time.Unix(200, 7).UTC()}
	c := get(s.HostCreate(ctx(t), h)).must(t)
	if c.Version != 1 {
		t.Fatalf("created = %+v", c)
	}
	_, err := s.HostCreate(ctx(t), h)
	wantCode(t, err, cobalt.EConflict)
	g := get(s.HostGet(ctx(t), "h1")).must(t)
	if g.Name != "m1" || g.Address != "10.0.0.1" || g.Local || g.Cores != 8 || g.MemoryBytes != 16<<30 || g.MaxNodes != 32 ||
		string(g.CredentialHash) != "\x01\x02" || !g.LeaseExpiry.Equal(h.LeaseExpiry) {
		t.Fatalf("get = %+v", g)
	}
	get(s.HostCreate(ctx(t), store.HostRecord{ID: "h0", Name: "local", State: store.HostReady, Local: true})).must(t)
	u := get(s.HostUpdate(ctx(t), "h1", func(h *store.HostRecord) error {
		h.State, h.Local, h.Cores = store.HostRevoked, true, 4
		return nil
	})).must(t)
	if u.State != store.HostRevoked || u.Local || u.Cores != 4 || u.Version != 2 {
		t.Fatalf("updated = %+v (Local must not change)", u)
	}
	_, err = s.HostUpdate(ctx(t), "nope", func(*store.HostRecord) error { return nil })
	wantCode(t, err, cobalt.ENotFound)
	_, err = s.HostGet(ctx(t), "nope")
	wantCode(t, err, cobalt.ENotFound)
	list, next, err := s.HostList(ctx(t), store.Page{Limit: 1})
	if err != nil || len(list) != 1 || list[0].ID != "h0" || !list[0].Local || next == "" {
		t.Fatalf("page 1 = %+v %q %v", list, next, err)
	}
	list, next, err = s.HostList(ctx(t), store.Page{Limit: 1, Token: next})
	if err != nil || len(list) != 1 || list[0].ID != "h1" || next != "" {
		t.Fatalf("page 2 = %+v %q %v", list, next, err)
	}
}

func testJoinTokenOnce(t *testing.T, s store.Store) {
	now := time.Unix(1000, 0)
	if err := s.JoinTokenCreate(ctx(t), store.JoinToken{Hash: []byte("a"), ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.JoinTokenCreate(ctx(t), store.JoinToken{Hash: []byte("a"), ExpiresAt: now}), cobalt.EConflict)
	if err := s.JoinTokenCreate(ctx(t), store.JoinToken{Hash: []byte("old"), ExpiresAt: now.Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.JoinTokenUse(ctx(t), []byte("unknown"), "h1", now), cobalt.ENotFound)
	wantCode(t, s.JoinTokenUse(ctx(t), []byte("old"), "h1", now), cobalt.ENotFound)
	if err := s.JoinTokenUse(ctx(t), []byte("a"), "h1", now); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.JoinTokenUse(ctx(t), []byte("a"), "h2", now), cobalt.ENotFound)
}

// testJoinTokenConcurrent: of many concurrent uses of one token, one wins.
func testJoinTokenConcurrent(t *testing.T, s store.Store) {
	now := time.Unix(1000, 0)
	if err := s.JoinTokenCreate(ctx(t), store.JoinToken{Hash: []byte("c"), ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.JoinTokenUse(ctx(t), []byte("c"), "h"+string(rune('0'+i)), now)
			if err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			} else if !cobalt.IsCode(err, cobalt.ENotFound) {
				// A busy SQLite writer may fail a use outright; it must
				// still never succeed twice.
				t.Logf("use %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d uses of one join token succeeded, want 1", wins)
	}
}

func testNodesByHost(t *testing.T, s store.Store) {
	a := newNode("tvm-a", "p1", "idle")
	a.HostID = "h1"
	get(s.NodeCreate(ctx(t), a)).must(t)
	get(s.NodeCreate(ctx(t), newNode("tvm-b", "p1", "idle"))).must(t)
	list, _, err := s.NodeList(ctx(t), store.NodeListParams{HostID: "h1"})
	if err != nil || len(list) != 1 || list[0].ID != "tvm-a" || list[0].HostID != "h1" {
		t.Fatalf("nodes of h1 = %+v %v", list, err)
	}
	get(s.NodeUpdate(ctx(t), "tvm-b", func(n *store.NodeRecord) error { n.HostID = "h1"; return nil })).must(t)
	list, _, err = s.NodeList(ctx(t), store.NodeListParams{HostID: "h1"})
	if err != nil || len(list) != 2 {
		t.Fatalf("nodes of h1 after the move = %+v %v", list, err)
	}
}
