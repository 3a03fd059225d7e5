package hostagent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/cobaltbatch/cobalt/internal/agent"
	"github.com/cobaltbatch/cobalt/internal/batch"
	"github.com/cobaltbatch/cobalt/internal/sandbox"

	"github.com/cobaltbatch/cobalt/internal/logkey"
)

// NodeLaunch is what StartNode gets: the pool service's batch.NodeLaunch.
type NodeLaunch = batch.NodeLaunch

// IsolationExternal is the isolation of a host whose node agents run
// elsewhere: StartNode starts no agent and no sandbox, it only persists the
// node's credential (CredentialPath) for an agent outside this process that
// reads it and registers over the node protocol (`cobalt bench fleet`'s
// simulated hosts), and StopNode deletes it.
const IsolationExternal = "external"

// Config configures the local provider.
type Config struct {
	// ControlPlaneURL is the node API's base URL, https://127.0.0.1:PORT.
	ControlPlaneURL string
	// ReplicaURLs are the other control-plane replicas' node API URLs
	// (a joined host's list after the first), which its nodes' agents
	// move to when the one they use fails (see agent.Config).
	ReplicaURLs []string
	// ForwardHost is where nodes' service ports are forwarded ("":
	// 127.0.0.1; on a joined host, the control plane's address).
	ForwardHost string
	// CAFile is the installation CA's PEM file.
	CAFile string
	// Isolation is "netns", "process" or "" for agent.DefaultIsolation().
	Isolation string
	Logger    *slog.Logger
	Now       func() time.Time
	// IMDSRateLimit is each node's IMDS limit ("" Azure's 20/s,5; "off").
	IMDSRateLimit string
	// HeartbeatInterval and LeaseWait tune the agents (0: agent defaults).
	HeartbeatInterval time.Duration
	LeaseWait         time.Duration
	// Runner overrides the agents' task runner (nil: taskrun).
	Runner agent.TaskRunner
	// HTTPClient is shared by every agent; nil builds one from CAFile, at
	// the first node start, which every later agent shares.
	HTTPClient *http.Client
}

// Provider runs node agents in this process.
type Provider struct {
	cfg Config

	mu       sync.Mutex
	nodes    map[string]*node
	starting map[string]bool // nodes between StartNode's check and their entry in nodes
	closed   bool
	httpc    *http.Client // the agents' client (cfg.HTTPClient, or built from CAFile)
	// spawner starts the sandboxed nodes' inits (started with the first);
	// spawnerTried: do not try again after it failed to start.
	spawner      *sandbox.Spawner
	spawnerTried bool
}

type node struct {
	agent   *agent.Agent
	rootDir string
	lock    *os.File // nil without a root directory
	cancel  context.CancelFunc
	done    chan struct{}
}

var _ batch.NodeProvider = (*Provider)(nil)

// New returns a provider. With netns isolation it first removes the node
// namespaces a crashed earlier process left behind.
func New(cfg Config) *Provider {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Isolation == "" {
		cfg.Isolation = agent.DefaultIsolation()
	}
	if cfg.Isolation == agent.IsolationNetns {
		if removed, err := agent.SweepNamespaces(cfg.Logger); err != nil {
			cfg.Logger.Warn("sweep stale node namespaces", logkey.Err, err)
		} else if len(removed) > 0 {
			cfg.Logger.Info("swept stale node namespaces", logkey.Count, len(removed))
		}
		if n := sandbox.SweepCgroups(time.Minute); n > 0 {
			cfg.Logger.Info("swept stale node cgroups", logkey.Count, n)
		}
	}
	p := &Provider{cfg: cfg, nodes: map[string]*node{}, starting: map[string]bool{}}
	if cfg.Isolation == agent.IsolationNetns {
		// Ready before the first pool: its start is not on that pool's
		// nodes' path.
		go p.nodeSpawner()
	}
	return p
}

// Isolation is the isolation mode the provider's nodes use.
func (p *Provider) Isolation() string { return p.cfg.Isolation }

// CredentialPath is where the credential of the node whose root directory
// is rootDir is kept: the control plane stores only its hash, so a node
// restarted after the control plane's process ended (as a VM reboots) reads
// it back from here. It is beside the node directories, not inside the
// node's own, because the data plane serves a node's files to the account's
// users (Batch's "get file from compute node"): the node directories' parent
// holds a 0700 ".credentials" directory with one 0600 file per node.
func CredentialPath(rootDir string) string {
	root := filepath.Clean(rootDir)
	return filepath.Join(filepath.Dir(root), ".credentials", filepath.Base(root))
}

// IMDSPath is where the agent of the node whose root directory is rootDir
// publishes how to reach its IMDS (for `cobalt node token`): beside its
// credential, outside the node's directory, which the node's root controls.
func IMDSPath(rootDir string) string { return CredentialPath(rootDir) + ".imds" }

// statePath is where the sandbox state of the node whose root directory is
// rootDir (its uid slot) is kept, beside its credential.
func statePath(rootDir string) string { return CredentialPath(rootDir) + ".sandbox" }

// vmLimits is a node's resource limits: its VM size's cores and memory.
func vmLimits(vmSize string) sandbox.Limits {
	size, ok := batch.LookupVMSize(vmSize)
	if !ok {
		return sandbox.Limits{}
	}
	return sandbox.Limits{CPUs: float64(size.Cores), MemoryBytes: int64(size.MemoryMB) << 20}
}

// ErrNoCredential is returned by StartNode when a node is started without a
// credential and none was persisted for it.
var ErrNoCredential = errors.New("hostagent: the node has no persisted credential")

// errLocked is lockFile's answer when another process holds the lock.
var errLocked = errors.New("hostagent: locked by another process")

// lockPath is the file whose lock the process that runs a node's agent
// holds: another control-plane process on this host (a replica sharing the
// node directories) must not start the same node again.
func lockPath(rootDir string) string { return CredentialPath(rootDir) + ".lock" }

// StartNode starts the agent of n in the background and returns. Starting a
// node that is already running does nothing. A launch with a credential
// persists it (CredentialPath); a launch with an empty credential (a node
// restarted after the control plane restarted) reads it back, and fails with
// ErrNoCredential when there is none. While a node's agent runs, this process
// holds a lock beside the credential; starting a node whose lock another
// process holds fails with batch.ErrNodeRunning. StopNode, which the pool
// service calls when it removes a node, deletes the persisted credential.
//
// The node's files are written outside the provider's lock: a pool's nodes
// start concurrently, and the credential's fsync would otherwise serialize
// them.
func (p *Provider) StartNode(ctx context.Context, n NodeLaunch) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return errors.New("hostagent: the host agent is closed")
	}
	if _, ok := p.nodes[n.NodeID]; ok || p.starting[n.NodeID] {
		p.mu.Unlock()
		return nil
	}
	p.starting[n.NodeID] = true
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.starting, n.NodeID)
		p.mu.Unlock()
	}()
	var lock *os.File
	if n.Credential == "" {
		cred, err := ReadCredential(n.RootDir)
		if err != nil {
			return fmt.Errorf("start node %s: %w", n.NodeID, err)
		}
		n.Credential = cred
	} else if n.RootDir != "" {
		// An external node's credential is a hand-over to its agent, which
		// reads it at once: no flush to the disk per node (an allocation of
		// thousands of nodes would wait on as many flushes). A crash before
		// the kernel writes it leaves the node to its start timeout.
		if err := writeCredential(n.RootDir, n.Credential, p.cfg.Isolation != IsolationExternal); err != nil {
			return fmt.Errorf("start node %s: %w", n.NodeID, err)
		}
	}
	if p.cfg.Isolation == IsolationExternal {
		// The agent runs elsewhere: the node is this host's only as a
		// credential on disk.
		done := make(chan struct{})
		close(done)
		p.mu.Lock()
		p.nodes[n.NodeID] = &node{rootDir: n.RootDir, cancel: func() {}, done: done}
		p.mu.Unlock()
		return nil
	}
	if n.RootDir != "" {
		var err error
		if lock, err = lockFile(lockPath(n.RootDir)); errors.Is(err, errLocked) {
			return fmt.Errorf("start node %s: %w", n.NodeID, batch.ErrNodeRunning)
		} else if err != nil {
			return fmt.Errorf("start node %s: lock: %w", n.NodeID, err)
		}
	}
	release := func() {
		if lock != nil {
			lock.Close()
		}
	}
	acfg := agent.Config{
		ControlPlaneURL: p.cfg.ControlPlaneURL, ReplicaURLs: p.cfg.ReplicaURLs, ForwardHost: p.cfg.ForwardHost, Credential: n.Credential, NodeID: n.NodeID, RootDir: n.RootDir,
		Isolation: p.cfg.Isolation, CAFile: p.cfg.CAFile, Logger: p.cfg.Logger, IMDSRateLimit: p.cfg.IMDSRateLimit,
		Now: p.cfg.Now, HeartbeatInterval: p.cfg.HeartbeatInterval, LeaseWait: p.cfg.LeaseWait,
		Runner: p.cfg.Runner, HTTPClient: p.httpClient(), Limits: vmLimits, Spawner: p.nodeSpawner(),
	}
	if n.RootDir != "" {
		acfg.StateFile = statePath(n.RootDir)
		acfg.IMDSFile = IMDSPath(n.RootDir)
	}
	a, err := agent.New(acfg)
	if err != nil {
		release()
		return fmt.Errorf("start node %s: %w", n.NodeID, err)
	}
	// The agent outlives the request that started it.
	actx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	nd := &node{agent: a, rootDir: n.RootDir, lock: lock, cancel: cancel, done: make(chan struct{})}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		cancel()
		release()
		return errors.New("hostagent: the host agent is closed")
	}
	p.nodes[n.NodeID] = nd
	go func() {
		defer close(nd.done)
		defer release()
		if err := a.Run(actx); err != nil {
			p.cfg.Logger.Error("node agent failed", logkey.Node, n.NodeID, logkey.Err, err)
		}
		p.mu.Lock()
		if p.nodes[n.NodeID] == nd {
			delete(p.nodes, n.NodeID)
		}
		p.mu.Unlock()
	}()
	return nil
}

// httpClient returns the client every agent of p shares: one TLS connection
// (HTTP/2) to the node API instead of one handshake per node, each request
// still carrying its own node's credential. nil when the CA file cannot be
// read: each agent then builds its own, and reports why it cannot.
func (p *Provider) httpClient() *http.Client {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.httpc == nil {
		if p.cfg.HTTPClient != nil {
			p.httpc = p.cfg.HTTPClient
		} else if c, err := agent.NewHTTPClient(p.cfg.CAFile); err == nil {
			p.httpc = c
		}
	}
	return p.httpc
}

// WriteCredential persists a node credential for the node whose root
// directory is rootDir (see CredentialPath), atomically, mode 0600 in a 0700
// directory.
func WriteCredential(rootDir, credential string) error {
	return writeCredential(rootDir, credential, true)
}

// writeCredential is WriteCredential, flushing the file to the disk before
// the rename when sync is set.
func writeCredential(rootDir, credential string, sync bool) error {
	if rootDir == "" {
		return errors.New("hostagent: a node without a root directory cannot keep its credential")
	}
	path := CredentialPath(rootDir)
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("node credential directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("node credential directory: %w", err)
	}
	f, err := os.CreateTemp(dir, ".tmp-*") // mode 0600
	if err != nil {
		return fmt.Errorf("persist the node credential: %w", err)
	}
	tmp := f.Name()
	_, werr := f.WriteString(credential + "\n")
	if werr == nil && sync {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("persist the node credential: %w", werr)
	}
	return nil
}

// ReadCredential returns the credential persisted for the node whose root
// directory is rootDir, or ErrNoCredential.
func ReadCredential(rootDir string) (string, error) {
	if rootDir == "" {
		return "", ErrNoCredential
	}
	b, err := os.ReadFile(CredentialPath(rootDir))
	if errors.Is(err, os.ErrNotExist) {
		return "", ErrNoCredential
	}
	if err != nil {
		return "", fmt.Errorf("read the node credential: %w", err)
	}
	cred := strings.TrimSpace(string(b))
	if cred == "" {
		return "", ErrNoCredential
	}
	return cred, nil
}

// StopNode stops a node's agent, deletes its persisted credential (the pool
// service stops a node when it removes it) and waits (up to ctx) until its
// tasks, namespace and forwarders are gone. Stopping an unknown node does
// nothing.
func (p *Provider) StopNode(ctx context.Context, nodeID string) error {
	p.mu.Lock()
	nd := p.nodes[nodeID]
	p.mu.Unlock()
	if nd == nil {
		return nil
	}
	if nd.rootDir != "" {
		if err := os.Remove(CredentialPath(nd.rootDir)); err != nil && !errors.Is(err, os.ErrNotExist) {
			p.cfg.Logger.Warn("remove node credential", logkey.Node, nodeID, logkey.Err, err)
		}
		_ = os.Remove(statePath(nd.rootDir))
	}
	nd.cancel()
	if p.cfg.Isolation == IsolationExternal {
		p.mu.Lock()
		delete(p.nodes, nodeID)
		p.mu.Unlock()
	}
	select {
	case <-nd.done:
		if nd.rootDir != "" {
			_ = os.Remove(lockPath(nd.rootDir))
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Agent returns the running agent of nodeID, or nil.
func (p *Provider) Agent(nodeID string) *agent.Agent {
	p.mu.Lock()
	defer p.mu.Unlock()
	if nd := p.nodes[nodeID]; nd != nil {
		return nd.agent
	}
	return nil
}

// Nodes returns the IDs of the running nodes.
func (p *Provider) Nodes() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := make([]string, 0, len(p.nodes))
	for id := range p.nodes {
		ids = append(ids, id)
	}
	return ids
}

// nodeSpawner returns the spawner every sandboxed node of p starts from:
// one small process that forks the node inits, so that this process (the
// control plane, with its heap) is not forked once per node. Started with
// the first sandboxed node; nil when it cannot start (nodes are then forked
// from this process) or nodes are not sandboxed.
func (p *Provider) nodeSpawner() *sandbox.Spawner {
	if p.cfg.Isolation != agent.IsolationNetns {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.spawner != nil && !p.spawner.Alive() && !p.closed {
		// Killed from outside (its nodes died with it): start another.
		p.cfg.Logger.Warn("the node spawner ended; starting another")
		_ = p.spawner.Close()
		p.spawner, p.spawnerTried = nil, false
	}
	if !p.spawnerTried && !p.closed {
		p.spawnerTried = true
		sp, err := sandbox.StartSpawner(p.cfg.Logger)
		if err != nil {
			p.cfg.Logger.Warn("no node spawner: node inits fork from this process", logkey.Err, err)
		} else {
			p.spawner = sp
		}
	}
	return p.spawner
}

// Close stops every node and waits for them; later StartNode calls fail.
func (p *Provider) Close() error {
	p.mu.Lock()
	p.closed = true
	nodes := make([]*node, 0, len(p.nodes))
	for _, nd := range p.nodes {
		nodes = append(nodes, nd)
	}
	p.mu.Unlock()
	for _, nd := range nodes {
		nd.cancel()
	}
	for _, nd := range nodes {
		<-nd.done
	}
	p.mu.Lock()
	sp := p.spawner
	p.spawner = nil
	p.mu.Unlock()
	return sp.Close()
}

// Run waits until ctx ends, then stops every node.
func (p *Provider) Run(ctx context.Context) error {
	<-ctx.Done()
	return p.Close()
}
