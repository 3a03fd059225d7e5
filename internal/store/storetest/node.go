package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

func init() {
	register("Node/CreateGetDelete", testNodeCreateGet)
	register("Node/UpdateCAS", testNodeUpdate)
	register("Node/ListByPoolStateAndExpiry", testNodeList)
	register("Node/Counts", testNodeCounts)
	register("Node/CreateManyAllOrNone", testNodeCreateMany)
	register("Node/TouchCAS", testNodeTouch)
	register("Node/TouchManyCAS", testNodeTouchMany)
}

func testNodeTouchMany(t *testing.T, s store.Store) {
	a := get(s.NodeCreate(ctx(t), newNode("a1", "p", "idle"))).must(t)
	b := get(s.NodeCreate(ctx(t), newNode("b1", "p", "idle"))).must(t)
	hb, exp := time.Unix(500, 1).UTC(), time.Unix(530, 2).UTC()
	ok := get(s.NodeTouchMany(ctx(t), []store.NodeTouch{
		{NodeID: "a1", Version: a.Version, HeartbeatAt: hb, LeaseExpiry: exp},
		{NodeID: "absent", Version: 1, HeartbeatAt: hb, LeaseExpiry: exp},
		{NodeID: "b1", Version: b.Version + 5, HeartbeatAt: hb, LeaseExpiry: exp}, // stale
	})).must(t)
	if len(ok) != 3 || !ok[0] || ok[1] || ok[2] {
		t.Fatalf("touched = %v, want [true false false]", ok)
	}
	ga := get(s.NodeGet(ctx(t), "a1")).must(t)
	if ga.Version != a.Version+1 || !ga.HeartbeatAt.Equal(hb) || !ga.LeaseExpiry.Equal(exp) || ga.State != "idle" {
		t.Fatalf("a1 after touch = %+v", ga)
	}
	if gb := get(s.NodeGet(ctx(t), "b1")).must(t); gb.Version != b.Version || !gb.HeartbeatAt.Equal(b.HeartbeatAt) {
		t.Fatalf("b1 after a stale touch = %+v", gb)
	}
	if ok := get(s.NodeTouchMany(ctx(t), nil)).must(t); len(ok) != 0 {
		t.Fatalf("empty batch = %v", ok)
	}
}

func testNodeCreateMany(t *testing.T, s store.Store) {
	ns := get(s.NodeCreateMany(ctx(t), []store.NodeRecord{newNode("m1", "Pool1", "creating"), newNode("m2", "Pool1", "creating")})).must(t)
	if len(ns) != 2 || ns[0].Version != 1 || ns[1].PoolKey != "pool1" || ns[0].CreatedAt.IsZero() {
		t.Fatalf("created = %+v", ns)
	}
	for _, id := range []string{"m1", "m2"} {
		if g := get(s.NodeGet(ctx(t), id)).must(t); g.State != "creating" || string(g.CredentialHash) != "\x09\x09" {
			t.Fatalf("get %s = %+v", id, g)
		}
	}
	// One ID that exists: nothing of the batch is stored.
	_, err := s.NodeCreateMany(ctx(t), []store.NodeRecord{newNode("m3", "Pool1", "creating"), newNode("m1", "Pool1", "creating")})
	wantCode(t, err, cobalt.EConflict)
	_, err = s.NodeGet(ctx(t), "m3")
	wantCode(t, err, cobalt.ENotFound)
	if ns := get(s.NodeCreateMany(ctx(t), nil)).must(t); len(ns) != 0 {
		t.Fatalf("empty batch = %+v", ns)
	}
}

func testNodeTouch(t *testing.T, s store.Store) {
	c := get(s.NodeCreate(ctx(t), newNode("t1", "p", "idle"))).must(t)
	hb, exp := time.Unix(300, 7).UTC(), time.Unix(330, 9).UTC()
	v := get(s.NodeTouch(ctx(t), "t1", c.Version, hb, exp)).must(t)
	if v != c.Version+1 {
		t.Fatalf("touch version = %d, want %d", v, c.Version+1)
	}
	g := get(s.NodeGet(ctx(t), "t1")).must(t)
	if g.Version != v || !g.HeartbeatAt.Equal(hb) || !g.LeaseExpiry.Equal(exp) || g.State != "idle" || string(g.Body) != "{}" {
		t.Fatalf("after touch = %+v", g)
	}
	// A touch with a stale version changes nothing.
	_, err := s.NodeTouch(ctx(t), "t1", c.Version, time.Unix(400, 0).UTC(), time.Unix(430, 0).UTC())
	wantCode(t, err, cobalt.EPreconditionFailed)
	if g := get(s.NodeGet(ctx(t), "t1")).must(t); g.Version != v || !g.HeartbeatAt.Equal(hb) {
		t.Fatalf("after a stale touch = %+v", g)
	}
	// The expiry query sees the touched lease.
	for _, c := range []struct {
		before time.Time
		want   int
	}{{time.Unix(331, 0), 1}, {time.Unix(330, 0), 0}} {
		ns, _, err := s.NodeList(ctx(t), store.NodeListParams{ExpiredBefore: c.before})
		if err != nil || len(ns) != c.want {
			t.Fatalf("expired before %v: %d nodes, %v; want %d", c.before, len(ns), err, c.want)
		}
	}
	_, err = s.NodeTouch(ctx(t), "absent", 1, hb, exp)
	wantCode(t, err, cobalt.ENotFound)
}

func newNode(id, pool, state string) store.NodeRecord {
	return store.NodeRecord{ID: id, AccountKey: acct1, PoolKey: pool, State: state,
		CredentialHash: []byte{9, 9}, Identities: []byte(`[{"resourceId":"/x"}]`), Body: []byte(`{}`)}
}

func testNodeCreateGet(t *testing.T, s store.Store) {
	n := newNode("tvm-1_1", "Pool1", "creating")
	n.LeaseExpiry = time.Unix(100, 5).UTC()
	c := get(s.NodeCreate(ctx(t), n)).must(t)
	if c.Version != 1 || c.PoolKey != "pool1" {
		t.Fatalf("created = %+v", c)
	}
	g := get(s.NodeGet(ctx(t), "tvm-1_1")).must(t)
	if g.State != "creating" || string(g.CredentialHash) != "\x09\x09" || string(g.Identities) != `[{"resourceId":"/x"}]` ||
		!g.LeaseExpiry.Equal(n.LeaseExpiry) || g.StartTaskInfo != nil || g.AccountKey != acct1Key() {
		t.Fatalf("get = %+v", g)
	}
	_, err := s.NodeCreate(ctx(t), n)
	wantCode(t, err, cobalt.EConflict)
	if err := s.NodeDelete(ctx(t), "tvm-1_1"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.NodeDelete(ctx(t), "tvm-1_1"), cobalt.ENotFound)
	_, err = s.NodeGet(ctx(t), "tvm-1_1")
	wantCode(t, err, cobalt.ENotFound)
}

func acct1Key() string {
	return "/subscriptions/s1/resourcegroups/rg/providers/microsoft.batch/batchaccounts/acct1"
}

func testNodeUpdate(t *testing.T, s store.Store) {
	get(s.NodeCreate(ctx(t), newNode("n1", "p", "creating"))).must(t)
	hb := time.Unix(200, 0).UTC()
	u := get(s.NodeUpdate(ctx(t), "n1", func(n *store.NodeRecord) error {
		n.State, n.HeartbeatAt, n.StartTaskInfo = "idle", hb, []byte(`{"state":"completed"}`)
		n.PoolKey = "elsewhere" // ignored: a node never moves
		return nil
	})).must(t)
	if u.Version != 2 || u.State != "idle" || u.PoolKey != "p" {
		t.Fatalf("updated = %+v", u)
	}
	g := get(s.NodeGet(ctx(t), "n1")).must(t)
	if !g.HeartbeatAt.Equal(hb) || string(g.StartTaskInfo) != `{"state":"completed"}` || g.PoolKey != "p" {
		t.Fatalf("get = %+v", g)
	}
	_, err := s.NodeUpdate(ctx(t), "n1", func(*store.NodeRecord) error { return cobalt.Errorf(cobalt.EConflict, "x") })
	wantCode(t, err, cobalt.EConflict)
	_, err = s.NodeUpdate(ctx(t), "n2", func(*store.NodeRecord) error { return nil })
	wantCode(t, err, cobalt.ENotFound)
}

func testNodeList(t *testing.T, s store.Store) {
	for i := range 6 {
		n := newNode(fmt.Sprintf("n%d", i), fmt.Sprintf("p%d", i%2), []string{"idle", "running", "creating"}[i%3])
		n.LeaseExpiry = time.Unix(int64(100*(i+1)), 0)
		get(s.NodeCreate(ctx(t), n)).must(t)
	}
	get(s.NodeCreate(ctx(t), newNode("n9", "p0", "idle"))).must(t) // no lease: never expires
	ids := func(ns []store.NodeRecord) string {
		var out []string
		for _, n := range ns {
			out = append(out, n.ID)
		}
		return fmt.Sprint(out)
	}
	l := get2(s.NodeList(ctx(t), store.NodeListParams{AccountKey: acct1, PoolKey: "P0"})).must(t)
	if got := ids(l.items); got != "[n0 n2 n4 n9]" {
		t.Fatalf("pool p0 = %s", got)
	}
	l = get2(s.NodeList(ctx(t), store.NodeListParams{PoolKey: "p0", States: []string{"idle", "creating"}})).must(t)
	if got := ids(l.items); got != "[n0 n2 n9]" {
		t.Fatalf("pool p0 idle/creating = %s", got)
	}
	l = get2(s.NodeList(ctx(t), store.NodeListParams{ExpiredBefore: time.Unix(350, 0)})).must(t)
	if got := ids(l.items); got != "[n0 n1 n2]" {
		t.Fatalf("expired = %s", got)
	}
	var all []store.NodeRecord
	tok := ""
	for {
		l = get2(s.NodeList(ctx(t), store.NodeListParams{Page: store.Page{Limit: 3, Token: tok}})).must(t)
		all = append(all, l.items...)
		if tok = l.next; tok == "" {
			break
		}
	}
	if got := ids(all); got != "[n0 n1 n2 n3 n4 n5 n9]" {
		t.Fatalf("paged = %s", got)
	}
}

func testNodeCounts(t *testing.T, s store.Store) {
	for i, st := range []string{"idle", "idle", "running", "creating"} {
		get(s.NodeCreate(ctx(t), newNode(fmt.Sprintf("a%d", i), "p1", st))).must(t)
	}
	o := newNode("b1", "p2", "idle")
	o.AccountKey = "/other"
	get(s.NodeCreate(ctx(t), o)).must(t)
	c := get(s.NodeCounts(ctx(t), acct1, "P1")).must(t)
	if fmt.Sprint(c) != fmt.Sprintf("[{%[1]s p1 creating 1} {%[1]s p1 idle 2} {%[1]s p1 running 1}]", acct1Key()) {
		t.Fatalf("counts = %v", c)
	}
	all := get(s.NodeCounts(ctx(t), "", "")).must(t)
	if len(all) != 4 {
		t.Fatalf("all counts = %v", all)
	}
}
