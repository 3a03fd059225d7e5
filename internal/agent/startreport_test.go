package agent

import (
	"testing"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// A task that ends before startReportDelay reports once: its completion
// carries its start time. A task that runs longer reports its start, then
// its completion, in that order.
func TestStartReportFoldedIntoCompletion(t *testing.T) {
	t.Parallel()
	f := newFakeControlPlane(t, nodeConfig(identityA))
	startAgent(t, f, IsolationProcess, nil)
	f.mu.Lock()
	f.leases = append(f.leases,
		nodeproto.TaskLease{LeaseID: "short", JobID: "j", TaskID: "short", CommandLine: "/bin/true"},
		nodeproto.TaskLease{LeaseID: "long", JobID: "j", TaskID: "long", CommandLine: "sleep 1.5"})
	f.mu.Unlock()
	f.waitFor(t, "both complete", func() bool { return f.completed("short") != nil && f.completed("long") != nil })
	f.mu.Lock()
	defer f.mu.Unlock()
	var short, long []nodeproto.ReportRequest
	for _, r := range f.reports {
		switch r.LeaseID {
		case "short":
			short = append(short, r)
		case "long":
			long = append(long, r)
		}
	}
	if len(short) != 1 || short[0].Event != "completed" || short[0].StartTime.IsZero() || short[0].EndTime == nil ||
		short[0].EndTime.Before(short[0].StartTime) {
		t.Errorf("short task's reports: %+v, want one completion carrying its start", short)
	}
	if len(long) != 2 || long[0].Event != "started" || long[1].Event != "completed" || long[0].StartTime.IsZero() {
		t.Errorf("long task's reports: %+v, want started then completed", long)
	}
}
