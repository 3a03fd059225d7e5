package batch

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
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
	_, err = s.cfg.Store.NodeTouch(ctx, n.ID, n.Version, now, now.Add(s.cfg.HeartbeatTimeout))
	switch {
	case err == nil:
		return n.Commands, true, nil
	case cobalt.IsCode(err, cobalt.EPreconditionFailed):
		return nil, false, nil
	case cobalt.IsCode(err, cobalt.ENotFound):
		return nil, false, nodeNotFound(n.ID)
	}
	return nil, false, err
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
