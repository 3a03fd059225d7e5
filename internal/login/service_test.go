package login

import (
	"context"
	"crypto/rand"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/store"
	"github.com/cobaltbatch/cobalt/internal/store/sqlite"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// openStore opens a SQLite store in dir.
func openStore(t testing.TB, dir string) store.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(dir, "cobalt.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func sealKey(t testing.TB) []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// testService is a Service on a fresh store with a tenant and a service principal.
type testService struct {
	*Service
	clk      *clock
	tenant   string
	clientID string
	objectID string
	secret   string
	srv      *httptest.Server
}

func newTestService(t testing.TB, mutate func(*Config)) *testService {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	clk := newClock()
	cfg := Config{
		Store:        openStore(t, t.TempDir()),
		Now:          clk.Now,
		AuthorityURL: "http://" + srv.Listener.Addr().String(),
		SealKey:      sealKey(t),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testService{Service: s, clk: clk, tenant: "72f988bf-86f1-41af-91ab-2d7cd011db47", srv: srv}
	p, secret, err := s.CreateServicePrincipal(context.Background(), ts.tenant, "admin")
	if err != nil {
		t.Fatal(err)
	}
	ts.clientID, ts.objectID, ts.secret = p.ClientID, p.ObjectID, secret
	srv.Config.Handler = s.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	return ts
}
