package agent

import (
	"context"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// queuedReport is a task's completion waiting for the reporter; done is
// closed once it was sent (or given up).
type queuedReport struct {
	rep    nodeproto.ReportRequest
	before string // the node's state before the task ended
	done   chan struct{}
}

// reportEnded reports a task's end and returns once the report was sent.
// The completions that end while a batch is in flight wait for it and go
// together in the next (nodeproto.ReportsRequest), which also asks for work
// for the node's free slots: a busy node sends one request per batch of
// completions, not a report and a lease per task. The first task to find no
// reporter at work becomes the reporter until the queue is empty.
func (a *Agent) reportEnded(ctx context.Context, rep nodeproto.ReportRequest, before string) {
	if a.singleReports.Load() {
		a.slotsChanged(before)
		a.report(ctx, rep)
		return
	}
	q := &queuedReport{rep: rep, before: before, done: make(chan struct{})}
	a.mu.Lock()
	a.reportQ = append(a.reportQ, q)
	lead := !a.reporting
	a.reporting = true
	a.mu.Unlock()
	if lead {
		a.sendReports(ctx)
	}
	select {
	case <-q.done:
	case <-ctx.Done():
	}
}

// sendReports sends the queued completions in batches until none is left.
func (a *Agent) sendReports(ctx context.Context) {
	for {
		a.mu.Lock()
		batch := a.reportQ
		if len(batch) > nodeproto.MaxReports {
			batch = batch[:nodeproto.MaxReports]
		}
		a.reportQ = a.reportQ[len(batch):]
		if len(batch) == 0 {
			a.reporting = false
			a.mu.Unlock()
			return
		}
		free := 0
		if st := a.stateLocked(); st == StateIdle || st == StateRunning {
			free = max(a.freeSlots(), 0)
		}
		a.leasing += free
		a.mu.Unlock()
		req := nodeproto.ReportsRequest{NodeID: a.cfg.NodeID, FreeSlots: free, Reports: make([]nodeproto.ReportRequest, len(batch))}
		for i, q := range batch {
			req.Reports[i] = q.rep
		}
		leases, single := a.postReports(ctx, req)
		for _, l := range leases {
			a.runLease(ctx, l)
		}
		a.mu.Lock()
		a.leasing -= free
		after := a.stateLocked()
		a.mu.Unlock()
		// The heartbeat learns of a change of state (a node that went idle
		// and took no work); the lease loop of slots still free.
		if after != batch[0].before {
			a.notify()
		} else {
			a.wakeLeases()
		}
		if single {
			for _, q := range batch {
				a.report(ctx, q.rep)
			}
		}
		for _, q := range batch {
			close(q.done)
		}
	}
}

// postReports sends one batch, retrying transient failures a few times as
// report does, and returns the leases it brought. single says the control
// plane has no PathReports: the caller sends the reports one by one.
func (a *Agent) postReports(ctx context.Context, req nodeproto.ReportsRequest) (leases []nodeproto.TaskLease, single bool) {
	backoff := 200 * time.Millisecond
	for try := 0; try < 6; try++ {
		var resp nodeproto.ReportsResponse
		err := a.api.call(ctx, nodeproto.PathReports, req, &resp, 30*time.Second)
		if err == nil {
			for _, e := range resp.Errors {
				a.logger.Warn("report refused", logkey.Lease, e.LeaseID, logkey.Reason, e.Code)
			}
			return resp.Leases, false
		}
		if ctx.Err() != nil {
			return nil, false
		}
		code := cobalt.ErrorCode(err)
		if code == cobalt.ENotFound && cobalt.ErrorReason(err) == "" {
			// A control plane of an earlier release: no such path.
			a.singleReports.Store(true)
			return nil, true
		}
		if code != cobalt.EInternal && code != cobalt.ETooManyRequests {
			a.logger.Warn("reports refused", logkey.Count, len(req.Reports), logkey.Err, err)
			return nil, false
		}
		select {
		case <-ctx.Done():
			return nil, false
		case <-time.After(backoff):
		}
		backoff *= 2
	}
	a.logger.Warn("reports failed", logkey.Count, len(req.Reports))
	return nil, false
}
