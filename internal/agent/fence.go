package agent

import (
	"context"
	"time"

	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// fenceAfter is how long the node runs tasks without a successful
// heartbeat (0: forever, a node beside its control plane).
func (a *Agent) fenceAfter() time.Duration {
	return time.Duration(a.node.FenceMillis) * time.Millisecond
}

// contact records a heartbeat that succeeded, sent at sent: the control
// plane renewed the node's lease no earlier. It returns the leases fenced
// while the control plane was out of reach, to give back.
func (a *Agent) contact(sent time.Time) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if sent.After(a.lastContact) {
		a.lastContact = sent
	}
	f := a.fencedLeases
	a.fencedLeases = nil
	return f
}

// fenceLoop kills the node's running tasks once the control plane has been
// out of reach for fenceAfter: it requeues them elsewhere only later
// (batch.FenceAfter), and a task must never run twice at once. The tasks
// are not reported; their leases are given back when the control plane
// answers again, in case it has not given the node up meanwhile.
func (a *Agent) fenceLoop(ctx context.Context) {
	fence := a.fenceAfter()
	if fence <= 0 {
		return
	}
	t := time.NewTicker(max(fence/20, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a.mu.Lock()
		silent := a.cfg.Now().Sub(a.lastContact)
		var killed []string
		if silent >= fence {
			for id, rt := range a.running {
				if !rt.abandoned {
					rt.abandoned = true
					rt.cancel()
					killed = append(killed, id)
				}
			}
			a.fencedLeases = append(a.fencedLeases, killed...)
		}
		a.mu.Unlock()
		if len(killed) > 0 {
			a.logger.Warn("control plane out of reach: tasks killed before they are requeued elsewhere",
				logkey.Count, len(killed), logkey.Duration, silent)
		}
	}
}

// giveBack releases leases fenced while the control plane was out of
// reach; one it has requeued already is refused, harmlessly.
func (a *Agent) giveBack(ctx context.Context, leases []string) {
	for _, id := range leases {
		a.report(ctx, nodeproto.ReportRequest{NodeID: a.cfg.NodeID, LeaseID: id, Event: reportReleased})
	}
}
