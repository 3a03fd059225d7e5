//go:build linux

package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
	"github.com/cobaltbatch/cobalt/internal/sandbox"
)

// hostileData is a data directory as `cobalt up` keeps it: 0700, with the
// seal key, the database and endpoints.json, and the node directories
// under it.
func hostileData(t *testing.T) string {
	t.Helper()
	data := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"seal.key", "cobalt.db", "endpoints.json"} {
		if err := os.WriteFile(filepath.Join(data, f), []byte("host secret "+f+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return data
}

func runLease(t *testing.T, f *fakeControlPlane, l nodeproto.TaskLease) nodeproto.ReportRequest {
	t.Helper()
	f.mu.Lock()
	f.leases = append(f.leases, l)
	f.mu.Unlock()
	f.waitFor(t, l.LeaseID, func() bool { return f.completed(l.LeaseID) != nil })
	f.mu.Lock()
	defer f.mu.Unlock()
	return *f.completed(l.LeaseID)
}

// TestHostileTasks runs, as an admin and as a non-admin task of a
// sandboxed node, every escape the issue lists; each must fail while the
// task's own work succeeds. Before nodes were sandboxes (a netns and
// nsenter) every one of the file and process checks succeeded for the
// admin task.
func TestHostileTasks(t *testing.T) {
	requireNetns(t)
	data := hostileData(t)
	fa := newFakeControlPlane(t, nodeConfig(identityA))
	a, _ := startAgent(t, fa, IsolationNetns, func(c *Config) {
		c.NodeID, c.RootDir = "tvm-hostile-a", filepath.Join(data, "nodes", "tvm-hostile-a")
	})
	cfgB := nodeConfig(identityB)
	cfgB.PoolID = "pool2"
	fb := newFakeControlPlane(t, cfgB)
	b, _ := startAgent(t, fb, IsolationNetns, func(c *Config) {
		c.NodeID, c.RootDir = "tvm-hostile-b", filepath.Join(data, "nodes", "tvm-hostile-b")
	})
	// A host loopback service that is not a forwarded Cobalt port.
	port := greeter(t, []byte("HTTP/1.0 200 OK\r\n\r\nhost-only\n"))
	agentPid := strconv.Itoa(os.Getpid())
	nodeB := b.Dirs().NodeRoot
	script := strings.NewReplacer("DATA", data, "NODEB", nodeB, "PORT", port, "AGENTPID", agentPid,
		"IDB", identityB.ClientID).Replace(`
check() { name=$1; shift; if "$@" >/dev/null 2>&1; then echo "$name ESCAPED"; else echo "$name blocked"; fi; }
check read-seal-key cat DATA/seal.key
check read-database cat DATA/cobalt.db
check read-endpoints cat DATA/endpoints.json
check list-data-dir ls DATA
check read-other-node ls NODEB/workitems
check write-other-node sh -c 'echo x > NODEB/shared/planted'
check signal-agent kill -0 AGENTPID
check read-agent-environ cat /proc/AGENTPID/environ
check ptrace-agent sh -c 'test -e /proc/AGENTPID/exe && readlink /proc/AGENTPID/exe | grep -q test'
check host-processes sh -c 'test $(ls /proc | grep -c "^[0-9]") -gt 40'
check mount-data-dir sh -c 'mkdir -p /tmp/m && mount --bind DATA /tmp/m && cat /tmp/m/seal.key'
check unshare-read unshare -Urm cat DATA/seal.key
check write-usr sh -c 'echo x > /usr/cobalt-planted'
check write-etc sh -c 'echo x > /etc/cobalt-planted'
check host-loopback curl -sf --max-time 5 http://127.0.0.1:PORT/
check host-sysctl sh -c 'v=$(cat /proc/sys/vm/swappiness) && echo $v > /proc/sys/vm/swappiness'
check host-cgroup-path grep -q cobalt /proc/self/cgroup
check raise-memory-limit sh -c 'mkdir -p /tmp/cg && mount -t cgroup -o memory none /tmp/cg && echo -1 > /tmp/cg/memory.limit_in_bytes'
check see-host-cgroups sh -c 'mkdir -p /tmp/cg2 && mount -t cgroup -o pids none /tmp/cg2 && test -d /tmp/cg2/cobalt'
check raise-pids-limit sh -c 'mkdir -p /tmp/cg3 && mount -t cgroup -o pids none /tmp/cg3 && echo max > /tmp/cg3/pids.max'
check kernel-module sh -c 'echo 1 > /proc/sys/kernel/modules_disabled'
check raw-disk sh -c 'ls /dev/vda /dev/sda /dev/nvme0n1 /dev/mem /dev/kmsg 2>/dev/null | grep -q .'

check other-identity curl -sf --max-time 5 'http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/&client_id=IDB' -H Metadata:true
echo "hostname $(hostname)"
echo "root $AZ_BATCH_NODE_ROOT_DIR"
echo own-work > "$AZ_BATCH_TASK_WORKING_DIR/result" && cat "$AZ_BATCH_TASK_WORKING_DIR/result"
`)
	for i, user := range []nodeproto.UserIdentity{
		{AutoUserScope: "task", AutoUserElevation: "admin"},
		{AutoUserScope: "pool", AutoUserElevation: "nonadmin"},
		{AutoUserScope: "task", AutoUserElevation: "nonadmin"},
	} {
		id := fmt.Sprintf("hostile%d", i)
		rep := runLease(t, fa, nodeproto.TaskLease{LeaseID: id, JobID: "job", TaskID: id, CommandLine: script, UserIdentity: user})
		out, stderr := taskOutput(t, a, "job", id)
		t.Logf("%+v:\n%s", user, out)
		if rep.Failure != nil {
			t.Errorf("%+v: the task's own work failed: %+v; stderr %s", user, rep.Failure, stderr)
		}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if strings.HasSuffix(line, " ESCAPED") {
				t.Errorf("%+v: %s", user, line)
			}
		}
		for _, want := range []string{"own-work", "hostname tvm-hostile-a", "root " + sandbox.NodeRoot, "read-seal-key blocked"} {
			if !strings.Contains(out, want) {
				t.Errorf("%+v: output lacks %q:\n%s\nstderr %s", user, want, out, stderr)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(nodeB, "shared", "planted")); err == nil {
		t.Error("a task wrote into another node's directory")
	}
	for _, p := range []string{"/usr/cobalt-planted", "/etc/cobalt-planted"} {
		if _, err := os.Stat(p); err == nil {
			os.Remove(p)
			t.Errorf("a task wrote %s on the host", p)
		}
	}
}

// TestDownloadsRunInsideTheNode: resource files are fetched by the node,
// through its own network namespace: a host loopback service that is not
// a forwarded port is out of reach (before, downloads ran in the host's
// namespace and got it), a forwarded control-plane port is not.
func TestDownloadsRunInsideTheNode(t *testing.T) {
	requireNetns(t)
	port := greeter(t, []byte("HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\nhost-only\n"))
	f := newFakeControlPlane(t, nodeConfig(identityA))
	a, _ := startAgent(t, f, IsolationNetns, nil)
	rep := runLease(t, f, nodeproto.TaskLease{LeaseID: "host", JobID: "job", TaskID: "host", CommandLine: "cat hostfile",
		ResourceFiles: []nodeproto.ResourceFile{{HTTPURL: "http://127.0.0.1:" + port + "/x", FilePath: "hostfile"}}})
	if rep.Failure == nil || !strings.HasPrefix(rep.Failure.Code, "BlobDownload") {
		t.Errorf("a download reached a host-only loopback service: %+v", rep.Failure)
	}
	rep = runLease(t, f, nodeproto.TaskLease{LeaseID: "fwd", JobID: "job", TaskID: "fwd", CommandLine: "cat pong",
		ResourceFiles: []nodeproto.ResourceFile{{HTTPURL: f.srv.URL + "/ping", FilePath: "pong"}}})
	if out, stderr := taskOutput(t, a, "job", "fwd"); rep.Failure != nil || strings.TrimSpace(out) != "pong" {
		t.Errorf("download through a forwarded port: %q %+v %s", out, rep.Failure, stderr)
	}
}

// TestHostUserByNameIsRefused: a userIdentity naming a host user (root) that
// is not one of the pool's user accounts fails the task with Batch's error
// and runs nothing; the pool's user accounts run as themselves. Before
// nodes were sandboxes, "root" ran as the host's root.
func TestHostUserByNameIsRefused(t *testing.T) {
	requireNetns(t)
	cfg := nodeConfig(identityA)
	cfg.UserAccounts = []nodeproto.UserAccount{{Name: "alice"}, {Name: "bob", ElevationLevel: "admin"}}
	f := newFakeControlPlane(t, cfg)
	a, _ := startAgent(t, f, IsolationNetns, nil)
	rep := runLease(t, f, nodeproto.TaskLease{LeaseID: "root", JobID: "job", TaskID: "root",
		CommandLine: "touch $AZ_BATCH_NODE_SHARED_DIR/ran-as-root", UserIdentity: nodeproto.UserIdentity{UserName: "root"}})
	if rep.Failure == nil || rep.Failure.Code != sandbox.CodeUserNotFound || rep.Failure.Category != "usererror" {
		t.Errorf("failure %+v", rep.Failure)
	}
	if _, err := os.Stat(filepath.Join(a.Dirs().Shared, "ran-as-root")); err == nil {
		t.Error("the task ran")
	}
	rep = runLease(t, f, nodeproto.TaskLease{LeaseID: "alice", JobID: "job", TaskID: "alice",
		CommandLine: "id -un", UserIdentity: nodeproto.UserIdentity{UserName: "alice"}})
	if out, stderr := taskOutput(t, a, "job", "alice"); rep.Failure != nil || strings.TrimSpace(out) != "alice" {
		t.Errorf("pool user account: %q %+v %s", out, rep.Failure, stderr)
	}
	// An admin user account has node root's privileges, and node root's
	// only: the data directory stays out of reach.
	rep = runLease(t, f, nodeproto.TaskLease{LeaseID: "bob", JobID: "job", TaskID: "bob",
		CommandLine: "id -u; ls " + filepath.Dir(a.Dirs().NodeRoot) + " || echo hidden", UserIdentity: nodeproto.UserIdentity{UserName: "bob"}})
	if out, stderr := taskOutput(t, a, "job", "bob"); rep.Failure != nil || !strings.HasPrefix(out, "0\n") || !strings.Contains(out, "hidden") {
		t.Errorf("admin user account: %q %+v %s", out, rep.Failure, stderr)
	}
}

// TestPlantedLinksAreNotFollowedOnRetry: an admin task replaces its
// stdout.txt with a symlink and plants a hard link to a host file; the
// retry of the task writes its own fresh files and the host files are
// untouched.
func TestPlantedLinksAreNotFollowedOnRetry(t *testing.T) {
	requireNetns(t)
	data := hostileData(t)
	victim := filepath.Join(data, "seal.key")
	f := newFakeControlPlane(t, nodeConfig(identityA))
	a, _ := startAgent(t, f, IsolationNetns, func(c *Config) { c.RootDir = filepath.Join(data, "nodes", "n") })
	admin := nodeproto.UserIdentity{AutoUserElevation: "admin"}
	plant := `rm -f $AZ_BATCH_TASK_DIR/stdout.txt $AZ_BATCH_TASK_DIR/stderr.txt
ln -s ` + victim + ` $AZ_BATCH_TASK_DIR/stdout.txt
ln -s /etc/passwd $AZ_BATCH_TASK_DIR/stderr.txt
ln -s / $AZ_BATCH_TASK_WORKING_DIR/hostroot
ln ` + victim + ` $AZ_BATCH_TASK_DIR/hard 2>/dev/null; true`
	runLease(t, f, nodeproto.TaskLease{LeaseID: "plant", JobID: "job", TaskID: "t", CommandLine: plant, UserIdentity: admin})
	rep := runLease(t, f, nodeproto.TaskLease{LeaseID: "retry", JobID: "job", TaskID: "t", CommandLine: "echo retried", UserIdentity: admin})
	if rep.Failure != nil {
		t.Fatalf("retry failed: %+v", rep.Failure)
	}
	if b, _ := os.ReadFile(victim); string(b) != "host secret seal.key\n" {
		t.Errorf("the host file was written: %q", b)
	}
	dir := TaskDir(a.Dirs(), "job", "t")
	fi, err := os.Lstat(filepath.Join(dir, "stdout.txt"))
	if err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("stdout.txt after the retry: %v %v", fi, err)
	}
	if out, _ := taskOutput(t, a, "job", "t"); strings.TrimSpace(out) != "retried" {
		t.Errorf("stdout %q", out)
	}
	if _, err := os.Lstat(filepath.Join(dir, "wd", "hostroot")); err == nil {
		t.Error("the retry's working directory kept the planted link")
	}
}

// TestMemoryLimitKillsWithAClearFailure: a node's memory limit comes from
// its VM size; a task that goes over it is killed by the OOM killer and
// fails with a failure that says so, and the node runs the next task.
func TestMemoryLimitKillsWithAClearFailure(t *testing.T) {
	requireNetns(t)
	if _, err := os.Stat("/sys/fs/cgroup/memory/tasks"); err != nil {
		if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err != nil {
			t.Skip("no memory cgroup on this host")
		}
	}
	f := newFakeControlPlane(t, nodeConfig(identityA))
	var asked string
	startAgent(t, f, IsolationNetns, func(c *Config) {
		c.Limits = func(vmSize string) sandbox.Limits {
			asked = vmSize
			return sandbox.Limits{CPUs: 1, MemoryBytes: 64 << 20}
		}
	})
	if asked != "standard_d2s_v3" {
		t.Errorf("limits asked for VM size %q", asked)
	}
	rep := runLease(t, f, nodeproto.TaskLease{LeaseID: "oom", JobID: "job", TaskID: "oom",
		CommandLine: `python3 -c "b = b'x' * (512 << 20); print(len(b))"`})
	if rep.Failure == nil || rep.Failure.Code != CodeOutOfMemory || rep.Failure.Category != "usererror" ||
		!strings.Contains(rep.Failure.Message, "memory") {
		t.Errorf("failure %+v", rep.Failure)
	}
	rep = runLease(t, f, nodeproto.TaskLease{LeaseID: "small", JobID: "job", TaskID: "small", CommandLine: "true"})
	if rep.Failure != nil {
		t.Errorf("the node did not run the next task: %+v", rep.Failure)
	}
}

// TestNodeWhoseInitDiedIsUnusable: when a node's init dies (it cannot be
// killed from inside; here the host kills it), the agent reports the node
// unusable and leases no more work.
func TestNodeWhoseInitDiedIsUnusable(t *testing.T) {
	requireNetns(t)
	f := newFakeControlPlane(t, nodeConfig(identityA))
	a, _ := startAgent(t, f, IsolationNetns, nil)
	f.waitFor(t, "idle", func() bool { return slices.Contains(f.states, StateIdle) })
	if err := syscall.Kill(a.sandbox.node.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	f.waitFor(t, "unusable", func() bool { return slices.Contains(f.states, stateUnusable) })
	if st := a.State(); st != stateUnusable {
		t.Errorf("state %s", st)
	}
}

// TestIMDSAttributionIgnoresTheTasksClaims: a task that names another task
// in its own environment is still audited as itself (its session), never
// as the task it names. Attribution used to come from the caller's
// AZ_BATCH_JOB_ID/AZ_BATCH_TASK_ID.
func TestIMDSAttributionIgnoresTheTasksClaims(t *testing.T) {
	requireNetns(t)
	f := newFakeControlPlane(t, nodeConfig(identityA))
	startAgent(t, f, IsolationNetns, nil)
	rep := runLease(t, f, nodeproto.TaskLease{LeaseID: "spoof", JobID: "job", TaskID: "mallory",
		CommandLine:  `env AZ_BATCH_JOB_ID=otherjob AZ_BATCH_TASK_ID=alice curl -sf --max-time 5 -H Metadata:true "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://spoof.example/"`,
		UserIdentity: nodeproto.UserIdentity{AutoUserScope: "pool"}})
	if rep.Failure != nil {
		t.Fatalf("failure %+v", rep.Failure)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var seen bool
	for _, r := range f.tokenReqs {
		if r.Resource != "https://spoof.example/" {
			continue
		}
		seen = true
		t.Logf("token request audited as %q", r.TaskID)
		if r.TaskID != "job/mallory" {
			t.Errorf("the token mallory asked for is audited as %q", r.TaskID)
		}
	}
	if !seen {
		t.Error("no token request reached the control plane")
	}
}

// TestIMDSFileIsOutsideTheNode: a sandboxed node's agent publishes how to
// reach its IMDS beside the node's credential, not in the node's directory,
// where node root could point `cobalt node token` (run by the operator) at
// another namespace or a host port.
func TestIMDSFileIsOutsideTheNode(t *testing.T) {
	requireNetns(t)
	published := filepath.Join(t.TempDir(), ".credentials", "node.imds")
	f := newFakeControlPlane(t, nodeConfig(identityA))
	a, _ := startAgent(t, f, IsolationNetns, func(c *Config) { c.IMDSFile = published })
	b, err := os.ReadFile(published)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), a.iso.namespace()) {
		t.Errorf("published %s, want the namespace %s", b, a.iso.namespace())
	}
	if fi, err := os.Stat(published); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("published file: %v %v", fi, err)
	}
	if _, err := os.Stat(filepath.Join(a.cfg.RootDir, "imds.json")); err == nil {
		t.Error("imds.json is in the node's directory")
	}
}
