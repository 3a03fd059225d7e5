package hostagent

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/cobaltbatch/cobalt/internal/agent"
)

// TestProviderAgentsShareOneConnection starts three nodes one after the
// other on a node API that speaks HTTP/2 and counts its connections: the
// agents of one provider share one client, so every node's register,
// heartbeats and long-polled leases travel on the first node's connection
// (one TLS handshake per provider, not one per node), each request still
// authenticated as its own node.
func TestProviderAgentsShareOneConnection(t *testing.T) {
	t.Parallel()
	var conns atomic.Int32
	api := newNodeAPIWith(t, func(s *httptest.Server) {
		s.EnableHTTP2 = true
		s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				conns.Add(1)
			}
		}
	})
	p := testProvider(t, api, agent.IsolationProcess)
	for i := range 3 {
		id := fmt.Sprintf("shared%d", i)
		if err := p.StartNode(context.Background(), NodeLaunch{NodeID: id, Credential: "cred-" + id, RootDir: t.TempDir()}); err != nil {
			t.Fatal(err)
		}
		api.waitHeartbeat(t, id)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("3 agents opened %d connections to the node API, want 1 shared", n)
	}
	if first, again := p.httpClient(), p.httpClient(); first == nil || first != again {
		t.Error("the provider has no single shared client")
	}
}
