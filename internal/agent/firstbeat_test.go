package agent

import (
	"testing"
	"time"
)

// TestFirstHeartbeatReportsIdle: a node of a pool without a start task
// reports idle in its very first heartbeat, and sends no second one until
// its interval (here an hour) or a change: a node start costs the control
// plane one heartbeat, not a "starting" one followed by an "idle" one.
func TestFirstHeartbeatReportsIdle(t *testing.T) {
	t.Parallel()
	f := newFakeControlPlane(t, nodeConfig())
	startAgent(t, f, IsolationProcess, func(c *Config) { c.HeartbeatInterval = time.Hour })
	deadline := time.Now().Add(20 * time.Second)
	for {
		f.mu.Lock()
		beats, polls := f.heartbeats, len(f.leaseReqs)
		f.mu.Unlock()
		// The lease long-poll records a request every 20 ms: ten of them
		// leave a second heartbeat, sent right after the first, time to
		// arrive.
		if beats > 0 && polls >= 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20 s: %d heartbeats, %d lease polls", beats, polls)
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.states) == 0 || f.states[0] != StateIdle {
		t.Errorf("states reported: %v, want idle first", f.states)
	}
	if f.heartbeats != 1 {
		t.Errorf("%d heartbeats at start, want 1", f.heartbeats)
	}
}
