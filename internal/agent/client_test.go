package agent

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/imds"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// TestClientFollowsReplicas: a node's calls, IMDS tokens among them, move
// to the next control-plane replica when the one in use is down (no
// connection) or answers through a proxy that its replica is gone (503),
// stay there, and do not move on an answer of the protocol (a 404 is the
// control plane's word, which another replica would repeat).
func TestClientFollowsReplicas(t *testing.T) {
	t.Parallel()
	f := newFakeControlPlane(t, nodeConfig(identityA))
	httpc, err := NewHTTPClient(f.caFile)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "https://" + l.Addr().String()
	l.Close()
	var proxied atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxied.Add(1)
		http.Error(w, "no upstream", http.StatusServiceUnavailable)
	}))
	defer proxy.Close()

	c := newClient([]string{down, f.srv.URL}, f.cred, httpc)
	var switched []string
	c.onSwitch = func(b string) { switched = append(switched, b) }
	ids := func() []nodeproto.Identity { return f.config.Identities }
	cache := &tokenCache{api: c, nodeID: "n1", now: time.Now, ids: ids, entries: map[cacheKey]*cacheEntry{}}
	if _, err := cache.Token(context.Background(), imds.TokenRequest{Resource: "https://storage.azure.com/", ClientID: identityA.ClientID}); err != nil {
		t.Fatalf("token with the first replica down: %v", err)
	}
	if len(switched) != 1 || switched[0] != f.srv.URL || c.cur.Load() != 1 {
		t.Fatalf("switched to %v (in use %d), want the second replica", switched, c.cur.Load())
	}

	// A 503 from a proxy in front of a dead replica: the next one answers.
	c2 := newClient([]string{proxy.URL, f.srv.URL}, f.cred, httpc)
	c2cache := &tokenCache{api: c2, nodeID: "n1", now: time.Now, ids: ids, entries: map[cacheKey]*cacheEntry{}}
	if _, err := c2cache.Token(context.Background(), imds.TokenRequest{Resource: "https://storage.azure.com/", ClientID: identityA.ClientID}); err != nil {
		t.Fatalf("token behind a proxy whose replica is gone: %v", err)
	}
	if proxied.Load() != 1 || c2.cur.Load() != 1 {
		t.Fatalf("the proxy saw %d requests, in use %d", proxied.Load(), c2.cur.Load())
	}

	// An error of the protocol stays: no replica is tried after it.
	var hits atomic.Int32
	notFound := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"code":"NodeNotFound","message":"no such node"}`))
	}))
	defer notFound.Close()
	c3 := newClient([]string{notFound.URL, notFound.URL}, f.cred, httpc)
	err = c3.call(context.Background(), "/x", struct{}{}, nil, 0)
	if !cobalt.IsCode(err, cobalt.ENotFound) || hits.Load() != 1 {
		t.Fatalf("404: %v after %d requests, want NotFound after 1", err, hits.Load())
	}
}
