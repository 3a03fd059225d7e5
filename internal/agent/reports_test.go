package agent

import (
	"fmt"
	"slices"
	"testing"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// queueTasks queues n short tasks on f.
func queueTasks(f *fakeControlPlane, prefix string, n int) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for i := range n {
		id := fmt.Sprintf("%s%d", prefix, i)
		ids = append(ids, id)
		f.leases = append(f.leases, nodeproto.TaskLease{LeaseID: id, JobID: "j", TaskID: id, CommandLine: "true"})
	}
	return ids
}

// runQueued queues n short tasks on f and waits until each has completed.
func runQueued(t *testing.T, f *fakeControlPlane, prefix string, n int) []string {
	t.Helper()
	ids := queueTasks(f, prefix, n)
	f.waitFor(t, "all complete", func() bool {
		for _, id := range ids {
			if f.completed(id) == nil {
				return false
			}
		}
		return true
	})
	return ids
}

// checkRanOnce checks, with f.mu held, that each of ids was reported
// completed once and that the node's tasks never held more than its 2 slots.
func checkRanOnce(t *testing.T, f *fakeControlPlane, a *Agent, ids []string) {
	t.Helper()
	a.mu.Lock()
	if a.peakUsed > 2 {
		t.Errorf("the node's tasks held %d slots at once of 2", a.peakUsed)
	}
	a.mu.Unlock()
	seen := map[string]int{}
	for _, r := range f.reports {
		if r.Event == "completed" {
			seen[r.LeaseID]++
		}
	}
	for _, id := range ids {
		if seen[id] != 1 {
			t.Errorf("task %s reported completed %d times", id, seen[id])
		}
	}
}

// TestReportsBatchAndCarryLeases: a node's completions go to PathReports,
// which brings the next tasks for the freed slots; every task runs and
// reports once, and the node's tasks never hold more than its slots (the
// lease loop and the reporter never ask for the same slot).
func TestReportsBatchAndCarryLeases(t *testing.T) {
	t.Parallel()
	f := newFakeControlPlane(t, nodeConfig(identityA)) // 2 slots
	a, _ := startAgent(t, f, IsolationProcess, nil)
	f.waitFor(t, "idle", func() bool { return slices.Contains(f.states, StateIdle) })
	ids := runQueued(t, f, "b", 40)
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.batches) == 0 {
		t.Fatal("no completion went to PathReports")
	}
	carried := 0
	for _, b := range f.batches {
		if b.NodeID == "" || len(b.Reports) == 0 || b.FreeSlots < 0 || b.FreeSlots > 2 {
			t.Errorf("reports request %+v", b)
		}
		carried += b.FreeSlots
	}
	if carried == 0 {
		t.Error("no reports request asked for work")
	}
	checkRanOnce(t, f, a, ids)
}

// TestReportsEarlierControlPlane: against a control plane without
// PathReports (an earlier release), completions go one by one to
// PathReport and the lease loop takes the freed slots.
func TestReportsEarlierControlPlane(t *testing.T) {
	t.Parallel()
	f := newFakeControlPlane(t, nodeConfig(identityA))
	f.singleOnly = true
	a, _ := startAgent(t, f, IsolationProcess, nil)
	f.waitFor(t, "idle", func() bool { return slices.Contains(f.states, StateIdle) })
	ids := runQueued(t, f, "s", 10)
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.batches) != 0 {
		t.Errorf("%d batches recorded by a control plane that has none", len(f.batches))
	}
	checkRanOnce(t, f, a, ids)
}
