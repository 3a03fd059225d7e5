package listenset

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"slices"
	"testing"
)

func newSet() *Set {
	return New(Config{TLS: &tls.Config{}, Kind: "test", NameKey: "name",
		Server: func(string, string) *http.Server { return &http.Server{Handler: http.NotFoundHandler()} }})
}

// A resource opened elsewhere because its stored port was held (by another
// replica) moves to that port once it is free, and not before.
func TestReclaimTakesTheStoredPortWhenFree(t *testing.T) {
	t.Parallel()
	hold, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stored := hold.Addr().String()
	s := newSet()
	defer s.Stop()
	got, err := s.Open("Acct", stored)
	if err != nil {
		t.Fatal(err)
	}
	if got == stored {
		t.Fatal("opened on a held port")
	}
	if s.Reclaim(context.Background(), "acct", stored) {
		t.Fatal("reclaimed a port still held")
	}
	hold.Close()
	if !s.Reclaim(context.Background(), "acct", stored) {
		t.Fatal("did not reclaim the freed port")
	}
	if ep, _ := s.Endpoint("ACCT"); ep != stored {
		t.Fatalf("endpoint %s, want %s", ep, stored)
	}
	// The old port is released: it can be bound again.
	_, oldPort, _ := net.SplitHostPort(got)
	if l, err := net.Listen("tcp", "127.0.0.1:"+oldPort); err != nil {
		t.Fatalf("the old port is still held: %v", err)
	} else {
		l.Close()
	}
	if s.Reclaim(context.Background(), "acct", stored) {
		t.Error("reclaimed a port it already has")
	}
	if s.Reclaim(context.Background(), "other", stored) {
		t.Error("reclaimed for a resource without a listener")
	}
	if !slices.Equal(s.Names(), []string{"acct"}) {
		t.Errorf("names %v", s.Names())
	}
}

// Config.Conn wraps each accepted connection, under its TLS.
func TestConnWrapsAcceptedConnections(t *testing.T) {
	t.Parallel()
	wrapped := make(chan net.Conn, 1)
	s := New(Config{TLS: &tls.Config{}, Kind: "test", NameKey: "name",
		Server: func(string, string) *http.Server { return &http.Server{Handler: http.NotFoundHandler()} },
		Conn:   func(c net.Conn) net.Conn { wrapped <- c; return c }})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	hp, err := s.Open("reg", "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", hp)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := <-wrapped; got.RemoteAddr().String() != c.LocalAddr().String() {
		t.Fatalf("wrapped %s, want the connection from %s", got.RemoteAddr(), c.LocalAddr())
	}
}
