package e2e

import (
	"debug/buildinfo"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/batch/azbatch"

	"github.com/cobaltbatch/cobalt/internal/agent"
	"github.com/cobaltbatch/cobalt/internal/testenv"
)

// TestNodeInitBesideCobalt: built as the README says (go build -o DIR/
// ./cmd/...), `cobalt up` runs its sandboxed nodes from the
// cobalt-node-init beside it when both builds provably come from one
// unmodified commit, and from itself, saying why, otherwise (a modified
// work tree, no version control); a task sees which as its node's PID 1,
// and runs either way.
func TestNodeInitBesideCobalt(t *testing.T) {
	if agent.DefaultIsolation() != agent.IsolationNetns {
		testenv.Unavailable(t, "sandboxed nodes (root, Linux, ip netns)")
	}
	t.Parallel()
	binDir := t.TempDir()
	// auto: stamp the revision when git can tell it (this machine's GOFLAGS
	// may say -buildvcs=false; a flag on the command line wins).
	build := exec.Command("go", "build", "-buildvcs=auto", "-o", binDir+string(filepath.Separator), "./cmd/...")
	build.Dir = moduleRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/...: %v\n%s", err, out)
	}
	bin := filepath.Join(binDir, "cobalt")
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	vcs := map[string]string{}
	for _, s := range info.Settings {
		vcs[s.Key] = s.Value
	}
	clean := vcs["vcs.revision"] != "" && vcs["vcs.modified"] == "false"
	want := "exe" // /proc/self/exe: cobalt itself
	if clean {
		want = "cobalt-node-ini" // the kernel keeps 15 bytes of a name
	}

	data := traversableTempDir(t)
	logFile := filepath.Join(t.TempDir(), "cobalt.log")
	startCobalt(t, bin, data, logFile, "--isolation", "netns")
	e := clientEnv(t, data)
	c := ctx(t)
	endpoint := e.plainPool(t, c, "initpool", 1, 1)
	bc := e.batchClient(t, endpoint)
	e.waitIdleNode(t, c, bc, "initpool")
	if _, err := bc.CreateJob(c, azbatch.CreateJobContent{ID: to.Ptr("j"), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr("initpool")}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := bc.CreateTask(c, "j", azbatch.CreateTaskContent{ID: to.Ptr("pid1"), CommandLine: to.Ptr("cat /proc/1/comm")}, nil); err != nil {
		t.Fatal(err)
	}
	tk := e.waitTask(t, c, bc, "j", "pid1")
	if deref(tk.ExecutionInfo.ExitCode) != 0 {
		t.Fatalf("the task failed: %+v\n%s", tk.ExecutionInfo, e.taskFile(t, c, bc, "j", "pid1", "stderr.txt"))
	}
	if got := strings.TrimSpace(e.taskFile(t, c, bc, "j", "pid1", "stdout.txt")); got != want {
		t.Fatalf("the node's PID 1 is %q, want %q (build: revision %q, modified %q)\n%s", got, want,
			vcs["vcs.revision"], vcs["vcs.modified"], tail(logFile))
	}
	t.Logf("build from a clean commit: %v; the node's PID 1: %s", clean, want)
	// The log says which, and why not.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		b, _ := os.ReadFile(logFile)
		log := string(b)
		used := strings.Contains(log, "node inits run from the node init beside this executable")
		refused := strings.Contains(log, "node inits run from this executable") && strings.Contains(log, "another build")
		if used == clean && refused == !clean {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log does not say where node inits run from (clean build %v):\n%s", clean, tail(logFile))
		}
	}
}
