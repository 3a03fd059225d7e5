package agent

import (
	"os"
	"slices"
	"testing"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// jobTaskReports are the reports about the job's preparation or release
// task with the event.
func (f *fakeControlPlane) jobTaskReports(kind, jobID, event string) []nodeproto.ReportRequest {
	var out []nodeproto.ReportRequest
	for _, r := range f.reports {
		if r.JobTask == kind && r.JobID == jobID && r.Event == event {
			out = append(out, r)
		}
	}
	return out
}

// TestAgentJobPreparationAndRelease: the preparation task runs once per
// job instance before the job's tasks (the second lease waits for it),
// again after a reboot when rerunOnNodeRebootAfterSuccess says so; the
// release task runs once however many heartbeats carry it; a failed
// preparation task with waitForSuccess has the node give the lease back
// without running the task.
func TestAgentJobPreparationAndRelease(t *testing.T) {
	t.Parallel()
	f := newFakeControlPlane(t, nodeConfig(identityA)) // 2 slots
	a, _ := startAgent(t, f, IsolationProcess, nil)
	f.waitFor(t, "idle", func() bool { return slices.Contains(f.states, StateIdle) })
	prep := &nodeproto.JobTask{Kind: nodeproto.JobTaskPreparation, JobID: "j", Instance: "i1", TaskID: "jobpreparation",
		CommandLine: "sleep 0.3; echo x >> $AZ_BATCH_NODE_SHARED_DIR/prep", WaitForSuccess: true, RerunOnNodeRebootAfterSuccess: true}
	lease := func(id, cmd string, jp *nodeproto.JobTask) {
		f.mu.Lock()
		f.leases = append(f.leases, nodeproto.TaskLease{LeaseID: id, JobID: jp.JobID, TaskID: id, CommandLine: cmd, JobPreparation: jp})
		f.mu.Unlock()
	}
	lines := func(n string) string { return "test $(wc -l < $AZ_BATCH_NODE_SHARED_DIR/prep) -eq " + n }
	lease("t1", lines("1"), prep)
	lease("t2", lines("1"), prep)
	f.waitFor(t, "both tasks complete", func() bool { return f.completed("t1") != nil && f.completed("t2") != nil })
	f.mu.Lock()
	for _, id := range []string{"t1", "t2"} {
		if r := f.completed(id); r.ExitCode == nil || *r.ExitCode != 0 {
			t.Errorf("task %s did not find one preparation: %+v", id, r)
		}
	}
	if got := f.jobTaskReports(nodeproto.JobTaskPreparation, "j", "completed"); len(got) != 1 || *got[0].ExitCode != 0 || got[0].Instance != "i1" {
		t.Errorf("preparation reports: %+v", got)
	}
	f.commands = append(f.commands, "reboot")
	f.mu.Unlock()
	f.waitFor(t, "registered again", func() bool { return f.registers == 2 && f.states[len(f.states)-1] == StateIdle })
	lease("t3", lines("2"), prep)
	f.waitFor(t, "t3 completes", func() bool { return f.completed("t3") != nil })
	f.mu.Lock()
	if r := f.completed("t3"); r.ExitCode == nil || *r.ExitCode != 0 {
		t.Errorf("after a reboot the preparation task did not run again: %+v", r)
	}
	f.releases = []nodeproto.JobTask{{Kind: nodeproto.JobTaskRelease, JobID: "j", Instance: "i1", TaskID: "jobrelease",
		CommandLine: "rm $AZ_BATCH_NODE_SHARED_DIR/prep"}}
	f.mu.Unlock()
	f.waitFor(t, "the release task completes", func() bool {
		return len(f.jobTaskReports(nodeproto.JobTaskRelease, "j", "completed")) == 1
	})
	f.mu.Lock()
	seen := f.heartbeats
	f.mu.Unlock()
	f.waitFor(t, "three more heartbeats with the release", func() bool { return f.heartbeats >= seen+3 })
	f.mu.Lock()
	if got := f.jobTaskReports(nodeproto.JobTaskRelease, "j", "completed"); len(got) != 1 || *got[0].ExitCode != 0 {
		t.Errorf("release reports: %+v", got)
	}
	f.releases = nil
	f.mu.Unlock()
	if _, err := os.Stat(a.Dirs().Shared + "/prep"); !os.IsNotExist(err) {
		t.Errorf("the release task did not run: %v", err)
	}

	bad := &nodeproto.JobTask{Kind: nodeproto.JobTaskPreparation, JobID: "bad", Instance: "i1", TaskID: "jobpreparation",
		CommandLine: "exit 3", MaxTaskRetryCount: 1, WaitForSuccess: true}
	lease("b1", "touch $AZ_BATCH_NODE_SHARED_DIR/ran", bad)
	f.waitFor(t, "the lease given back", func() bool {
		return slices.ContainsFunc(f.reports, func(r nodeproto.ReportRequest) bool { return r.LeaseID == "b1" && r.Event == reportReleased })
	})
	f.mu.Lock()
	defer f.mu.Unlock()
	got := f.jobTaskReports(nodeproto.JobTaskPreparation, "bad", "completed")
	if len(got) != 2 || got[1].RetryCount != 1 || *got[1].ExitCode != 3 {
		t.Errorf("failed preparation reports: %+v", got)
	}
	if slices.ContainsFunc(f.reports, func(r nodeproto.ReportRequest) bool { return r.LeaseID == "b1" && r.Event != reportReleased }) {
		t.Errorf("the task of a job whose preparation failed was reported run")
	}
	if _, err := os.Stat(a.Dirs().Shared + "/ran"); !os.IsNotExist(err) {
		t.Errorf("the task ran: %v", err)
	}
}
