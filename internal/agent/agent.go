package agent

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/imds"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
	"github.com/cobaltbatch/cobalt/internal/sandbox"

	"github.com/cobaltbatch/cobalt/internal/agent/taskrun"
	"github.com/cobaltbatch/cobalt/internal/logkey"
)

// Version is the agent version sent at registration.
const Version = "cobalt-agent/1"

// Config configures a node agent.
type Config struct {
	// ControlPlaneURL is the node API's base URL, https://127.0.0.1:PORT.
	ControlPlaneURL string
	// ReplicaURLs are the node API base URLs of the other control-plane
	// replicas (a joined host's list after the first): when the replica in
	// use fails, the agent's node protocol calls (IMDS tokens among them)
	// move to the next, and a netns node's forwarded ports are dialled at
	// each replica's host in turn.
	ReplicaURLs []string
	// ForwardHost is where a netns node's service ports are forwarded
	// ("": 127.0.0.1, the control plane beside the agent; on a joined host,
	// the control plane's address).
	ForwardHost string
	// Credential is the node credential issued at allocation.
	Credential string
	NodeID     string
	// RootDir is the node's root directory (AZ_BATCH_NODE_ROOT_DIR).
	RootDir string
	// Isolation is "netns" (the node is a sandbox, see internal/sandbox),
	// "process" or "" for DefaultIsolation().
	Isolation string
	// CAFile is the PEM file of the CA the control plane's certificate chains to.
	CAFile string
	Logger *slog.Logger
	// IMDSRateLimit is the per-node IMDS limit (imds.ParseRateLimit syntax);
	// "" is Azure's 20/s,5.
	IMDSRateLimit string
	Now           func() time.Time
	// HeartbeatInterval defaults to 3 s; LeaseWait (the long poll) to 20 s.
	HeartbeatInterval time.Duration
	LeaseWait         time.Duration
	// Runner runs start tasks and tasks; nil uses package taskrun.
	Runner TaskRunner
	// HTTPClient overrides the client built from CAFile.
	HTTPClient *http.Client
	// StateFile, when set, is where a sandboxed node records its uid slot,
	// so that a restarted node gets its own range back (its files keep
	// their owners). It must be outside the node's directory.
	StateFile string
	// Limits maps the node's VM size to its resource limits (nil: none).
	Limits func(vmSize string) sandbox.Limits
	// Spawner, when set, starts the node's sandbox init (sandbox.Spawner,
	// shared by every node of the host); nil forks it from this process.
	Spawner *sandbox.Spawner
	// IMDSFile, when set, is where the agent publishes how to reach the
	// node's IMDS for `cobalt node token` (JSON, 0600). It must be outside
	// the node's directory, which a sandboxed node's root controls. When
	// empty, a process-mode node publishes RootDir/imds.json and a
	// sandboxed node publishes nothing (its namespace is found by name).
	IMDSFile string
	// MaxLocalConnections bounds the connections the node may hold at once
	// to IMDS and its forwarded ports together (0: DefaultMaxLocalConnections).
	MaxLocalConnections int
}

// Node states the agent reports.
const (
	StateStarting           = "starting"
	StateWaitingForStart    = "waitingforstarttask"
	StateStartTaskFailed    = "starttaskfailed"
	StateIdle               = "idle"
	StateRunning            = "running"
	stateUnusable           = "unusable"
	stateDeallocated        = "deallocated"
	commandReimage          = "reimage"
	commandDeallocate       = "deallocate"
	commandReboot           = "reboot"
	commandRemove           = "remove"
	commandTerminatePrefix  = "terminate:"
	reportStarted           = "started"
	reportCompleted         = "completed"
	startTaskResultSuccess  = "success"
	startTaskStateRunning   = "running"
	startTaskStateCompleted = "completed"
)

// phase is where the node is in its start sequence.
type phase int

const (
	phaseStarting phase = iota
	phaseWaitingStart
	phaseStartFailed
	phaseReady
	// phaseDeallocated: the node was deallocated and waits to be started.
	phaseDeallocated
)

// Agent is one node's agent. Create it with New and start it with Run.
type Agent struct {
	cfg    Config
	logger *slog.Logger
	api    *client
	httpc  *http.Client
	runner TaskRunner
	tokens *tokenCache
	conns  *connLimit // the node's local connections

	ready chan struct{}

	// Set once registration succeeded, before ready closes.
	node nodeproto.NodeConfig
	dirs taskrun.Dirs
	iso  isolation
	// interNode says the node is on its pool's private network (a pool
	// with inter-node communication, netns isolation).
	interNode bool
	baseEnv   []string
	secret    string
	sandbox   *nodeSandbox // nil in process mode

	taskSecrets sync.Map // per-task IDENTITY_HEADER -> "jobID/taskID"

	mu sync.Mutex
	// logSeen are the service-log uploads started; logResults those done
	// and not yet reported in a heartbeat that succeeded.
	logSeen    map[string]bool
	logResults []nodeproto.LogUploadResult
	phase      phase
	startInfo  *nodeproto.StartTaskInfo
	running    map[string]*runningTask
	used       int
	changed    chan struct{} // heartbeat now
	wake       chan struct{} // lease loop: slots or state changed
	startStop  context.CancelFunc
	tasksWG    sync.WaitGroup
	removed    bool
	broken     bool // the node's sandbox ended: the node is unusable

	// leasing are the free slots that a claim in flight (a lease, or a
	// batch of reports that asks for work) counts as taken: the lease loop
	// and the reporter never ask for the same slot.
	leasing int
	// peakUsed is the most slots the node's tasks held at once.
	peakUsed int
	// reportQ are the task completions waiting for the reporter (reports.go);
	// reporting says a reporter is sending.
	reportQ   []*queuedReport
	reporting bool
	// singleReports is set once the control plane answered that it has no
	// PathReports (an earlier release): every report then goes alone, and
	// the lease loop takes the freed slots.
	singleReports atomic.Bool

	// nodeErrors are the node's errors (an image it could not pull): the
	// node is unusable while there are any.
	nodeErrors []nodeproto.NodeError
	mounted    bool // the pool's blob containers are mounted (once per node)
	// mountDevices are the FUSE devices of the node's mounts.
	mountDevices []*os.File

	// The jobs' preparation tasks run on this node, and the release tasks
	// started, by job instance (jobprep.go).
	prepMu   sync.Mutex
	preps    map[string]*prepRun
	released map[string]bool
	// loginPort is the host port of the node's SSH server (0: none).
	loginPort int
	// users are the node users last made on the node; usersSet says
	// whether any were.
	nodeUsers []nodeproto.NodeUser
	usersSet  bool
	// opBusy is set while a reimage or deallocation runs; opGen counts
	// those that finished, so that a command from a heartbeat sent before
	// one finished is not carried out again.
	opBusy bool
	opGen  uint64
	// lastContact is when the last heartbeat that succeeded was sent;
	// fencedLeases the tasks killed since, out of reach (fence.go).
	lastContact  time.Time
	fencedLeases []string
}

type runningTask struct {
	lease     nodeproto.TaskLease
	slots     int
	cancel    context.CancelFunc
	abandoned bool // do not report: the node was rebooted, removed or stopped
}

// Run runs an agent for cfg until ctx ends or the control plane removes the
// node. It returns nil on either, and an error when the agent cannot start.
func Run(ctx context.Context, cfg Config) error {
	a, err := New(cfg)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// New validates cfg and returns an agent.
func New(cfg Config) (*Agent, error) {
	if cfg.ControlPlaneURL == "" || cfg.Credential == "" || cfg.NodeID == "" || cfg.RootDir == "" {
		return nil, errors.New("agent: ControlPlaneURL, Credential, NodeID and RootDir are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 3 * time.Second
	}
	if cfg.LeaseWait <= 0 {
		cfg.LeaseWait = 20 * time.Second
	}
	switch cfg.Isolation {
	case "":
		cfg.Isolation = DefaultIsolation()
	case IsolationNetns:
		if !netnsSupported() {
			return nil, errors.New("agent: netns isolation needs Linux, root and the ip command")
		}
	case IsolationProcess:
	default:
		return nil, fmt.Errorf("agent: unknown isolation %q", cfg.Isolation)
	}
	if _, err := imds.ParseRateLimit(cfg.IMDSRateLimit); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	httpc := cfg.HTTPClient
	if httpc == nil {
		var err error
		if httpc, err = NewHTTPClient(cfg.CAFile); err != nil {
			return nil, fmt.Errorf("agent: %w", err)
		}
	}
	runner := cfg.Runner
	if runner == nil {
		runner = defaultRunner()
	}
	if runner == nil {
		return nil, errors.New("agent: no task runner")
	}
	logger := cfg.Logger
	if root, err := filepath.Abs(cfg.RootDir); err == nil {
		// The agent's own service log, which upload batch service logs sends.
		file := slog.NewJSONHandler(&serviceLog{root: root, now: cfg.Now}, &slog.HandlerOptions{Level: slog.LevelInfo})
		logger = slog.New(teeHandler{cfg.Logger.Handler(), file})
	}
	a := &Agent{
		cfg:     cfg,
		logger:  logger.With(logkey.Node, cfg.NodeID),
		api:     newClient(append([]string{cfg.ControlPlaneURL}, cfg.ReplicaURLs...), cfg.Credential, httpc),
		httpc:   httpc,
		runner:  runner,
		ready:   make(chan struct{}),
		running: map[string]*runningTask{},
		changed: make(chan struct{}, 1),
		wake:    make(chan struct{}, 1),
	}
	a.api.onSwitch = func(base string) {
		a.logger.Warn("control-plane replica out of reach: the node moved to another", logkey.URL, base)
	}
	a.tokens = &tokenCache{api: a.api, nodeID: cfg.NodeID, now: cfg.Now,
		ids: func() []nodeproto.Identity { return a.node.Identities }, entries: map[cacheKey]*cacheEntry{}}
	return a, nil
}

// Ready is closed once the node is registered and its IMDS serves.
func (a *Agent) Ready() <-chan struct{} { return a.ready }

// Namespace is the node's network namespace name ("" in process mode);
// valid after Ready.
func (a *Agent) Namespace() string { return a.iso.namespace() }

// IMDSURL is the IMDS base URL as the node's tasks see it; valid after Ready.
func (a *Agent) IMDSURL() string { return a.iso.imdsURL() }

// TaskEnv is the node-level environment every task gets; valid after Ready.
func (a *Agent) TaskEnv() []string { return append([]string(nil), a.baseEnv...) }

// taskrun.Dirs is the node's directory layout; valid after Ready.
func (a *Agent) Dirs() taskrun.Dirs { return a.dirs }

// State is the node state the agent reports.
func (a *Agent) State() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stateLocked()
}

func (a *Agent) stateLocked() string {
	if a.broken || len(a.nodeErrors) > 0 {
		return stateUnusable
	}
	switch a.phase {
	case phaseDeallocated:
		return stateDeallocated
	case phaseWaitingStart:
		return StateWaitingForStart
	case phaseStartFailed:
		return StateStartTaskFailed
	case phaseReady:
		if len(a.running) > 0 {
			return StateRunning
		}
		return StateIdle
	}
	return StateStarting
}

// Run registers the node, sets it up and serves it until ctx ends or the
// node is removed.
func (a *Agent) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	reg, err := a.register(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	a.node = reg.Config
	a.lastContact = a.cfg.Now()
	if err := a.setup(); err != nil {
		return err
	}
	defer a.teardown()
	a.logger.Info("node registered", logkey.Pool, a.node.PoolID, logkey.Isolation, a.cfg.Isolation,
		logkey.Netns, a.iso.namespace(), logkey.Identities, len(a.node.Identities))
	close(a.ready)

	var loops sync.WaitGroup
	if done := a.sandboxDone(); done != nil {
		loops.Add(1)
		go func() { defer loops.Done(); a.watchSandbox(ctx, done) }()
	}
	// The start sequence begins before the first heartbeat, which then
	// reports the node's phase (idle, without a start task) at once: one
	// round trip and one store write per node start, not two. Its wake-up
	// is dropped, as the first heartbeat reads the state afresh.
	a.beginStart(ctx)
	select {
	case <-a.changed:
	default:
	}
	loops.Add(3)
	go func() { defer loops.Done(); a.heartbeatLoop(ctx, cancel) }()
	go func() { defer loops.Done(); a.leaseLoop(ctx) }()
	go func() { defer loops.Done(); a.fenceLoop(ctx) }()
	<-ctx.Done()
	a.stopTasks()
	loops.Wait()
	a.tasksWG.Wait()
	return nil
}

// watchSandbox marks the node unusable when its sandbox ends while the
// agent runs (the init died): no task can run on it any more.
func (a *Agent) watchSandbox(ctx context.Context, done <-chan struct{}) {
	select {
	case <-ctx.Done():
	case <-done:
		if ctx.Err() != nil {
			return
		}
		a.logger.Error("the node's sandbox ended; the node is unusable")
		a.mu.Lock()
		a.broken = true
		a.mu.Unlock()
		a.stopTasks()
		a.notify()
	}
}

// register registers the node, retrying transient failures.
func (a *Agent) register(ctx context.Context) (nodeproto.RegisterResponse, error) {
	host, _ := os.Hostname()
	req := nodeproto.RegisterRequest{NodeID: a.cfg.NodeID, AgentVersion: Version, Hostname: host, Isolation: a.cfg.Isolation}
	backoff := 200 * time.Millisecond
	for {
		var resp nodeproto.RegisterResponse
		err := a.api.call(ctx, nodeproto.PathRegister, req, &resp, 30*time.Second)
		if err == nil {
			if resp.Config.NodeID != "" && resp.Config.NodeID != a.cfg.NodeID {
				return resp, fmt.Errorf("agent: registered as %q, want %q", resp.Config.NodeID, a.cfg.NodeID)
			}
			resp.Config.NodeID = a.cfg.NodeID
			return resp, nil
		}
		if isRemoval(err) || cobalt.IsCode(err, cobalt.EForbidden) || cobalt.IsCode(err, cobalt.EInvalid) {
			return resp, fmt.Errorf("agent: register: %w", err)
		}
		a.logger.Warn("register failed; retrying", logkey.Err, err)
		select {
		case <-ctx.Done():
			return resp, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// setup creates the node's directories and isolation and starts IMDS. A
// sandboxed node (netns mode) gets only its directory from the host: its
// init creates the Batch layout inside, as the node's root.
func (a *Agent) setup() error {
	root, err := filepath.Abs(a.cfg.RootDir)
	if err != nil {
		return err
	}
	a.dirs = taskrun.Dirs{NodeRoot: root, Shared: filepath.Join(root, "shared"), Startup: filepath.Join(root, "startup")}
	limit, _ := imds.ParseRateLimit(a.cfg.IMDSRateLimit)
	limiter := imds.NewLimiter(limit, a.cfg.Now)
	a.conns = newConnLimit(a.cfg.MaxLocalConnections)
	h := handlers{
		conns: a.conns,
		imds: imds.New(imds.Config{Logger: a.logger, Now: a.cfg.Now, Tokens: a.tokens, Limiter: limiter,
			Instance: a.instance(), TenantID: a.node.TenantID, Attribute: a.attribute}),
	}
	visible := a.dirs // the node's directories as its tasks see them
	var trust []string
	if a.cfg.Isolation == IsolationNetns {
		if err := os.MkdirAll(root, 0o700); err != nil {
			return fmt.Errorf("agent: node directory: %w", err)
		}
		sb, iso, err := a.startSandbox(root, h)
		if err != nil {
			return fmt.Errorf("agent: node sandbox: %w", err)
		}
		a.sandbox, a.iso = sb, iso
		if a.cfg.Runner == nil {
			a.runner = sandboxRunner{sb}
		}
		visible = taskrun.Dirs{NodeRoot: sandbox.NodeRoot, Shared: sandbox.NodeRoot + "/shared", Startup: sandbox.NodeRoot + "/startup"}
		if a.cfg.CAFile != "" {
			trust = caEnv(sandbox.CABundle, sandbox.CAFile)
		}
	} else {
		for _, d := range []string{"shared", "startup", "workitems", "applications", "fsmounts", "volatile"} {
			if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
				return fmt.Errorf("agent: node directory: %w", err)
			}
		}
		// Tasks run as other users (Batch's non-admin auto user): they need to
		// reach their directories, and the shared directory is read/write for
		// every task, as on Batch.
		if err := os.Chmod(root, 0o755); err != nil {
			return fmt.Errorf("agent: node directory: %w", err)
		}
		if err := os.Chmod(a.dirs.Shared, 0o1777); err != nil {
			return fmt.Errorf("agent: node directory: %w", err)
		}
		processWarning.Do(func() {
			a.cfg.Logger.Warn("process isolation: tasks are host processes in the host's trust domain, not sandboxes; " +
				"run as root on Linux for sandboxed nodes")
		})
		a.secret = newSecret()
		h.imds = a.requireSecret(h.imds)
		h.appService = imds.NewAppService(imds.AppServiceConfig{Logger: a.logger, Now: a.cfg.Now, Tokens: a.tokens,
			Limiter: limiter, Secret: a.secret, TaskSecret: a.taskSecret})
		iso, err := newProcessIsolation(h, a.secret)
		if err != nil {
			return fmt.Errorf("agent: %w", err)
		}
		a.iso = iso
		if trust, err = writeCABundle(root, a.cfg.CAFile); err != nil {
			return fmt.Errorf("agent: %w", err)
		}
	}
	switch {
	case a.cfg.IMDSFile != "":
		if err := publishIMDSFile(a.cfg.IMDSFile, a.iso.imdsURL(), a.iso.namespace(), a.secret); err != nil {
			return fmt.Errorf("agent: %w", err)
		}
	case a.cfg.Isolation != IsolationNetns:
		if err := publishIMDS(root, a.iso.imdsURL(), a.iso.namespace(), a.secret); err != nil {
			return fmt.Errorf("agent: %w", err)
		}
	}
	a.baseEnv = append([]string{
		"AZ_BATCH_NODE_ROOT_DIR=" + visible.NodeRoot,
		"AZ_BATCH_NODE_SHARED_DIR=" + visible.Shared,
		"AZ_BATCH_NODE_STARTUP_DIR=" + visible.Startup,
		"AZ_BATCH_NODE_MOUNTS_DIR=" + filepath.Join(visible.NodeRoot, "fsmounts"),
		"AZ_BATCH_POOL_ID=" + a.node.PoolID,
		"AZ_BATCH_NODE_ID=" + a.cfg.NodeID,
		"AZ_BATCH_ACCOUNT_NAME=" + a.node.AccountName,
		"AZ_BATCH_NODE_IS_DEDICATED=true",
	}, append(trust, a.iso.env()...)...)
	return nil
}

func (a *Agent) teardown() {
	if a.cfg.IMDSFile != "" {
		_ = os.Remove(a.cfg.IMDSFile)
	} else if a.cfg.Isolation != IsolationNetns {
		unpublishIMDS(a.dirs.NodeRoot)
	}
	if err := a.sandbox.close(); err != nil {
		a.logger.Warn("node sandbox cleanup", logkey.Err, err)
	}
	if err := a.iso.close(); err != nil {
		a.logger.Warn("isolation cleanup", logkey.Err, err)
	}
	a.mu.Lock()
	removed := a.removed
	a.mu.Unlock()
	if removed {
		if err := os.RemoveAll(a.dirs.NodeRoot); err != nil {
			a.logger.Warn("remove node directory", logkey.Err, err)
		}
	}
}

// attribute finds the task behind an IMDS request, where the isolation can:
// from the socket's process in netns mode, from the task's own secret in
// process mode.
func (a *Agent) attribute(r *http.Request) string {
	if at, ok := a.iso.(interface{ attribute(*http.Request) string }); ok {
		return at.attribute(r)
	}
	if task, ok := a.taskSecret(r.Header.Get(secretHeader)); ok {
		return task
	}
	return ""
}

// processWarning prints once per process that process isolation shares the
// host's trust domain.
var processWarning sync.Once

// secretHeader carries the node's (or a task's) secret, IDENTITY_HEADER.
const secretHeader = "X-IDENTITY-HEADER"

// requireSecret refuses every request to the loopback IMDS of a
// process-mode node that lacks the node's or a live task's secret: any
// local process can reach a loopback port, and Metadata: true proves
// nothing.
func (a *Agent) requireSecret(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := r.Header.Get(secretHeader)
		_, task := a.taskSecret(s)
		if s == "" || (!task && subtle.ConstantTimeCompare([]byte(s), []byte(a.secret)) != 1) {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"invalid_request","error_description":"This node runs in process isolation: ` +
				`every IMDS request needs the X-IDENTITY-HEADER secret (IDENTITY_HEADER)."}`))
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (a *Agent) taskSecret(h string) (string, bool) {
	v, ok := a.taskSecrets.Load(h)
	if !ok {
		return "", false
	}
	return v.(string), true
}

// instance is the node's /metadata/instance description.
func (a *Agent) instance() imds.Instance {
	n := a.node
	rid := ""
	if n.SubscriptionID != "" {
		rid = "/subscriptions/" + n.SubscriptionID + "/resourceGroups/" + n.ResourceGroup +
			"/providers/Microsoft.Batch/batchAccounts/" + n.AccountName + "/pools/" + n.PoolID + "/nodes/" + n.NodeID
	}
	return imds.Instance{
		Name: n.NodeID, VMID: vmID(n.NodeID), Location: n.Location, VMSize: n.VMSize, OSType: "Linux",
		ResourceID: rid, SubscriptionID: n.SubscriptionID, ResourceGroupName: n.ResourceGroup,
		Tags:          map[string]string{"BatchAccountName": n.AccountName, "BatchPoolName": n.PoolID},
		AzEnvironment: "AzurePublicCloud", Priority: "Regular", Publisher: "canonical",
		Offer: "ubuntu-24_04-lts", SKU: "server", Version: "latest", PrivateIP: "127.0.0.1",
	}
}

// slotsChanged follows a task taking or giving back slots: it wakes the
// lease loop, and the heartbeat loop only when the node's state (idle,
// running) changed with it; the running leases ride on the next heartbeat.
// A heartbeat at every task start and end was two store writes per task, a
// seventh of the control plane's CPU in the bench's tasks row.
func (a *Agent) slotsChanged(before string) {
	a.mu.Lock()
	after := a.stateLocked()
	a.mu.Unlock()
	if after != before {
		a.notify()
		return
	}
	a.wakeLeases()
}

// notify wakes the heartbeat and lease loops.
func (a *Agent) notify() {
	select {
	case a.changed <- struct{}{}:
	default:
	}
	a.wakeLeases()
}

// wakeLeases wakes the lease loop.
func (a *Agent) wakeLeases() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

func (a *Agent) freeSlots() int {
	slots := a.node.TaskSlotsPerNode
	if slots <= 0 {
		slots = 1
	}
	return slots - a.used - a.leasing
}

// replicaHosts are the hosts of ReplicaURLs, where a joined host's netns
// node dials its forwarded ports when ForwardHost fails. A node of the
// control plane's own host forwards to its loopback only.
func (a *Agent) replicaHosts() []string {
	if a.cfg.ForwardHost == "" {
		return nil
	}
	var hosts []string
	for _, u := range a.cfg.ReplicaURLs {
		if pu, err := url.Parse(u); err == nil && pu.Hostname() != "" {
			hosts = append(hosts, pu.Hostname())
		}
	}
	return hosts
}
