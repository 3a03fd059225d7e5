package benchrun

import (
	"context"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// TestFleetHostMultiplexesLikeAHostAgent checks that a simulated host
// reaches the node API as a real host agent's nodes do: over one HTTP/2
// connection, on which a lease is answered while every other node of the
// host still waits for its heartbeat's answer.
func TestFleetHostMultiplexesLikeAHostAgent(t *testing.T) {
	t.Parallel()
	const nodes = 10
	release := make(chan struct{})
	var conns atomic.Int32
	var protoErr atomic.Value
	arrived := make(chan struct{}, nodes)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			protoErr.Store(r.Proto)
		}
		if r.URL.Path == nodeproto.PathHeartbeat {
			arrived <- struct{}{}
			<-release
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{}`))
	}))
	srv.EnableHTTP2 = true
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := newFleet(srv.URL, t.TempDir(), caFile, 1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// A generous bound turns a lease stuck behind the heartbeats into a
	// failure instead of a hung test.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// One request first, so that the others find its connection.
	if err := f.call(ctx, f.hosts[0], "cred", nodeproto.PathLease, nodeproto.LeaseRequest{NodeID: "n0", FreeSlots: 1}, nil); err != nil {
		t.Fatal(err)
	}
	var hbs sync.WaitGroup
	for range nodes {
		hbs.Go(func() {
			if err := f.call(ctx, f.hosts[0], "cred", nodeproto.PathHeartbeat, nodeproto.HeartbeatRequest{NodeID: "n", State: "idle"}, nil); err != nil {
				t.Error(err)
			}
		})
	}
	for i := range nodes {
		select {
		case <-arrived:
		case <-ctx.Done():
			close(release)
			t.Fatalf("%d of %d heartbeats of one host reached the node API at once", i, nodes)
		}
	}
	if err := f.call(ctx, f.hosts[0], "cred", nodeproto.PathLease, nodeproto.LeaseRequest{NodeID: "n1", FreeSlots: 1}, nil); err != nil {
		t.Errorf("a lease while %d heartbeats are in flight: %v", nodes, err)
	}
	close(release)
	hbs.Wait()
	if p := protoErr.Load(); p != nil {
		t.Errorf("a simulated host spoke %v, want HTTP/2 as a host agent's nodes do", p)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("one simulated host opened %d connections, want 1 shared by its nodes", n)
	}
}
