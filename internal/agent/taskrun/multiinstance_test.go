package taskrun

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// TestMultiInstancePhases runs an instance as the agent does: the
// coordination phase downloads the common files into the task directory
// and sees Batch's variables; the application phase keeps the directory
// (and the coordination's output before its own); the cleanup phase ends
// what the coordination command left in the background.
func TestMultiInstancePhases(t *testing.T) {
	t.Parallel()
	srv := blobServer(t)
	d := dirs(t)
	cfg := Config{HTTPClient: srv.Client()}
	mi := nodeproto.MultiInstance{NumberOfInstances: 2, Nodes: []string{"tvm-1_1-x", "tvm-1_2-x"}, Hosts: []string{"10.0.0.4", "10.0.0.5"},
		CoordinationCommandLine: `/bin/sh -c 'env | grep -E "^(AZ_BATCH_HOST_LIST|AZ_BATCH_NODE_LIST|AZ_BATCH_MASTER_NODE|AZ_BATCH_IS_CURRENT_NODE_MASTER|AZ_BATCH_TASK_SHARED_DIR|CCP_NODES)=" | sort; ` +
			`cat "$AZ_BATCH_TASK_SHARED_DIR/common/other.txt"; echo; sleep 300 & echo $! > "$AZ_BATCH_TASK_SHARED_DIR/bg.pid"'`,
		CommonResourceFiles: []nodeproto.ResourceFile{{HTTPURL: srv.URL + "/sas/c/other.txt?sig=secret", FilePath: "common/other.txt"}}}
	lease := func(phase string) nodeproto.TaskLease {
		m := mi
		m.Phase = phase
		return nodeproto.TaskLease{JobID: "j", TaskID: "mpi", CommandLine: `/bin/sh -c 'echo app; ls ../common'`, MultiInstance: &m,
			UserIdentity: nodeproto.UserIdentity{AutoUserElevation: "admin"}}
	}
	dir := TaskDir(d, "j", "mpi")
	if r := RunTask(t.Context(), cfg, d, lease(nodeproto.PhaseCoordination)); r.Failure != nil || r.ExitCode == nil || *r.ExitCode != 0 {
		t.Fatalf("coordination: %+v %+v", r, r.Failure)
	}
	bg := strings.TrimSpace(read(t, filepath.Join(dir, "bg.pid")))
	if !alive(bg) {
		t.Fatalf("the coordination's background process %s is not running", bg)
	}
	if r := RunTask(t.Context(), cfg, d, lease(nodeproto.PhaseApplication)); r.Failure != nil {
		t.Fatalf("application: %+v", r.Failure)
	}
	want := strings.Join([]string{
		"AZ_BATCH_HOST_LIST=10.0.0.4,10.0.0.5",
		"AZ_BATCH_IS_CURRENT_NODE_MASTER=true",
		"AZ_BATCH_MASTER_NODE=10.0.0.4:6000",
		"AZ_BATCH_NODE_LIST=10.0.0.4;10.0.0.5",
		"AZ_BATCH_TASK_SHARED_DIR=" + dir,
		"CCP_NODES=2 10.0.0.4 1 10.0.0.5 1",
		"O",
		"app",
		"other.txt",
		""}, "\n")
	if got := read(t, filepath.Join(dir, "stdout.txt")); got != want {
		t.Fatalf("stdout\n%q\nwant\n%q", got, want)
	}
	RunTask(t.Context(), cfg, d, lease(nodeproto.PhaseCleanup))
	for i := 0; alive(bg); i++ {
		if i > 1000 {
			t.Fatalf("the coordination's background process %s outlived its instance", bg)
		}
		sleepMs(5)
	}
}

func TestMultiInstanceEnvSubtask(t *testing.T) {
	t.Parallel()
	env := MultiInstanceEnv(nodeproto.MultiInstance{SubtaskID: 2, Hosts: []string{"10.0.0.4", "10.0.0.6", "10.0.0.5"}}, "/d")
	got := strings.Join(env, "\n")
	for _, w := range []string{"AZ_BATCH_IS_CURRENT_NODE_MASTER=false", "AZ_BATCH_MASTER_NODE=10.0.0.4:6000", "AZ_BATCH_HOST_LIST=10.0.0.4,10.0.0.6,10.0.0.5"} {
		if !strings.Contains(got, w) {
			t.Errorf("env lacks %s:\n%s", w, got)
		}
	}
}

func alive(pid string) bool {
	_, err := os.Stat("/proc/" + pid + "/status")
	if err != nil {
		return false
	}
	b, _ := os.ReadFile("/proc/" + pid + "/status")
	return !strings.Contains(string(b), "State:\tZ")
}

func sleepMs(n int) { time.Sleep(time.Duration(n) * time.Millisecond) }
