package login

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/bearer"
	"github.com/cobaltbatch/cobalt/internal/store"
	"github.com/cobaltbatch/cobalt/internal/store/sqlite"
)

func kids(t *testing.T, s *Service) map[string]bool {
	t.Helper()
	set, err := s.KeySet(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]bool{}
	for _, k := range set.Keys {
		m[k.KeyID] = true
	}
	return m
}

func (ts *testService) issue(t *testing.T) (raw, kid string) {
	t.Helper()
	tok, err := ts.IssueToken(context.Background(), IssueRequest{ObjectID: ts.objectID, Resource: "https://management.azure.com/"})
	if err != nil {
		t.Fatal(err)
	}
	hdr, _ := decodeJWT(t, tok.AccessToken)
	return tok.AccessToken, hdr["kid"].(string)
}

func (ts *testService) validator() *bearer.Validator {
	return bearer.New(bearer.Config{Keys: ts.Service, TenantID: ts.tenant, Issuers: []string{ts.IssuerV1(ts.tenant)}, Now: ts.clk.Now})
}

// TestRotation walks a key through its life: published before it signs,
// signing, retired but published while its tokens live, then deleted.
func TestRotation(t *testing.T) {
	t.Parallel()
	ts := newTestService(t, nil)
	ctx := context.Background()
	v := ts.validator()
	tok1, k1 := ts.issue(t)

	if err := ts.RotateKeys(ctx); err != nil {
		t.Fatal(err)
	}
	published := kids(t, ts.Service)
	if len(published) != 2 || !published[k1] {
		t.Fatalf("after rotation the key set is %v, want the old key and the new one", published)
	}
	if _, kid := ts.issue(t); kid != k1 {
		t.Fatal("the new key signs before its activation delay")
	}
	ts.clk.Add(DefaultKeyActivationDelay - time.Second)
	lastOld, kid := ts.issue(t) // the last token of k1, expiring at retirement + lifetime
	if kid != k1 {
		t.Fatal("the old key stopped signing early")
	}
	ts.clk.Add(time.Second)
	tok2, k2 := ts.issue(t)
	if k2 == k1 || !published[k2] {
		t.Fatalf("after the activation delay the signing key is %s, want the new key", k2)
	}
	for _, tok := range []string{tok1, lastOld, tok2} {
		if _, err := v.Validate(ctx, tok, "https://management.azure.com"); err != nil {
			t.Fatalf("after rotation: %v", err)
		}
	}

	// The old key stays until its last token has expired (plus the skew).
	ts.clk.Add(DefaultTokenLifetime - time.Second)
	if _, err := v.Validate(ctx, lastOld, "https://management.azure.com"); err != nil {
		t.Fatalf("the old key's last token just before expiry: %v", err)
	}
	ts.clk.Add(DefaultClockSkew)
	if gone, err := ts.pruneKeys(ctx); err != nil || len(gone) != 0 {
		t.Fatalf("pruned %v (%v) before the old key's tokens expired", gone, err)
	}
	if !kids(t, ts.Service)[k1] {
		t.Fatal("the old key left the key set before its tokens expired")
	}
	ts.clk.Add(time.Second)
	if err := ts.maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if got := kids(t, ts.Service); got[k1] || !got[k2] || len(got) != 1 {
		t.Fatalf("after expiry the key set is %v, want only the new key", got)
	}
	recs, _ := ts.store.KeyList(ctx)
	if len(recs) != 1 {
		t.Fatalf("%d keys in the store, want 1", len(recs))
	}
	if _, kid := ts.issue(t); kid != k2 {
		t.Fatal("the new key does not sign")
	}
}

func TestImmediateActivation(t *testing.T) {
	t.Parallel()
	ts := newTestService(t, func(c *Config) { c.KeyActivationDelay = -1 })
	_, k1 := ts.issue(t)
	if err := ts.RotateKeys(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, k2 := ts.issue(t); k2 == k1 {
		t.Fatal("with a negative activation delay the new key does not sign at once")
	}
}

func TestScheduledRotation(t *testing.T) {
	t.Parallel()
	ts := newTestService(t, func(c *Config) { c.KeyRotationPeriod = 24 * time.Hour; c.KeyRefreshInterval = 5 * time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- ts.Run(ctx) }()
	ts.clk.Add(24 * time.Hour)
	deadline := time.Now().Add(10 * time.Second)
	for {
		recs, err := ts.store.KeyList(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Run did not rotate a key older than the rotation period: %d keys", len(recs))
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	recs, _ := ts.store.KeyList(context.Background())
	if len(recs) != 2 {
		t.Fatalf("Run rotated more than once: %d keys", len(recs))
	}
}

// TestRestart runs two services, one after the other, on the same SQLite file
// and seal key: tokens, keys and secrets survive; a wrong seal key is refused.
func TestRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	seal := sealKey(t)
	clk := newClock()
	ctx := context.Background()
	open := func() store.Store {
		s, err := sqlite.Open(ctx, filepath.Join(dir, "cobalt.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	st1 := open()
	cfg := Config{Store: st1, Now: clk.Now, AuthorityURL: "https://127.0.0.1:1", SealKey: seal}
	s1, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	p, secret, err := s1.CreateServicePrincipal(ctx, "tenant1", "admin")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s1.IssueToken(ctx, IssueRequest{ObjectID: p.ObjectID, Resource: "https://management.azure.com/"})
	if err != nil {
		t.Fatal(err)
	}
	before := kids(t, s1)
	st1.Close()

	st2 := open()
	defer st2.Close()
	cfg.Store = st2
	s2, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	after := kids(t, s2)
	if len(after) != 1 || len(before) != 1 {
		t.Fatalf("keys before %v, after %v: want the same single key", before, after)
	}
	for k := range before {
		if !after[k] {
			t.Fatalf("keys before %v, after %v", before, after)
		}
	}
	v := bearer.New(bearer.Config{Keys: s2, TenantID: "tenant1", Issuers: []string{s2.IssuerV1("tenant1")}, Now: clk.Now})
	if _, err := v.Validate(ctx, tok.AccessToken, "https://management.azure.com/"); err != nil {
		t.Fatalf("a token from before the restart: %v", err)
	}
	got, err := st2.PrincipalGetByClientID(ctx, "tenant1", p.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := secretMatches(&got, secret, clk.Now()); !ok {
		t.Fatal("the secret does not match after the restart")
	}
	if ok, err := s2.knownTenant(ctx, "tenant1"); !ok || err != nil {
		t.Fatalf("the tenant is unknown after the restart: %v", err)
	}

	// Replicas: s1 and s2 on one store. A rotation on one is published by the
	// other within the refresh interval, before the new key signs.
	s1, err = New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s1.RotateKeys(ctx); err != nil {
		t.Fatal(err)
	}
	clk.Add(DefaultKeyRefreshInterval)
	if got := kids(t, s2); len(got) != 2 {
		t.Fatalf("the other replica publishes %v after a refresh interval, want 2 keys", got)
	}
	clk.Add(DefaultKeyActivationDelay - DefaultKeyRefreshInterval)
	tok2, err := s1.IssueToken(ctx, IssueRequest{ObjectID: p.ObjectID, Resource: "https://management.azure.com/"})
	if err != nil {
		t.Fatal(err)
	}
	tok3, err := s2.IssueToken(ctx, IssueRequest{ObjectID: p.ObjectID, Resource: "https://management.azure.com/"})
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := decodeJWT(t, tok2.AccessToken)
	h3, _ := decodeJWT(t, tok3.AccessToken)
	if h2["kid"] != h3["kid"] || before[h2["kid"].(string)] {
		t.Fatalf("replicas sign with %v and %v after activation, want the same new key", h2["kid"], h3["kid"])
	}
	for _, raw := range []string{tok.AccessToken, tok2.AccessToken} {
		if _, err := v.Validate(ctx, raw, "https://management.azure.com/"); err != nil {
			t.Fatalf("validate across replicas: %v", err)
		}
	}

	cfg.SealKey = sealKey(t)
	if _, err := New(ctx, cfg); err == nil {
		t.Fatal("New with a different seal key succeeded")
	}
}
