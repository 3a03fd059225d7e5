package batch

import (
	"context"
	"errors"

	"github.com/cobaltbatch/cobalt"
)

// NodeLostFunc is told that a node was lost: removed while it may have been
// running tasks, declared lost after its heartbeat stopped, or not restarted
// after the control plane restarted. The jobs service subscribes one that
// requeues the tasks leased to the node. An error is returned to the
// operation that lost the node.
type NodeLostFunc func(ctx context.Context, node cobalt.NodeRef) error

// SubscribeNodeLost registers fn to be told about every lost node, after
// the subscribers registered before it. Register subscribers while wiring,
// before Run and before serving requests; SubscribeNodeLost is safe for
// concurrent use with publication all the same.
func (s *Service) SubscribeNodeLost(fn NodeLostFunc) {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	s.nodeLostSubs = append(s.nodeLostSubs, fn)
}

// publishNodeLost tells every subscriber about a lost node; it calls all of
// them and returns their errors joined.
func (s *Service) publishNodeLost(ctx context.Context, node cobalt.NodeRef) error {
	s.subMu.RLock()
	subs := s.nodeLostSubs
	s.subMu.RUnlock()
	var errs []error
	for _, fn := range subs {
		if err := fn(ctx, node); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
