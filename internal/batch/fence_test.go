package batch

import (
	"context"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// TestFenceBeforeRequeue: for any lease and heartbeat timeout, a node's
// fence ends its tasks strictly before the control plane requeues them,
// by the host's lease and grace (the host's last report at most a lease
// older than its node's) or by the node's own heartbeat timeout.
func TestFenceBeforeRequeue(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ lease, hb time.Duration }{
		{0, 0}, {4 * time.Second, 30 * time.Second}, {30 * time.Second, 30 * time.Second},
		{2 * time.Minute, 30 * time.Second}, {time.Second, 5 * time.Second}, {10 * time.Second, 2 * time.Second},
	} {
		f := FenceAfter(c.lease, c.hb)
		lease := c.lease
		if lease <= 0 {
			lease = DefaultHostLease
		}
		hb := c.hb
		if hb <= 0 {
			hb = 30 * time.Second
		}
		if f <= 0 || f >= hb || f >= HostGrace(c.lease) || f > lease/2 {
			t.Errorf("lease %v, heartbeat timeout %v: fence %v, grace %v", c.lease, c.hb, f, HostGrace(c.lease))
		}
	}
}

// TestRegisterFence: a joined host's node learns its fence at
// registration; the control plane's own nodes run unfenced.
func TestRegisterFence(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) {
		c.LocalHostID, c.PublicAddress, c.HostLease = "local", "10.0.0.1", 8*time.Second
	})
	e.addHost(store.HostRecord{ID: "local", Local: true, Address: "10.0.0.1", MaxNodes: 1})
	e.addHost(store.HostRecord{ID: "h1", Address: "10.0.0.2", MaxNodes: 1})
	e.put("p1", armPool(2))
	e.settle("p1")
	ctx := context.Background()
	if by := nodesByHost(e.nodes_("p1")); len(by["h1"]) != 1 || len(by) != 2 {
		t.Fatalf("nodes by host: %v", by)
	}
	for _, n := range e.nodes_("p1") {
		cfg, err := e.svc.NodeRegister(ctx, n, nodeproto.RegisterRequest{NodeID: n.ID})
		if err != nil {
			t.Fatal(err)
		}
		want := int64(0)
		if n.HostID == "h1" {
			want = 4000
		}
		if cfg.FenceMillis != want {
			t.Errorf("node on %q: fence %d ms, want %d", n.HostID, cfg.FenceMillis, want)
		}
	}
}
