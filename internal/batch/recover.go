package batch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/errwire"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// ErrNodeRunning is a NodeProvider's answer to StartNode for a node whose
// agent another process of this host runs (a replica sharing the node
// directories): recovery leaves such a node alone.
var ErrNodeRunning = errors.New("batch: the node's agent runs in another process")

// RecoverNodes brings back the nodes of this host after the control plane's
// process restarted, as rebooted VMs: their records (ID, identity snapshot,
// credential hash) are in the store, but the agents that served them ended
// with the old process. Every node in the store whose root directory exists
// under Config.NodeRootDir (so that, with several replicas sharing a store,
// each recovers only the nodes of its own host) and that is not leaving its
// pool is marked rebooting, given Config.StartTimeout to register again, and
// started through the NodeProvider with an empty Credential (the provider
// reads back the credential it persisted). A node the provider cannot start
// is declared lost: unusable, with its tasks requeued through the dispatcher.
// It returns the number of nodes started. Run calls it before its first
// allocator pass.
func (s *Service) RecoverNodes(ctx context.Context) (int, error) {
	if s.cfg.Nodes == nil || s.cfg.NodeRootDir == "" {
		return 0, nil
	}
	var nodes []*Node
	page := store.Page{Limit: 1000}
	for {
		rs, next, err := s.cfg.Store.NodeList(ctx, store.NodeListParams{Page: page})
		if err != nil {
			return 0, err
		}
		for _, r := range rs {
			if r.State == NodeLeavingPool {
				continue // the expiry of its lease removes it and requeues its tasks
			}
			if st, err := os.Stat(s.nodeRootDir(r.ID)); err != nil || !st.IsDir() {
				continue // another host's node, or one whose agent never set up
			}
			n, err := decodeNode(r)
			if err != nil {
				return 0, err
			}
			nodes = append(nodes, n)
		}
		if next == "" {
			break
		}
		page.Token = next
	}
	names := map[string]string{} // account key -> name
	started := 0
	var errs []error
	for _, n := range nodes {
		now := s.now()
		_, err := s.updateNode(ctx, n.ID, func(x *Node, r *store.NodeRecord) error {
			if x.State == NodeLeavingPool {
				return errLeaseHeld
			}
			x.State, x.StateTransitionTime = NodeRebooting, now
			x.RunningLeases = nil
			r.LeaseExpiry = now.Add(s.cfg.StartTimeout)
			return nil
		})
		if errors.Is(err, errLeaseHeld) || cobalt.IsCode(err, cobalt.ENotFound) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("recover node %s: %w", n.ID, err))
			continue
		}
		name, ok := names[n.AccountKey]
		if !ok {
			if a, err := s.AccountByID(ctx, n.AccountKey); err == nil {
				name = a.Name
			}
			names[n.AccountKey] = name
		}
		l := NodeLaunch{NodeID: n.ID, PoolID: n.PoolID, AccountName: name, RootDir: s.nodeRootDir(n.ID)}
		if err := s.cfg.Nodes.StartNode(context.WithoutCancel(ctx), l); err != nil {
			if errors.Is(err, ErrNodeRunning) {
				// Its agent's next heartbeat corrects the state set above.
				s.log.Info("node runs in another process; not recovered here", logkey.Node, n.ID)
				continue
			}
			if ctx.Err() != nil {
				// Shutting down (the provider may be closed already): the
				// next start recovers the node.
				return started, errors.Join(append(errs, ctx.Err())...)
			}
			s.log.Warn("recover node failed; declaring it lost", logkey.Node, n.ID, logkey.Pool, n.PoolID, logkey.Err, err)
			if err := s.nodeLost(ctx, n, errwire.CodeNodeRecoveryFailed, "The node could not be restarted after the control plane restarted."); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		started++
	}
	if started > 0 {
		s.log.Info("nodes recovered", logkey.Count, started)
	}
	return started, errors.Join(errs...)
}

// nodeLost marks a node unusable with an error and requeues its tasks, as
// the allocator does for a node that stopped heartbeating.
func (s *Service) nodeLost(ctx context.Context, n *Node, code, message string) error {
	now := s.now()
	out, err := s.updateNode(ctx, n.ID, func(x *Node, r *store.NodeRecord) error {
		x.State, x.StateTransitionTime = NodeUnusable, now
		x.RunningLeases = nil
		x.Errors = append(x.Errors, cobalt.ResizeError{Code: code, Message: message})
		r.LeaseExpiry = time.Time{}
		return nil
	})
	if cobalt.IsCode(err, cobalt.ENotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("declare node %s lost: %w", n.ID, err)
	}
	if err := s.publishNodeLost(ctx, out.Ref()); err != nil {
		return fmt.Errorf("requeue tasks of node %s: %w", n.ID, err)
	}
	return nil
}
