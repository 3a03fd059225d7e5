package agent

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// TestAgentFencesWhenCutOff: a node of a joined host (FenceMillis set)
// whose heartbeats fail for longer than the fence kills its running task
// without reporting it, before the control plane would requeue it, and
// gives its lease back once the control plane answers again.
func TestAgentFencesWhenCutOff(t *testing.T) {
	t.Parallel()
	cfg := nodeConfig(identityA)
	cfg.FenceMillis = 600
	f := newFakeControlPlane(t, cfg)
	a, _ := startAgent(t, f, IsolationProcess, nil)
	f.mu.Lock()
	f.leases = append(f.leases, nodeproto.TaskLease{LeaseID: "long", JobID: "j", TaskID: "long",
		CommandLine: `/bin/sh -c 'echo $$ > pid; exec sleep 60'`})
	f.mu.Unlock()
	f.waitFor(t, "the task started", func() bool {
		for _, r := range f.reports {
			if r.LeaseID == "long" && r.Event == "started" {
				return true
			}
		}
		return false
	})
	pidFile := filepath.Join(TaskDir(a.Dirs(), "j", "long"), "wd", "pid")
	var pid int
	for deadline := time.Now().Add(10 * time.Second); pid == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		b, _ := os.ReadFile(pidFile)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	if pid == 0 {
		t.Fatalf("no pid in %s", pidFile)
	}
	f.mu.Lock()
	f.heartbeatDown = true
	f.mu.Unlock()
	// The task's process ends: killed by the fence (it would sleep 60 s).
	for deadline := time.Now().Add(20 * time.Second); syscall.Kill(pid, 0) == nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the task still runs with the control plane out of reach")
		}
	}
	f.mu.Lock()
	if f.completed("long") != nil {
		t.Error("a fenced task was reported completed")
	}
	f.heartbeatDown = false
	f.mu.Unlock()
	f.waitFor(t, "the fenced lease given back", func() bool {
		for _, r := range f.reports {
			if r.LeaseID == "long" && r.Event == reportReleased {
				return true
			}
		}
		return false
	})
}
