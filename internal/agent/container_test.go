//go:build linux

package agent

import (
	"crypto/tls"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cobaltbatch/cobalt/internal/agent/container"
	"github.com/cobaltbatch/cobalt/internal/agent/container/containertest"
	"github.com/cobaltbatch/cobalt/internal/agent/taskrun"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
	"github.com/cobaltbatch/cobalt/internal/pki"
	"github.com/cobaltbatch/cobalt/internal/sandbox"
	"github.com/cobaltbatch/cobalt/internal/testenv"
)

// containerEnv is a fake control plane whose node is a container pool's
// node, and a test registry (TLS, ACR's token flow) holding a busybox image
// that identityA may pull.
type containerEnv struct {
	f      *fakeControlPlane
	reg    *containertest.Registry
	ref    string
	caFile string
}

func requireRunc(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("runc"); err != nil {
		testenv.Unavailable(t, "runc (Debian package runc) for container tasks")
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		testenv.Unavailable(t, "/bin/busybox (Debian package busybox-static) for test images")
	}
}

func newContainerEnv(t testing.TB, identity nodeproto.Identity) *containerEnv {
	t.Helper()
	ca, err := pki.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// The registry's Entra check: the fake control plane's tokens for the
	// registry resource name the identity's client ID.
	reg := containertest.Start(t, ca.ServerTLSConfig(), func(aad string) (string, error) {
		rest, ok := strings.CutSuffix(aad, "-"+container.RegistryResource)
		if !ok || !strings.HasPrefix(aad, "tok-") || len(rest) < 36 {
			return "", errors.New("not a registry token")
		}
		return rest[len(rest)-36:], nil // "tok-N-<client ID>"
	})
	reg.AllowPull(identityA.ClientID)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: ca.CertPool(), MinVersion: tls.VersionTLS12}
	ref := reg.Push(t, tr, "tasks/busybox:v1", containertest.Busybox(t))

	cfg := nodeConfig(identity)
	cfg.Containers = &nodeproto.ContainerConfiguration{Type: "dockerCompatible", ImageNames: []string{ref},
		Registries: []nodeproto.ContainerRegistry{{Server: reg.Host, IdentityResourceID: identity.ResourceID}}}
	f := newFakeControlPlane(t, cfg)
	_, port, _ := net.SplitHostPort(reg.Host)
	p, _ := strconv.Atoi(port)
	f.mu.Lock()
	f.config.ForwardPorts = append(f.config.ForwardPorts, p)
	f.mu.Unlock()
	// The node trusts the control plane's certificate and the installation CA.
	cp, _ := os.ReadFile(f.caFile)
	both := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(both, append(cp, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Certificate().Raw})...), 0o644); err != nil {
		t.Fatal(err)
	}
	return &containerEnv{f: f, reg: reg, ref: ref, caFile: both}
}

func (e *containerEnv) start(t testing.TB, nodeID, rootDir string) *Agent {
	a, _ := startAgent(t, e.f, IsolationNetns, func(c *Config) {
		c.CAFile = e.caFile
		if nodeID != "" {
			c.NodeID = nodeID
		}
		if rootDir != "" {
			c.RootDir = rootDir
		}
	})
	return a
}

func (e *containerEnv) waitState(t testing.TB, a *Agent, want string) {
	t.Helper()
	t.Cleanup(func() {
		if t.Failed() {
			e.f.mu.Lock()
			t.Logf("node errors: %+v", e.f.nodeErrors)
			e.f.mu.Unlock()
		}
	})
	e.f.waitFor(t, "node "+want, func() bool { return a.State() == want })
}

// TestContainerPool: a container pool's node pulls the pool's image with
// the pool identity (ACR's exchange, through its own IMDS) before it is
// idle; container tasks then run in the image, in the node's network
// namespace (IMDS answers them with the pool identity's token), with
// Batch's variables and directories, as the task's user; run options and
// working directories behave as documented; terminate kills the container
// and nothing is left behind.
func TestContainerPool(t *testing.T) {
	requireNetns(t)
	requireRunc(t)
	data := hostileData(t)
	e := newContainerEnv(t, identityA)
	// The start task runs in the container too, before the node is idle.
	e.f.mu.Lock()
	e.f.config.StartTask = &nodeproto.StartTask{CommandLine: `sh -c 'cat /etc/image-marker > "$AZ_BATCH_TASK_WORKING_DIR/started"'`,
		WaitForSuccess: true, Container: &nodeproto.ContainerSettings{ImageName: e.ref}}
	e.f.mu.Unlock()
	a := e.start(t, "tvm-containers", filepath.Join(data, "nodes", "tvm-containers"))
	e.waitState(t, a, StateIdle)
	if b, err := os.ReadFile(filepath.Join(a.Dirs().Startup, "wd", "started")); err != nil || string(b) != "from the image\n" {
		t.Fatalf("the start task did not run in its container: %q %v", b, err)
	}
	if n := e.reg.Requests("/oauth2/exchange"); n != 1 {
		t.Fatalf("registry exchanges: %d", n)
	}
	cs := &nodeproto.ContainerSettings{ImageName: e.ref}
	run := func(id, cmd string, c *nodeproto.ContainerSettings, user nodeproto.UserIdentity) (nodeproto.ReportRequest, string, string) {
		t.Helper()
		rep := runLease(t, e.f, nodeproto.TaskLease{LeaseID: id, JobID: "job", TaskID: id, CommandLine: cmd, Container: c,
			Environment: []nodeproto.EnvironmentSetting{{Name: "TASK_VAR", Value: "task"}}, UserIdentity: user})
		out, errOut := taskOutput(t, a, "job", id)
		return rep, out, errOut
	}
	nonAdmin := nodeproto.UserIdentity{AutoUserScope: "pool", AutoUserElevation: "nonadmin"}
	admin := nodeproto.UserIdentity{AutoUserScope: "pool", AutoUserElevation: "admin"}

	rep, out, errOut := run("basic", `sh -c 'echo "$IMAGE_VAR $TASK_VAR $AZ_BATCH_TASK_ID"; cat /etc/image-marker; pwd; id -u; echo $PATH; echo out > $AZ_BATCH_TASK_WORKING_DIR/made-inside; exit 7'`, cs, nonAdmin)
	wantLines := []string{"image task basic", "from the image", "/mnt/batch/tasks/workitems/job/job-1/basic/wd", strconv.Itoa(sandbox.PoolUID), "/bin"}
	if rep.ExitCode == nil || *rep.ExitCode != 7 || rep.Failure == nil || rep.Failure.Code != taskrun.CodeFailureExitCode ||
		strings.Join(strings.Fields(out), "|") != strings.Join(strings.Fields(strings.Join(wantLines, " ")), "|") {
		t.Fatalf("container task: %+v exit %v\nstdout %q\nstderr %q", rep.Failure, rep.ExitCode, out, errOut)
	}
	if b, err := os.ReadFile(filepath.Join(a.Dirs().NodeRoot, "workitems/job/job-1/basic/wd/made-inside")); err != nil || string(b) != "out\n" {
		t.Fatalf("the task directory is not the container's: %q %v", b, err)
	}

	rep, out, errOut = run("imds", `wget -q -O - --header Metadata:true http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://storage.azure.com/`, cs, nonAdmin)
	if rep.Failure != nil || !strings.Contains(out, identityA.ClientID) || !strings.Contains(out, `"access_token"`) {
		t.Fatalf("IMDS from a container: %+v\nstdout %q\nstderr %q", rep.Failure, out, errOut)
	}

	rep, out, errOut = run("opts", `sh -c 'pwd; echo $FOO; id -u'`, &nodeproto.ContainerSettings{ImageName: e.ref,
		RunOptions: "--rm --workdir /tmp -e FOO=bar --user 1234:1234"}, admin)
	if rep.Failure != nil || strings.Join(strings.Fields(out), " ") != "/tmp bar 1234" {
		t.Fatalf("run options: %+v %q %q", rep.Failure, out, errOut)
	}
	rep, out, _ = run("imagewd", `pwd`, &nodeproto.ContainerSettings{ImageName: e.ref, WorkingDirectory: "containerImageDefault"}, nonAdmin)
	if rep.Failure != nil || strings.TrimSpace(out) != "/home/app" {
		t.Fatalf("containerImageDefault: %+v %q", rep.Failure, out)
	}
	for id, c := range map[string]*nodeproto.ContainerSettings{
		"privileged": {ImageName: e.ref, RunOptions: "--privileged"},
		"userswitch": {ImageName: e.ref, RunOptions: "-u 0"},
	} {
		if rep, _, _ := run(id, "true", c, nonAdmin); rep.Failure == nil || rep.Failure.Code != taskrun.CodeContainerInvalidSettings {
			t.Errorf("%s: %+v", id, rep.Failure)
		}
	}
	if rep, _, _ := run("noimage", "true", &nodeproto.ContainerSettings{ImageName: e.reg.Host + "/tasks/missing:v1"}, nonAdmin); rep.Failure == nil ||
		rep.Failure.Code != taskrun.CodeContainerInvalidImage || !strings.Contains(rep.Failure.Message, "tasks/missing:v1") {
		t.Errorf("missing image: %+v", rep.Failure)
	}

	// Listed bind mounts only, read-only when asked; the node's hosts file.
	rep, out, errOut = run("binds", `sh -c 'grep -q localhost /etc/hosts && echo hosts; touch /mnt/batch/tasks/shared/x || echo ro; ls /mnt/batch/tasks/startup || echo nostartup; echo ok > $AZ_BATCH_TASK_WORKING_DIR/y && echo taskdir'`,
		&nodeproto.ContainerSettings{ImageName: e.ref, BindMounts: []nodeproto.BindMount{{Source: "Shared", ReadOnly: true}}}, admin)
	if rep.Failure != nil || strings.Join(strings.Fields(out), " ") != "hosts ro nostartup taskdir" {
		t.Fatalf("bind mounts: %+v %q %q", rep.Failure, out, errOut)
	}

	// Even as root, a container makes no new namespaces (seccomp).
	if rep, out, errOut := run("unshare", `sh -c 'unshare -U -r true && echo made-a-user-namespace; unshare -m true && echo made-a-mount-namespace; true'`, cs, admin); rep.Failure != nil ||
		strings.Contains(out, "made-") {
		t.Fatalf("unshare in a container: %+v %q %q", rep.Failure, out, errOut)
	}

	// A non-admin container cannot reach the node's images or bundles.
	if rep, out, _ := run("images", `ls /mnt/batch/tasks/volatile/containers/images`, cs, nonAdmin); rep.Failure == nil || out != "" {
		t.Fatalf("a non-admin container listed the node's images: %q %+v", out, rep.Failure)
	}

	// Hostile: the container sees neither the host's files nor the
	// control plane's data directory, even as node root.
	rep, out, errOut = run("hostile", `sh -c 'ls `+data+`; cat `+data+`/seal.key; ls /usr/bin | head -3; cat /etc/hostname; ls /mnt/batch/tasks/volatile/containers/images | wc -l'`, cs, admin)
	if strings.Contains(out, "host secret") || strings.Contains(out, "seal.key") || strings.Contains(out, "cobalt.db") {
		t.Fatalf("a container saw the host: %q %q", out, errOut)
	}
	if strings.TrimSpace(errOut) == "" {
		t.Fatalf("the hostile commands all succeeded: %q", out)
	}
	t.Logf("hostile container: stdout %q stderr %q", out, errOut)

	// Terminate kills the container; nothing is left behind.
	e.f.mu.Lock()
	e.f.leases = append(e.f.leases, nodeproto.TaskLease{LeaseID: "long", JobID: "job", TaskID: "long",
		// A duration no other test sleeps: the check below scans every
		// process on the machine, and other packages' tests run meanwhile.
		CommandLine: `sh -c 'touch "$AZ_BATCH_TASK_WORKING_DIR/started"; exec sleep 6007'`, Container: cs})
	e.f.mu.Unlock()
	e.f.waitFor(t, "long running", func() bool {
		_, err := os.Stat(filepath.Join(a.Dirs().NodeRoot, "workitems/job/job-1/long/wd/started"))
		return err == nil
	})
	e.f.mu.Lock()
	e.f.commands = append(e.f.commands, "terminate:long")
	e.f.mu.Unlock()
	e.f.waitFor(t, "long ended", func() bool { return e.f.completed("long") != nil })
	if rep := e.f.completed("long"); rep.Failure == nil || rep.Failure.Code != taskrun.CodeTaskEnded {
		t.Fatalf("terminated container task: %+v", rep.Failure)
	}
	if ents, err := os.ReadDir(filepath.Join(a.Dirs().NodeRoot, "volatile/containers/run")); err != nil || len(ents) != 0 {
		t.Fatalf("bundles left behind: %v %v", ents, err)
	}
	for _, c := range procCmdlines(t) {
		if c == "sleep\x006007\x00" {
			t.Fatal("the terminated container's process lives on")
		}
	}

	// Batch: a task without containerSettings does not run on a container
	// pool's node.
	rep, _, _ = run("plain", "/bin/sh -c 'touch $AZ_BATCH_NODE_SHARED_DIR/plain-ran'", nil, admin)
	if rep.Failure == nil || rep.Failure.Code != taskrun.CodeContainerTaskSettingsNotFound {
		t.Fatalf("a plain task on a container pool: %+v", rep.Failure)
	}
	if _, err := os.Stat(filepath.Join(a.Dirs().Shared, "plain-ran")); err == nil {
		t.Fatal("the plain task ran")
	}
}

// procCmdlines are the command lines of every process of the machine.
func procCmdlines(t *testing.T) []string {
	t.Helper()
	files, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var out []string
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil {
			out = append(out, string(b))
		}
	}
	return out
}

// TestContainerPoolPullRefused: a pool identity without a pull role on the
// registry leaves the node unusable, with an error naming the registry, the
// image and the registry's refusal; it never becomes idle or runs a task.
func TestContainerPoolPullRefused(t *testing.T) {
	requireNetns(t)
	requireRunc(t)
	e := newContainerEnv(t, identityB)
	a := e.start(t, "", "")
	e.waitState(t, a, stateUnusable)
	e.f.waitFor(t, "node errors", func() bool { return len(e.f.nodeErrors) > 0 })
	e.f.mu.Lock()
	errs := e.f.nodeErrors
	states := append([]string(nil), e.f.states...)
	e.f.mu.Unlock()
	ne := errs[0]
	if len(errs) != 1 || ne.Code != sandbox.CodeImagePullFailed || !strings.Contains(ne.Message, e.ref) ||
		!strings.Contains(ne.Message, e.reg.Host) || !strings.Contains(ne.Message, "UNAUTHORIZED") {
		t.Fatalf("node errors %+v", errs)
	}
	for _, s := range states {
		if s == StateIdle {
			t.Fatalf("the node was idle before it had its images: %v", states)
		}
	}
}

// BenchmarkContainerTaskStart runs the same command (true) on one node as
// a plain task and as a container task (image already on the node), one
// task at a time through the node's runner, as the agent runs a lease:
// the difference per task is what a container costs (runc, overlay,
// bundle). In-process: the agent and the node sandbox run in the test.
func BenchmarkContainerTaskStart(b *testing.B) {
	if !netnsSupported() {
		testenv.Unavailable(b, "netns isolation (root and the ip command)")
	}
	requireRunc(b)
	e := newContainerEnv(b, identityA)
	a := e.start(b, "", "")
	e.waitState(b, a, StateIdle)
	tcfg, _ := a.taskConfig("")
	for _, c := range []struct {
		name string
		cs   *nodeproto.ContainerSettings
		cmd  string
	}{{"plain", nil, "/bin/true"}, {"container", &nodeproto.ContainerSettings{ImageName: e.ref}, "true"}} {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				id := c.name + strconv.Itoa(i)
				rep := a.runner.RunTask(b.Context(), tcfg, a.dirs, nodeproto.TaskLease{LeaseID: id, JobID: "bench", TaskID: id,
					CommandLine: c.cmd, Container: c.cs, UserIdentity: nodeproto.UserIdentity{AutoUserScope: "pool", AutoUserElevation: "nonadmin"}})
				if rep.Failure != nil {
					b.Fatalf("%s: %+v", c.name, rep.Failure)
				}
			}
		})
	}
}

// TestContainerPoolInProcessMode: a process-mode node (no sandbox) cannot
// run containers: a container pool's node is unusable with an error that
// says so, and never runs anything on the host in a container's stead.
func TestContainerPoolInProcessMode(t *testing.T) {
	cfg := nodeConfig(identityA)
	cfg.Containers = &nodeproto.ContainerConfiguration{Type: "dockerCompatible", ImageNames: []string{"127.0.0.1:1/tasks/busybox:v1"}}
	f := newFakeControlPlane(t, cfg)
	a, _ := startAgent(t, f, IsolationProcess, nil)
	f.waitFor(t, "unusable", func() bool { return a.State() == stateUnusable })
	f.waitFor(t, "node errors", func() bool { // waitFor holds f.mu
		return len(f.nodeErrors) == 1 && f.nodeErrors[0].Code == CodeContainersNotSupported
	})
}
