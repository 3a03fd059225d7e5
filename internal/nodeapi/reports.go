package nodeapi

import (
	"context"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/batch"
	"github.com/cobaltbatch/cobalt/internal/errwire"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// handleReports applies a node's batch of task reports, in order, then
// claims work for its free slots without waiting (nodeproto.ReportsRequest).
// A report the dispatcher refuses for good (another node's lease, an
// unknown event) is named in the response and the others still apply; a
// transient failure (the store) fails the request before anything is
// claimed, and the agent sends the batch again: the reports already applied
// ended their leases, so their second copy is ignored as stale.
func (s *Server) handleReports(ctx context.Context, n *batch.Node, in *nodeproto.ReportsRequest) (any, error) {
	req := *in
	if len(req.Reports) > nodeproto.MaxReports || req.FreeSlots < 0 {
		return nil, cobalt.Errorf(cobalt.EInvalid, "A request carries at most %d reports and freeSlots must not be negative.", nodeproto.MaxReports).
			WithReason(errwire.ReasonInvalidRequest)
	}
	if s.cfg.Dispatcher == nil {
		return nil, cobalt.Errorf(cobalt.EConflict, "No task dispatcher is configured.").WithReason("NoDispatcher")
	}
	resp := nodeproto.ReportsResponse{Leases: []nodeproto.TaskLease{}}
	for _, r := range req.Reports {
		var err error
		switch {
		case r.NodeID != "" && r.NodeID != n.ID:
			err = cobalt.Errorf(cobalt.EForbidden, "The report names another node than its credential.").WithReason("Forbidden")
		case r.Event == nodeproto.EventCoordinated:
			err = cobalt.Errorf(cobalt.EInvalid, "A coordination report goes to %s.", nodeproto.PathReport).WithReason(errwire.ReasonInvalidRequest)
		default:
			err = s.cfg.Dispatcher.Report(ctx, n.Ref(), r)
		}
		switch code := cobalt.ErrorCode(err); {
		case err == nil:
		case code == cobalt.EInternal || code == cobalt.ETooManyRequests:
			return nil, err
		default:
			resp.Errors = append(resp.Errors, nodeproto.ReportError{LeaseID: r.LeaseID, Error: protoError(err)})
		}
	}
	if req.FreeSlots == 0 {
		return resp, nil
	}
	lr, err := s.lease(ctx, n, nodeproto.LeaseRequest{NodeID: n.ID, FreeSlots: req.FreeSlots})
	if err != nil {
		// The reports are applied: the node's lease long-poll asks again.
		s.cfg.Logger.Warn("lease after reports", logkey.Node, n.ID, logkey.Err, err)
		return resp, nil
	}
	resp.Leases = lr.Leases
	return resp, nil
}
