package batchapi

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/pki/pkitest"
)

// mutableAccounts is an account list a test can change.
type mutableAccounts struct {
	mu sync.Mutex
	m  memAccounts
}

func (a *mutableAccounts) LookupBatchAccount(ctx context.Context, name string) (Account, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.m.LookupBatchAccount(ctx, name)
}

func (a *mutableAccounts) ListBatchAccounts(ctx context.Context) ([]Account, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.m.ListBatchAccounts(ctx)
}

func (a *mutableAccounts) put(acct Account) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.m[strings.ToLower(acct.Name)] = acct
}

// errorCode GETs url and returns the Batch error code of the answer.
func errorCode(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	var b errorBody
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return b.Code
}

func TestListenersAllocateReleaseRestore(t *testing.T) {
	t.Parallel()
	ca := pkitest.NewCA(t)
	accts := &mutableAccounts{m: memAccounts{}}
	s, err := New(Config{TLS: ca.ServerTLSConfig(), Accounts: accts})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: ca.ClientTLSConfig()}}

	a, err := s.AllocateAccountEndpoint(ctx, "Acct1")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := s.AllocateAccountEndpoint(ctx, "acct1"); again != a {
		t.Fatalf("second allocation %s != %s", again, a)
	}
	b, err := s.AllocateAccountEndpoint(ctx, "acct2")
	if err != nil || b == a {
		t.Fatalf("acct2 endpoint %s (%v)", b, err)
	}
	accts.put(Account{Name: "acct1", ID: testAccountID, Keys: [2]string{testKey}, Endpoint: a})
	// The listener serves its account: without api-version, Batch's 400.
	if code := errorCode(t, client, "https://"+a+"/jobs"); code != codeMissingQuery {
		t.Fatalf("acct1 answered %s", code)
	}
	// acct2 is not a stored account: its listener says so.
	if code := errorCode(t, client, "https://"+b+"/jobs?api-version=2024-07-01.20.0"); code != "AccountNotFound" {
		t.Fatalf("acct2 answered %s", code)
	}
	if err := s.ReleaseAccountEndpoint(ctx, "acct2"); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Endpoint("acct2"); ok {
		t.Fatal("acct2 still has an endpoint")
	}
	if _, err := client.Get("https://" + b + "/"); err == nil {
		t.Fatal("acct2's listener still answers")
	}

	// A restart re-listens on the stored endpoint.
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	s2, err := New(Config{TLS: ca.ServerTLSConfig(), Accounts: accts})
	if err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	go func() { _ = s2.Run(ctx2) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if got, ok := s2.Endpoint("acct1"); ok {
			if got != a {
				t.Fatalf("restored on %s, stored %s", got, a)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("acct1 was not restored")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code := errorCode(t, client, "https://"+a+"/jobs"); code != codeMissingQuery {
		t.Fatalf("restored acct1 answered %s", code)
	}
}

func TestListenersPortBase(t *testing.T) {
	t.Parallel()
	// Find a free range by asking the kernel for a port and using the ones after it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := l.Addr().(*net.TCPAddr).Port // held: the allocator must skip it
	defer l.Close()
	ca := pkitest.NewCA(t)
	s, err := New(Config{TLS: ca.ServerTLSConfig(), Accounts: memAccounts{}, PortBase: base})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, err := s.AllocateAccountEndpoint(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.AllocateAccountEndpoint(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	pa, pb := a[strings.LastIndexByte(a, ':')+1:], b[strings.LastIndexByte(b, ':')+1:]
	if pa == pb || pa == itoa64(int64(base)) || pb == itoa64(int64(base)) {
		t.Fatalf("ports %s %s (base %d taken)", pa, pb, base)
	}
	for _, n := range []string{"a", "b"} {
		if err := s.ReleaseAccountEndpoint(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
}
