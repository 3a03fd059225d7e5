package agent

import (
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"testing"
)

// TestForwardFollowsReplicas: a joined host's node dials its forwarded
// ports at the control-plane host that answered last, and at the next
// replica's host (same port) when that one refuses, then stays there.
// greeter listens on a loopback port until the test ends, writes msg to
// every connection and closes it; it returns the port.
func greeter(t *testing.T, msg []byte) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write(msg)
			c.Close()
		}
	}()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

func TestForwardFollowsReplicas(t *testing.T) {
	t.Parallel()
	port := greeter(t, []byte("replica b"))
	// 127.0.0.2 is loopback too, with nothing on the port: a dead replica.
	fw := forwards{target: "127.0.0.2", replicas: []string{"127.0.0.2", "127.0.0.1"}}
	if got := fw.upstreams(); len(got) != 2 || got[0] != "127.0.0.2" || got[1] != "127.0.0.1" {
		t.Fatalf("upstreams %v", got)
	}
	n := &netnsIsolation{logger: slog.New(slog.DiscardHandler), upstreams: fw.upstreams()}
	for range 2 {
		c, err := n.dialUpstream(net.JoinHostPort("127.0.0.2", port))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(c)
		c.Close()
		if string(b) != "replica b" || n.upstream.Load() != 1 {
			t.Fatalf("read %q through upstream %d", b, n.upstream.Load())
		}
	}
	// The control plane's own host forwards to its loopback only.
	if got := (forwards{}).upstreams(); len(got) != 1 || got[0] != "127.0.0.1" {
		t.Fatalf("local upstreams %v", got)
	}
	// A joined host's node carries every replica's address on its lo, so
	// that a URL naming any of them reaches the forwards.
	joined := forwards{public: "10.0.0.5", target: "10.0.0.5", replicas: []string{"10.0.0.6", "cp.example"}}
	if got := joined.hosts(); !slices.Equal(got, []string{"127.0.0.1", "10.0.0.5", "10.0.0.6"}) {
		t.Fatalf("joined node's forwarded addresses %v", got)
	}
	if got := (forwards{public: "10.0.0.5"}).hosts(); !slices.Equal(got, []string{"127.0.0.1", "10.0.0.5"}) {
		t.Fatalf("local node's forwarded addresses %v", got)
	}
}
