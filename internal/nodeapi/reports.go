package nodeapi

import (
	"context"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/batch"
	"github.com/cobaltbatch/cobalt/internal/errwire"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// handleReports applies a node's batch of task reports, in order, and
// claims work for its free slots without waiting (nodeproto.ReportsRequest),
// the reports and the claim in one store transaction
// (Dispatcher.ReportAndLease). A report the dispatcher refuses for good
// (another node's lease, an unknown event) is named in the response and the
// others still apply; a transient failure (the store) fails the request when
// nothing was claimed, and the agent sends the batch again: the reports
// already applied ended their leases, so their second copy is ignored as
// stale.
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
	rs := make([]nodeproto.ReportRequest, 0, len(req.Reports))
	for _, r := range req.Reports {
		if err := refusal(n, r); err != nil {
			resp.Errors = append(resp.Errors, nodeproto.ReportError{LeaseID: r.LeaseID, Error: protoError(err)})
			continue
		}
		rs = append(rs, r)
	}
	free := 0
	if req.FreeSlots > 0 {
		fresh, ok, err := s.leasable(ctx, n, 0)
		switch {
		case err != nil:
			// The reports are applied: the node's lease long-poll asks again.
			s.cfg.Logger.Warn("lease after reports", logkey.Node, n.ID, logkey.Err, err)
		case ok:
			n, free = fresh, req.FreeSlots
		}
	}
	errs, leases, err := s.cfg.Dispatcher.ReportAndLease(ctx, n.Ref(), rs, free)
	if err != nil {
		s.cfg.Logger.Warn("lease after reports", logkey.Node, n.ID, logkey.Err, err)
	}
	for i, err := range errs {
		switch code := cobalt.ErrorCode(err); {
		case err == nil:
		case (code == cobalt.EInternal || code == cobalt.ETooManyRequests) && len(leases) == 0:
			// The node sends the batch again: the reports applied are
			// then about leases no longer current, and ignored.
			return nil, err
		default:
			resp.Errors = append(resp.Errors, nodeproto.ReportError{LeaseID: rs[i].LeaseID, Error: protoError(err)})
		}
	}
	if leases != nil {
		resp.Leases = leases
	}
	return resp, nil
}

// refusal is why the node API refuses node n's report r in a batch, or nil.
func refusal(n *batch.Node, r nodeproto.ReportRequest) error {
	switch {
	case r.NodeID != "" && r.NodeID != n.ID:
		return cobalt.Errorf(cobalt.EForbidden, "The report names another node than its credential.").WithReason("Forbidden")
	case r.Event == nodeproto.EventCoordinated:
		return cobalt.Errorf(cobalt.EInvalid, "A coordination report goes to %s.", nodeproto.PathReport).WithReason(errwire.ReasonInvalidRequest)
	}
	return nil
}
