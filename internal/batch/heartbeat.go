package batch

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// touchHeartbeat records a heartbeat that changes nothing but the node's
// liveness (the steady state of every idle or running node, and so nearly
// every heartbeat of a large fleet) with one statement on the node as its
// credential was checked moments ago (store.NodeTouch), instead of a
// transaction that reads, decodes, encodes and writes the node. ok is false
// when the heartbeat changes more, or the node changed since it was read:
// NodeHeartbeat's full update runs then.
func (s *Service) touchHeartbeat(ctx context.Context, n *Node, req nodeproto.HeartbeatRequest, now time.Time) (cmds []string, ok bool, err error) {
	if !heartbeatOnly(n, req) {
		return nil, false, nil
	}
	took, err := s.touches.touch(ctx, s.cfg.Store, store.NodeTouch{NodeID: n.ID, Version: n.Version, HeartbeatAt: now, LeaseExpiry: now.Add(s.cfg.HeartbeatTimeout)})
	if err != nil || !took {
		// Moved or gone: the full update decides (and answers NotFound).
		return nil, false, err
	}
	s.auth.touched(n.ID, n.Version, now)
	// The caller may append to the commands; n may be shared by the cache.
	return slices.Clone(n.Commands), true, nil
}

// Touch batches: at most touchWriters statements in flight; the touches
// that arrive meanwhile wait and go together in the next (up to
// touchBatchMax). A lone heartbeat is written at once; a fleet's heartbeats
// share statements, and so round trips and commits, as load grows.
const (
	touchWriters  = 2
	touchBatchMax = 512
)

// toucher writes heartbeat touches in batches (store.NodeTouchMany). Its
// zero value is ready.
type toucher struct {
	mu      sync.Mutex
	pending []*touchReq
	writers int
}

type touchReq struct {
	t    store.NodeTouch
	done chan touchResult
}

type touchResult struct {
	ok  bool
	err error
}

// touch queues t and waits until it is written: true if it took, false if
// the node moved or is gone.
func (b *toucher) touch(ctx context.Context, st store.Store, t store.NodeTouch) (bool, error) {
	r := &touchReq{t: t, done: make(chan touchResult, 1)}
	b.mu.Lock()
	b.pending = append(b.pending, r)
	if b.writers < touchWriters {
		b.writers++
		go b.write(st)
	}
	b.mu.Unlock()
	select {
	case res := <-r.done:
		return res.ok, res.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// write writes batches until none is pending.
func (b *toucher) write(st store.Store) {
	for {
		b.mu.Lock()
		if len(b.pending) == 0 {
			b.writers--
			b.mu.Unlock()
			return
		}
		// One touch per node in a statement: a second one (an agent's
		// retry) waits for the next.
		var batch, rest []*touchReq
		seen := map[string]bool{}
		for _, r := range b.pending {
			if len(batch) < touchBatchMax && !seen[r.t.NodeID] {
				seen[r.t.NodeID] = true
				batch = append(batch, r)
			} else {
				rest = append(rest, r)
			}
		}
		b.pending = rest
		b.mu.Unlock()
		ts := make([]store.NodeTouch, len(batch))
		for i, r := range batch {
			ts[i] = r.t
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		ok, err := st.NodeTouchMany(ctx, ts)
		cancel()
		for i, r := range batch {
			if err != nil {
				r.done <- touchResult{err: err}
			} else {
				r.done <- touchResult{ok: ok[i]}
			}
		}
	}
}

// heartbeatOnly reports whether req, applied to n by NodeHeartbeat's full
// update, would change nothing but the heartbeat time and lease expiry.
func heartbeatOnly(n *Node, req nodeproto.HeartbeatRequest) bool {
	if n.Version == 0 || n.State == NodeLeavingPool {
		return false
	}
	st := req.State
	if st == NodeIdle && n.SchedulingState == "disabled" {
		st = NodeOffline
	}
	if n.State != st || req.State == NodeUnusable && len(req.Errors) > 0 {
		return false
	}
	// Results of service-log uploads and a new remote login port are facts
	// only the full update records.
	if len(req.LogUploads) > 0 || req.RemoteLoginPort != n.RemoteLoginPort {
		return false
	}
	if req.StartTaskInfo != nil {
		if n.StartTaskInfo == nil {
			return false
		}
		a, err1 := json.Marshal(n.StartTaskInfo)
		b, err2 := json.Marshal(req.StartTaskInfo)
		if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
			return false
		}
	}
	if len(n.RunningLeases) != len(req.RunningLeases) {
		return false
	}
	for _, l := range req.RunningLeases {
		if !slices.Contains(n.RunningLeases, l) {
			return false
		}
	}
	return true
}
