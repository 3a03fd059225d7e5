package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

func init() {
	register("Meta/PutIfAbsentKeepsFirst", testMetaPutIfAbsent)
	register("Principal/CreateGet", testPrincipalCreateGet)
	register("Principal/Conflicts", testPrincipalConflicts)
	register("Principal/UpdateCAS", testPrincipalUpdateCAS)
	register("Principal/ListPages", testPrincipalList)
	register("Principal/Delete", testPrincipalDelete)
	register("Principal/UserNameUniqueAnyCase", testPrincipalUserName)
	register("Key/Lifecycle", testKeyLifecycle)
	register("Audit/AppendList", testAudit)
	register("Audit/ConcurrentAppendsAllLand", testAuditConcurrent)
	register("Audit/AppendAfterCloseFails", testAuditAfterClose)
}

// result carries a call's two results, so that a test can write
// get(s.X(...)).must(t).
type result[T any] struct {
	v   T
	err error
}

func get[T any](v T, err error) result[T] { return result[T]{v, err} }

func (r result[T]) must(t *testing.T) T {
	t.Helper()
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.v
}

func wantCode(t *testing.T, err error, code cobalt.Code) {
	t.Helper()
	if got := cobalt.ErrorCode(err); got != code {
		t.Fatalf("error = %v (code %q), want code %q", err, got, code)
	}
}

func testMetaPutIfAbsent(t *testing.T, s store.Store) {
	_, err := s.MetaGet(ctx(t), "tenant")
	wantCode(t, err, cobalt.ENotFound)
	if v := get(s.MetaPutIfAbsent(ctx(t), "tenant", "a")).must(t); v != "a" {
		t.Fatalf("first put = %q", v)
	}
	if v := get(s.MetaPutIfAbsent(ctx(t), "tenant", "b")).must(t); v != "a" {
		t.Fatalf("second put = %q, want the first value kept", v)
	}
	if v := get(s.MetaGet(ctx(t), "tenant")).must(t); v != "a" {
		t.Fatalf("get = %q", v)
	}
}

func newPrincipal(i int) store.PrincipalRecord {
	return store.PrincipalRecord{Principal: cobalt.Principal{
		ObjectID: fmt.Sprintf("oid-%03d", i), ClientID: fmt.Sprintf("cid-%03d", i), TenantID: "t1",
		Kind: cobalt.KindServicePrincipal, DisplayName: fmt.Sprintf("sp %d", i)},
		Secrets: []store.Secret{{ID: "s1", Hint: "abc", Hash: []byte{1, 2, 3}, Salt: []byte{4}, CreatedAt: time.Unix(10, 0).UTC()}}}
}

func testPrincipalCreateGet(t *testing.T, s store.Store) {
	p := get(s.PrincipalCreate(ctx(t), newPrincipal(1))).must(t)
	if p.Version != 1 || p.CreatedAt.IsZero() {
		t.Fatalf("created = %+v", p)
	}
	got := get(s.PrincipalGet(ctx(t), "oid-001")).must(t)
	if got.ClientID != "cid-001" || got.DisplayName != "sp 1" || len(got.Secrets) != 1 || string(got.Secrets[0].Hash) != "\x01\x02\x03" {
		t.Fatalf("got %+v", got)
	}
	got = get(s.PrincipalGetByClientID(ctx(t), "t1", "cid-001")).must(t)
	if got.ObjectID != "oid-001" {
		t.Fatalf("by client id: %+v", got)
	}
	_, err := s.PrincipalGetByClientID(ctx(t), "t2", "cid-001")
	wantCode(t, err, cobalt.ENotFound)
	_, err = s.PrincipalGet(ctx(t), "nope")
	wantCode(t, err, cobalt.ENotFound)
}

func testPrincipalConflicts(t *testing.T, s store.Store) {
	get(s.PrincipalCreate(ctx(t), newPrincipal(1))).must(t)
	_, err := s.PrincipalCreate(ctx(t), newPrincipal(1))
	wantCode(t, err, cobalt.EConflict)
	p := newPrincipal(2)
	p.ClientID = "cid-001"
	_, err = s.PrincipalCreate(ctx(t), p)
	wantCode(t, err, cobalt.EConflict)
	p.TenantID = "t2" // the same client ID in another tenant is a different principal
	get(s.PrincipalCreate(ctx(t), p)).must(t)
}

func testPrincipalUpdateCAS(t *testing.T, s store.Store) {
	get(s.PrincipalCreate(ctx(t), newPrincipal(1))).must(t)
	// Concurrent updaters must all land: the closure is retried or serialized, never lost.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.PrincipalUpdate(ctx(t), "oid-001", func(p *store.PrincipalRecord) error {
				p.Secrets = append(p.Secrets, store.Secret{ID: fmt.Sprint("n", i)})
				return nil
			})
			if err != nil && !cobalt.IsCode(err, cobalt.EPreconditionFailed) {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := get(s.PrincipalGet(ctx(t), "oid-001")).must(t)
	if int(got.Version)-1 != len(got.Secrets)-1 {
		t.Fatalf("version %d does not count the %d successful updates", got.Version, len(got.Secrets)-1)
	}
	// An error from the closure aborts the update.
	_, err := s.PrincipalUpdate(ctx(t), "oid-001", func(p *store.PrincipalRecord) error {
		p.DisplayName = "changed"
		return cobalt.Errorf(cobalt.EInvalid, "no")
	})
	wantCode(t, err, cobalt.EInvalid)
	if got := get(s.PrincipalGet(ctx(t), "oid-001")).must(t); got.DisplayName != "sp 1" {
		t.Fatalf("aborted update was applied: %q", got.DisplayName)
	}
	_, err = s.PrincipalUpdate(ctx(t), "missing", func(*store.PrincipalRecord) error { return nil })
	wantCode(t, err, cobalt.ENotFound)
}

func testPrincipalList(t *testing.T, s store.Store) {
	for i := range 7 {
		get(s.PrincipalCreate(ctx(t), newPrincipal(i))).must(t)
	}
	var all []string
	tok := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		ps, next, err := s.PrincipalList(ctx(t), "t1", store.Page{Limit: 3, Token: tok})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			all = append(all, p.ObjectID)
		}
		if next == "" {
			break
		}
		tok = next
	}
	if len(all) != 7 || all[0] != "oid-000" || all[6] != "oid-006" {
		t.Fatalf("listed %v", all)
	}
	_, _, err := s.PrincipalList(ctx(t), "t1", store.Page{Token: "!!not base64!!"})
	wantCode(t, err, cobalt.EInvalid)
}

func testPrincipalDelete(t *testing.T, s store.Store) {
	get(s.PrincipalCreate(ctx(t), newPrincipal(1))).must(t)
	if err := s.PrincipalDelete(ctx(t), "oid-001"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.PrincipalDelete(ctx(t), "oid-001"), cobalt.ENotFound)
	_, err := s.PrincipalGet(ctx(t), "oid-001")
	wantCode(t, err, cobalt.ENotFound)
}

func testKeyLifecycle(t *testing.T, s store.Store) {
	t0 := time.Unix(1000, 0).UTC()
	get(s.KeyCreate(ctx(t), store.SigningKey{KID: "k1", Alg: "RS256", PublicJWK: []byte(`{"kty":"RSA"}`), PrivateKey: []byte("sealed"), CreatedAt: t0, SignFrom: t0})).must(t)
	get(s.KeyCreate(ctx(t), store.SigningKey{KID: "k2", Alg: "RS256", CreatedAt: t0.Add(time.Hour), SignFrom: t0.Add(2 * time.Hour)})).must(t)
	_, err := s.KeyCreate(ctx(t), store.SigningKey{KID: "k1"})
	wantCode(t, err, cobalt.EConflict)
	keys := get(s.KeyList(ctx(t))).must(t)
	if len(keys) != 2 || keys[0].KID != "k2" || !keys[1].SignFrom.Equal(t0) || string(keys[1].PrivateKey) != "sealed" {
		t.Fatalf("keys = %+v", keys)
	}
	k := get(s.KeyUpdate(ctx(t), "k1", func(k *store.SigningKey) error {
		k.RetiredAt, k.PublishUntil = t0.Add(time.Hour), t0.Add(3*time.Hour)
		return nil
	})).must(t)
	if k.Version != 2 || !k.PublishUntil.Equal(t0.Add(3*time.Hour)) {
		t.Fatalf("updated = %+v", k)
	}
	if err := s.KeyDelete(ctx(t), "k1"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.KeyDelete(ctx(t), "k1"), cobalt.ENotFound)
}

func testAudit(t *testing.T, s store.Store) {
	for i := range 5 {
		kind := "token.issued"
		if i%2 == 1 {
			kind = "role.assigned"
		}
		if err := s.AuditAppend(ctx(t), store.AuditRecord{Kind: kind, Actor: "a", Subject: fmt.Sprint(i), Fields: map[string]string{"audience": "x"}}); err != nil {
			t.Fatal(err)
		}
	}
	recs, next, err := s.AuditList(ctx(t), "token.issued", store.Page{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || next == "" || recs[0].Subject != "0" || recs[1].Subject != "2" || recs[0].Fields["audience"] != "x" || recs[0].Time.IsZero() {
		t.Fatalf("page 1 = %+v next %q", recs, next)
	}
	recs, next, err = s.AuditList(ctx(t), "token.issued", store.Page{Limit: 2, Token: next})
	if err != nil || len(recs) != 1 || recs[0].Subject != "4" || next != "" {
		t.Fatalf("page 2 = %+v next %q err %v", recs, next, err)
	}
	all, _, _ := s.AuditList(ctx(t), "", store.Page{})
	if len(all) != 5 {
		t.Fatalf("all = %d", len(all))
	}
}

func testAuditConcurrent(t *testing.T, s store.Store) {
	const writers, each = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				errs <- s.AuditAppend(ctx(t), store.AuditRecord{Kind: "token.issued", Actor: fmt.Sprint(w), Subject: fmt.Sprint(i),
					Fields: map[string]string{"w": fmt.Sprint(w), "i": fmt.Sprint(i)}})
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
	// Every append that returned nil is committed and visible, each with
	// its own fields (the store writes a batch's records together).
	n, tok := 0, ""
	seen := map[string]bool{}
	for {
		recs, next, err := s.AuditList(ctx(t), "token.issued", store.Page{Limit: 100, Token: tok})
		if err != nil {
			t.Fatal(err)
		}
		n += len(recs)
		for _, r := range recs {
			key := r.Actor + "/" + r.Subject
			if r.Fields["w"] != r.Actor || r.Fields["i"] != r.Subject || seen[key] {
				t.Fatalf("record %s has fields %v (or came twice)", key, r.Fields)
			}
			seen[key] = true
		}
		if next == "" {
			break
		}
		tok = next
	}
	if n != writers*each {
		t.Fatalf("%d audit records stored, want %d", n, writers*each)
	}
}

func testAuditAfterClose(t *testing.T, s store.Store) {
	if err := s.AuditAppend(ctx(t), store.AuditRecord{Kind: "k", Actor: "a", Subject: "s"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.AuditAppend(ctx(t), store.AuditRecord{Kind: "k", Actor: "a", Subject: "s"}); err == nil {
		t.Fatal("an append after Close reported success")
	}
}

func newUser(i int, upn string) store.PrincipalRecord {
	return store.PrincipalRecord{Principal: cobalt.Principal{
		ObjectID: fmt.Sprintf("uid-%03d", i), ClientID: fmt.Sprintf("ucid-%03d", i), TenantID: "t1",
		Kind: cobalt.KindUser, DisplayName: upn, UserPrincipalName: upn},
		Password: &store.PasswordHash{Alg: "argon2id", Salt: []byte{1}, Hash: []byte{2, 3}, Time: 1, Memory: 64, Threads: 1}}
}

func testPrincipalUserName(t *testing.T, s store.Store) {
	get(s.PrincipalCreate(ctx(t), newPrincipal(1))).must(t) // no user name: NULL, never conflicts
	get(s.PrincipalCreate(ctx(t), newPrincipal(2))).must(t)
	get(s.PrincipalCreate(ctx(t), newUser(1, "Alice@Example.test"))).must(t)
	got := get(s.PrincipalGetByUserName(ctx(t), "t1", "alice@example.TEST")).must(t)
	if got.ObjectID != "uid-001" || got.UserPrincipalName != "Alice@Example.test" || got.Kind != cobalt.KindUser ||
		got.Password == nil || got.Password.Alg != "argon2id" || string(got.Password.Hash) != "\x02\x03" {
		t.Fatalf("by user name: %+v", got)
	}
	_, err := s.PrincipalGetByUserName(ctx(t), "t2", "alice@example.test")
	wantCode(t, err, cobalt.ENotFound)
	_, err = s.PrincipalCreate(ctx(t), newUser(2, "ALICE@example.test"))
	wantCode(t, err, cobalt.EConflict)
	u := newUser(2, "bob@example.test")
	get(s.PrincipalCreate(ctx(t), u)).must(t)
	_, err = s.PrincipalUpdate(ctx(t), u.ObjectID, func(p *store.PrincipalRecord) error {
		p.UserPrincipalName = "alice@EXAMPLE.test"
		return nil
	})
	wantCode(t, err, cobalt.EConflict)
	get(s.PrincipalUpdate(ctx(t), u.ObjectID, func(p *store.PrincipalRecord) error {
		p.UserPrincipalName = "carol@example.test"
		return nil
	})).must(t)
	get(s.PrincipalGetByUserName(ctx(t), "t1", "carol@example.test")).must(t)
	_, err = s.PrincipalGetByUserName(ctx(t), "t1", "bob@example.test")
	wantCode(t, err, cobalt.ENotFound)
	if err := s.PrincipalDelete(ctx(t), "uid-001"); err != nil {
		t.Fatal(err)
	}
	_, err = s.PrincipalGetByUserName(ctx(t), "t1", "alice@example.test")
	wantCode(t, err, cobalt.ENotFound)
	get(s.PrincipalCreate(ctx(t), newUser(3, "alice@example.test"))).must(t) // the name is free again
}
