package agent

import (
	"context"
	"time"

	"github.com/cobaltbatch/cobalt/internal/agent/taskrun"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// coordinationPoll is how often a primary asks whether every instance of
// its task has coordinated.
const coordinationPoll = 250 * time.Millisecond

// runMultiInstance runs this node's instance of a multi-instance task: the
// coordination command (with the common resource files), its report, and
// then, on the primary, the application command once every instance has
// coordinated; a subtask holds its lease until the control plane ends it
// (ctx ends when the heartbeat says so). The returned report is the
// instance's completion.
func (a *Agent) runMultiInstance(ctx context.Context, cfg taskrun.Config, l nodeproto.TaskLease) nodeproto.ReportRequest {
	mi := *l.MultiInstance
	mi.Hosts = a.instanceHosts(mi.Nodes)
	coord := l
	cm := mi
	cm.Phase = nodeproto.PhaseCoordination
	coord.MultiInstance = &cm
	rep := a.runner.RunTask(ctx, cfg, a.dirs, coord)
	// However the instance ends, what its coordination command left
	// running ends with it.
	defer func() {
		end := l
		em := mi
		em.Phase = nodeproto.PhaseCleanup
		end.MultiInstance = &em
		a.runner.RunTask(context.WithoutCancel(ctx), cfg, a.dirs, end)
	}()
	if ctx.Err() != nil {
		return rep
	}
	proceed := a.coordinated(ctx, l.LeaseID, rep)
	if rep.Failure != nil {
		return rep
	}
	if mi.SubtaskID > 0 {
		<-ctx.Done()
		return rep
	}
	t := time.NewTicker(coordinationPoll)
	defer t.Stop()
	for !proceed {
		select {
		case <-ctx.Done():
			return rep
		case <-t.C:
		}
		proceed = a.coordinated(ctx, l.LeaseID, rep)
	}
	app := l
	am := mi
	am.Phase = nodeproto.PhaseApplication
	app.MultiInstance = &am
	out := a.runner.RunTask(ctx, cfg, a.dirs, app)
	out.StartTime = rep.StartTime
	return out
}

// coordinated reports the instance's coordination outcome and returns
// whether the primary may run the application command.
func (a *Agent) coordinated(ctx context.Context, leaseID string, rep nodeproto.ReportRequest) bool {
	var resp nodeproto.ReportResponse
	err := a.api.call(ctx, nodeproto.PathReport, nodeproto.ReportRequest{NodeID: a.cfg.NodeID, LeaseID: leaseID, Event: nodeproto.EventCoordinated,
		StartTime: rep.StartTime, EndTime: rep.EndTime, ExitCode: rep.ExitCode, Failure: rep.Failure}, &resp, 30*time.Second)
	if err != nil {
		if ctx.Err() == nil {
			a.logger.Warn("coordination report failed", logkey.Lease, leaseID, logkey.Err, err)
		}
		return false
	}
	return resp.Proceed
}

// instanceHosts are the addresses of a multi-instance task's nodes as its
// commands reach them: on the pool's private network when this node is on
// one, else 127.0.0.1 (process isolation: every node shares the host's
// network, so the instances reach each other only on the loopback).
func (a *Agent) instanceHosts(nodes []string) []string {
	out := make([]string, len(nodes))
	for i, id := range nodes {
		out[i] = "127.0.0.1"
		if a.interNode {
			if addr, ok := nodeproto.InterNodeAddress(id); ok {
				out[i] = addr
			}
		}
	}
	return out
}
