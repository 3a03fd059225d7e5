package agent

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
	"github.com/cobaltbatch/cobalt/internal/sandbox"
	"github.com/cobaltbatch/cobalt/internal/testenv"
)

func TestMain(m *testing.M) {
	sandbox.Main()
	testenv.RunMIHelper()
	testenv.LoopbackOnly(m)
}

var (
	identityA = nodeproto.Identity{
		ResourceID:  "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-a",
		ClientID:    "aaaaaaaa-1111-4111-8111-000000000001",
		PrincipalID: "aaaaaaaa-2222-4222-8222-000000000001",
	}
	identityB = nodeproto.Identity{
		ResourceID:  "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-b",
		ClientID:    "bbbbbbbb-1111-4111-8111-000000000002",
		PrincipalID: "bbbbbbbb-2222-4222-8222-000000000002",
	}
)

func nodeConfig(ids ...nodeproto.Identity) nodeproto.NodeConfig {
	return nodeproto.NodeConfig{
		PoolID: "pool1", AccountName: "acct1", VMSize: "standard_d2s_v3", Location: "westus",
		SubscriptionID: "00000000-0000-0000-0000-000000000001", ResourceGroup: "rg", TenantID: "tenant-1",
		TaskSlotsPerNode: 2, Identities: ids,
	}
}

// startAgent runs an agent against f until the test ends and waits until it
// is ready.
func startAgent(t testing.TB, f *fakeControlPlane, isolation string, mutate func(*Config)) (*Agent, <-chan error) {
	t.Helper()
	cfg := Config{
		ControlPlaneURL: f.srv.URL, Credential: f.cred, NodeID: "tvmps_" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "_")) + "_d",
		RootDir: reachableTempDir(t), Isolation: isolation, CAFile: f.caFile, IMDSRateLimit: "off",
		HeartbeatInterval: 200 * time.Millisecond, LeaseWait: time.Second,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	stopped := make(chan struct{})
	go func() { done <- a.Run(ctx); close(stopped) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-stopped:
		case <-time.After(30 * time.Second):
			t.Error("agent did not stop")
		}
	})
	select {
	case <-a.Ready():
	case <-stopped:
		t.Fatalf("agent stopped before ready: %v", <-done)
	case <-time.After(30 * time.Second):
		t.Fatal("agent not ready")
	}
	return a, done
}

// openGate creates the file gated tasks wait for in the shared directory.
func openGate(t *testing.T, a *Agent) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(a.Dirs().Shared, "gate"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// reachableTempDir is a temporary directory whose ancestors other users can
// traverse, as a node root must be for non-admin tasks.
func reachableTempDir(t testing.TB) string {
	t.Helper()
	d := t.TempDir()
	for p := d; p != "/" && p != os.TempDir(); p = filepath.Dir(p) {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func envValue(env []string, name string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}

func TestAgentProcessMode(t *testing.T) {
	t.Parallel()
	cfg := nodeConfig(identityA)
	// The start task waits for a gate the test opens once it has seen the
	// node waiting for it.
	cfg.StartTask = &nodeproto.StartTask{CommandLine: "while [ ! -e $AZ_BATCH_NODE_SHARED_DIR/gate ]; do sleep 0.02; done; echo started > $AZ_BATCH_NODE_SHARED_DIR/marker", WaitForSuccess: true}
	f := newFakeControlPlane(t, cfg)
	a, _ := startAgent(t, f, IsolationProcess, nil)
	f.waitFor(t, "waitingforstarttask", func() bool { return slices.Contains(f.states, StateWaitingForStart) })
	openGate(t, a)

	env := a.TaskEnv()
	for _, name := range []string{"AZ_BATCH_NODE_ROOT_DIR", "AZ_BATCH_NODE_SHARED_DIR", "AZ_BATCH_NODE_STARTUP_DIR",
		"AZ_BATCH_POOL_ID", "AZ_BATCH_NODE_ID", "AZ_BATCH_ACCOUNT_NAME", "IDENTITY_ENDPOINT", "IDENTITY_HEADER",
		"AZURE_POD_IDENTITY_AUTHORITY_HOST"} {
		if envValue(env, name) == "" {
			t.Errorf("task environment lacks %s", name)
		}
	}
	if envValue(env, "AZ_BATCH_POOL_ID") != "pool1" || envValue(env, "AZ_BATCH_ACCOUNT_NAME") != "acct1" {
		t.Errorf("env %v", env)
	}
	if strings.Contains(envValue(env, "AZURE_POD_IDENTITY_AUTHORITY_HOST"), "169.254") {
		t.Error("process mode points at the link-local IMDS address")
	}
	f.waitFor(t, "idle after the start task", func() bool { return slices.Contains(f.states, StateIdle) })
	// Checked once the start task has run: each attempt makes its directory
	// afresh, so while it starts, startup/ may be between removal and creation.
	for _, d := range []string{"shared", "startup", "workitems"} {
		if st, err := os.Stat(a.Dirs().NodeRoot + "/" + d); err != nil || !st.IsDir() {
			t.Errorf("node directory %s: %v", d, err)
		}
	}
	f.mu.Lock()
	states := slices.Clone(f.states)
	f.mu.Unlock()
	if i, j := slices.Index(states, StateWaitingForStart), slices.Index(states, StateIdle); i < 0 || j < i {
		t.Errorf("states %v: want waitingforstarttask before idle", states)
	}
	if b, err := os.ReadFile(a.Dirs().Shared + "/marker"); err != nil || strings.TrimSpace(string(b)) != "started" {
		t.Errorf("start task did not run: %q %v", b, err)
	}

	// A task reads a token through both process-mode endpoints.
	f.mu.Lock()
	f.leases = append(f.leases, nodeproto.TaskLease{LeaseID: "l1", JobID: "job1", TaskID: "task1", CommandLine: `set -e
curl -sf -H "X-IDENTITY-HEADER: $IDENTITY_HEADER" "$IDENTITY_ENDPOINT?api-version=2019-08-01&resource=https://vault.azure.net"
echo
curl -sf -H Metadata:true -H "X-IDENTITY-HEADER: $IDENTITY_HEADER" "$AZURE_POD_IDENTITY_AUTHORITY_HOST/metadata/identity/oauth2/token/?api-version=2018-02-01&resource=https://management.azure.com/"
echo
if curl -sf -H Metadata:true "$AZURE_POD_IDENTITY_AUTHORITY_HOST/metadata/identity/oauth2/token/?api-version=2018-02-01&resource=https://management.azure.com/"; then echo OPEN; else echo refused; fi`})
	f.mu.Unlock()
	f.waitFor(t, "task l1 completed", func() bool { return f.completed("l1") != nil })
	f.mu.Lock()
	rep := *f.completed("l1")
	tokenReqs := slices.Clone(f.tokenReqs)
	f.mu.Unlock()
	out, stderr := taskOutput(t, a, "job1", "task1")
	if rep.ExitCode == nil || *rep.ExitCode != 0 {
		t.Fatalf("task failed: %+v; stdout %s stderr %s", rep, out, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("stdout %q", out)
	}
	// The loopback IMDS answers only with the secret: any local process
	// can reach the port.
	if lines[2] != "refused" {
		t.Errorf("the process-mode IMDS answered without the secret: %q", lines[2])
	}
	var app, im map[string]string
	if err := json.Unmarshal([]byte(lines[0]), &app); err != nil {
		t.Fatalf("app service body %q: %v", lines[0], err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &im); err != nil {
		t.Fatalf("imds body %q: %v", lines[1], err)
	}
	if !strings.HasSuffix(app["access_token"], "-https://vault.azure.net") || app["client_id"] != identityA.ClientID {
		t.Errorf("app service token %v", app)
	}
	if !strings.HasSuffix(im["access_token"], "-https://management.azure.com/") || im["token_type"] != "Bearer" {
		t.Errorf("imds token %v", im)
	}
	// Both requests carried the task's own secret: attributed.
	var attributed, imdsAttributed bool
	for _, r := range tokenReqs {
		if r.Resource == "https://vault.azure.net" && r.TaskID == "job1/task1" {
			attributed = true
		}
		if r.Resource == "https://management.azure.com/" && r.TaskID == "job1/task1" {
			imdsAttributed = true
		}
	}
	if !imdsAttributed {
		t.Errorf("IMDS token request not attributed to the task: %+v", tokenReqs)
	}
	if !attributed {
		t.Errorf("token request not attributed to the task: %+v", tokenReqs)
	}
	f.mu.Lock()
	started := false
	for _, r := range f.reports {
		// A short task's completion carries its start (startReportDelay).
		started = started || (r.LeaseID == "l1" && (r.Event == "started" || r.Event == "completed") && !r.StartTime.IsZero())
	}
	f.mu.Unlock()
	if !started {
		t.Error("no report of the task's start")
	}
}

func TestAgentSlotsAndStates(t *testing.T) {
	t.Parallel()
	f := newFakeControlPlane(t, nodeConfig(identityA)) // 2 slots
	a, _ := startAgent(t, f, IsolationProcess, nil)
	f.waitFor(t, "idle", func() bool { return slices.Contains(f.states, StateIdle) })
	f.mu.Lock()
	for _, id := range []string{"s1", "s2", "s3"} {
		f.leases = append(f.leases, nodeproto.TaskLease{LeaseID: id, JobID: "j", TaskID: id,
			CommandLine: "while [ ! -e $AZ_BATCH_NODE_SHARED_DIR/gate ]; do sleep 0.02; done"})
	}
	f.mu.Unlock()
	f.waitFor(t, "running", func() bool { return slices.Contains(f.states, StateRunning) })
	f.waitFor(t, "two leased", func() bool { return len(f.leases) == 1 })
	openGate(t, a)
	f.waitFor(t, "all three complete", func() bool {
		return f.completed("s1") != nil && f.completed("s2") != nil && f.completed("s3") != nil
	})
	f.waitFor(t, "idle after running", func() bool {
		i := slices.Index(f.states, StateRunning)
		return i >= 0 && slices.Contains(f.states[i:], StateIdle)
	})
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.leaseReqs {
		if r.FreeSlots < 1 || r.FreeSlots > 2 {
			t.Errorf("lease request with %d free slots", r.FreeSlots)
		}
		if r.NodeID == "" || r.WaitSeconds < 1 {
			t.Errorf("lease request %+v", r)
		}
	}
}

func TestAgentStartTaskFailed(t *testing.T) {
	t.Parallel()
	cfg := nodeConfig(identityA)
	cfg.StartTask = &nodeproto.StartTask{CommandLine: "exit 3", WaitForSuccess: true, MaxTaskRetryCount: 1}
	f := newFakeControlPlane(t, cfg)
	startAgent(t, f, IsolationProcess, nil)
	f.waitFor(t, "starttaskfailed", func() bool { return slices.Contains(f.states, StateStartTaskFailed) })
	time.Sleep(300 * time.Millisecond)
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.leaseReqs) != 0 {
		t.Errorf("a node whose start task failed asked for work: %+v", f.leaseReqs)
	}
	last := f.startInfos[len(f.startInfos)-1]
	if last.RetryCount != 1 || last.ExitCode == nil || *last.ExitCode != 3 || last.Result != "failure" {
		t.Errorf("start task info %+v", last)
	}
	if slices.Contains(f.states, StateIdle) {
		t.Errorf("states %v", f.states)
	}
}

func TestAgentStartTaskNoWait(t *testing.T) {
	t.Parallel()
	cfg := nodeConfig(identityA)
	cfg.StartTask = &nodeproto.StartTask{CommandLine: "sleep 1; exit 1", WaitForSuccess: false}
	f := newFakeControlPlane(t, cfg)
	startAgent(t, f, IsolationProcess, nil)
	f.waitFor(t, "start task completed", func() bool {
		n := len(f.startInfos)
		return n > 0 && f.startInfos[n-1].State == "completed"
	})
	f.mu.Lock()
	defer f.mu.Unlock()
	if slices.Contains(f.states, StateWaitingForStart) || slices.Contains(f.states, StateStartTaskFailed) || !slices.Contains(f.states, StateIdle) {
		t.Errorf("states %v: a start task without waitForSuccess keeps the node idle", f.states)
	}
}

func TestAgentRemoveCommand(t *testing.T) {
	t.Parallel()
	f := newFakeControlPlane(t, nodeConfig(identityA))
	a, done := startAgent(t, f, IsolationProcess, nil)
	f.waitFor(t, "idle", func() bool { return slices.Contains(f.states, StateIdle) })
	f.mu.Lock()
	f.leases = append(f.leases, nodeproto.TaskLease{LeaseID: "long", JobID: "j", TaskID: "long", CommandLine: "sleep 60"})
	f.mu.Unlock()
	f.waitFor(t, "running", func() bool { return slices.Contains(f.states, StateRunning) })
	f.mu.Lock()
	f.commands = append(f.commands, "remove")
	f.mu.Unlock()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("agent did not stop on remove")
	}
	if _, err := os.Stat(a.Dirs().NodeRoot); !os.IsNotExist(err) {
		t.Errorf("node directory survives removal: %v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.completed("long") != nil {
		t.Error("an abandoned task was reported")
	}
}

func TestAgentRebootAndTerminate(t *testing.T) {
	t.Parallel()
	cfg := nodeConfig(identityA)
	cfg.StartTask = &nodeproto.StartTask{CommandLine: "echo x >> $AZ_BATCH_NODE_SHARED_DIR/boots", WaitForSuccess: true}
	f := newFakeControlPlane(t, cfg)
	a, _ := startAgent(t, f, IsolationProcess, nil)
	f.waitFor(t, "idle", func() bool { return slices.Contains(f.states, StateIdle) })
	f.mu.Lock()
	f.leases = append(f.leases, nodeproto.TaskLease{LeaseID: "t1", JobID: "j", TaskID: "t1", CommandLine: "sleep 60"})
	f.mu.Unlock()
	f.waitFor(t, "running", func() bool { return slices.Contains(f.states, StateRunning) })
	f.mu.Lock()
	f.commands = append(f.commands, "terminate:t1")
	f.mu.Unlock()
	f.waitFor(t, "terminated task reported", func() bool { return f.completed("t1") != nil })
	f.mu.Lock()
	if r := f.completed("t1"); r.ExitCode != nil && *r.ExitCode == 0 {
		t.Errorf("terminated task reported success: %+v", r)
	}
	f.commands = append(f.commands, "reboot")
	f.mu.Unlock()
	f.waitFor(t, "start task ran twice", func() bool {
		b, _ := os.ReadFile(a.Dirs().Shared + "/boots")
		return strings.Count(string(b), "x") == 2
	})
	f.waitFor(t, "registered again and idle", func() bool {
		return f.registers == 2 && len(f.commands) == 0 && f.states[len(f.states)-1] == StateIdle
	})
	// Several heartbeats later the node has not rebooted again.
	time.Sleep(4 * 200 * time.Millisecond)
	f.mu.Lock()
	defer f.mu.Unlock()
	if b, _ := os.ReadFile(a.Dirs().Shared + "/boots"); strings.Count(string(b), "x") != 2 || f.registers != 2 {
		t.Errorf("start task ran %d times, %d registrations; want 2 and 2", strings.Count(string(b), "x"), f.registers)
	}
}

func TestAgentBadCredential(t *testing.T) {
	t.Parallel()
	f := newFakeControlPlane(t, nodeConfig(identityA))
	a, err := New(Config{ControlPlaneURL: f.srv.URL, Credential: "wrong", NodeID: "n1", RootDir: t.TempDir(),
		Isolation: IsolationProcess, CAFile: f.caFile})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.Run(ctx); err == nil {
		t.Fatal("Run with a rejected credential returned nil")
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	base := Config{ControlPlaneURL: "https://127.0.0.1:1", Credential: "c", NodeID: "n", RootDir: t.TempDir()}
	for name, mut := range map[string]func(*Config){
		"no url":        func(c *Config) { c.ControlPlaneURL = "" },
		"no credential": func(c *Config) { c.Credential = "" },
		"bad isolation": func(c *Config) { c.Isolation = "vm" },
		"bad limit":     func(c *Config) { c.IMDSRateLimit = "fast" },
		"bad CA":        func(c *Config) { c.CAFile = "/nonexistent/ca.pem" },
	} {
		c := base
		mut(&c)
		if _, err := New(c); err == nil {
			t.Errorf("%s: New accepted %+v", name, c)
		}
	}
	if _, err := New(base); err != nil {
		t.Errorf("valid config: %v", err)
	}
}
