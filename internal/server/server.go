package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/cobaltbatch/cobalt/internal/arm"
	"github.com/cobaltbatch/cobalt/internal/batch"
	"github.com/cobaltbatch/cobalt/internal/batchapi"
	"github.com/cobaltbatch/cobalt/internal/bearer"
	"github.com/cobaltbatch/cobalt/internal/blob"
	"github.com/cobaltbatch/cobalt/internal/hostagent"
	"github.com/cobaltbatch/cobalt/internal/hostapi"
	"github.com/cobaltbatch/cobalt/internal/jobs"
	"github.com/cobaltbatch/cobalt/internal/login"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/nodeapi"
	"github.com/cobaltbatch/cobalt/internal/pki"
	"github.com/cobaltbatch/cobalt/internal/publicaddr"
	"github.com/cobaltbatch/cobalt/internal/rbac"
	"github.com/cobaltbatch/cobalt/internal/registry"
	"github.com/cobaltbatch/cobalt/internal/store"
	"github.com/cobaltbatch/cobalt/internal/store/postgres"
	"github.com/cobaltbatch/cobalt/internal/store/sqlite"
	"github.com/cobaltbatch/cobalt/internal/store/sqlstore"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Options configure Start.
type Options struct {
	// DataDir holds the installation's state (default ".cobalt").
	DataDir string
	// PortBase is the first of the fixed listener ports; 0 puts every listener
	// on a free random port.
	PortBase int
	// Store is "" for the embedded SQLite store in DataDir, or a postgres:// URL.
	Store string
	// PublicAddress is the IP address or DNS name every URL names and the
	// server certificate covers; listeners accept on it besides 127.0.0.1
	// (internal/publicaddr). Default 127.0.0.1.
	PublicAddress string
	// ReplicaAddresses are the other replicas' public addresses, which the
	// server certificate names too (and nothing else: no listener, no URL),
	// so that a client or node sent from a dead replica's address to this
	// replica (a DNS name's next record, a joined host's node) verifies it.
	ReplicaAddresses []string
	// Location is the Azure region name resources report (default "eastus").
	Location string
	// Isolation is the node isolation mode: "auto" (netns when root on Linux), "netns", "process",
	// or "external" (hostagent.IsolationExternal: no local agents; the nodes'
	// credentials are kept under DATA/nodes/.credentials for agents that run
	// elsewhere, such as `cobalt bench fleet`'s simulated hosts).
	Isolation string
	// IMDSRateLimit is the per-node IMDS limit: "" for Azure's default, "off", or "100/s,20".
	IMDSRateLimit string
	// MaxNodes caps the compute nodes of this host; 0 for the default, one
	// node per 64 MiB of the machine's memory (defaultMaxNodes).
	MaxNodes int
	// NoLocalHost leaves the control plane without a host record of its own
	// (`cobalt up --no-local-host`).
	NoLocalHost bool
	// HostHeartbeat is how often joined hosts report, and HostLease how long
	// one stays ready without a report (0: 5 s and 30 s); its nodes are
	// given up a grace later (batch.HostGrace), after their agents killed
	// their tasks (batch.FenceAfter).
	HostHeartbeat time.Duration
	HostLease     time.Duration
	// HostsAddress is the loopback address on whose port 443 the host gets
	// Azure's public hostnames too (see `cobalt env --hosts`): "" means
	// 127.0.0.2, "off" serves them only inside nodes. Binding it needs root
	// (or CAP_NET_BIND_SERVICE) and a free port; without them Cobalt starts
	// anyway and serves the names only inside nodes.
	HostsAddress string
	// ReadTimeout bounds how long a client may take to send a request's
	// headers and, on every listener but blob, its whole body; on the blob
	// listener, whose bodies are as large as blobs, it is the time in which
	// each further 16 KiB of a body must arrive. 0 means one minute.
	ReadTimeout time.Duration
	Logger      *slog.Logger
	Now         func() time.Time
	// AutoScale sets autoscale's metric sampling (zero for Batch's behaviour).
	AutoScale batch.AutoScaleOptions
	// JoinReplica, when set, is a bundle from ExportReplica: this process
	// becomes one more replica of that installation, whose PostgreSQL store
	// Store names, with DataDir a directory of its own.
	JoinReplica []byte
	// ContentDir is where blob and registry content lives: "" for DataDir.
	// Replicas share one (a shared file system such as NFS).
	ContentDir string
	// ReplicaPoll is how often a replica looks for what other replicas
	// changed (accounts' and registries' listeners, abandoned operations);
	// 0 means two seconds.
	ReplicaPoll time.Duration
	// FederationIssuers are external OpenID Connect issuer URLs, besides
	// those on loopback addresses, whose keys the login service may fetch
	// to exchange their tokens through federated identity credentials.
	FederationIssuers []string
}

// Listener offsets from PortBase. Batch accounts get ports from batchPortOffset up.
const (
	portLogin = iota
	portARM
	portBlob
	portNodeAPI
	portPortal
	// portMetrics serves /metrics: a listener of its own, never forwarded
	// into nodes, so no task can read the installation's metrics.
	portMetrics
	// portAzure serves Azure's public hostnames to nodes (internal/azurenames).
	portAzure
	batchPortOffset = 10
)

// Server is a running Cobalt.
type Server struct {
	opts      Options
	log       *slog.Logger
	dir       *dataDir
	store     store.Store
	ca        *pki.CA
	reg       *prometheus.Registry
	endpoints Endpoints
	seal      []byte // the seal key: login's signing keys and the store's account keys
	tenantID  string
	subID     string

	login     *login.Service
	validator *bearer.Validator
	authz     *rbac.Authorizer
	arm       *arm.Server
	blob      *blob.Service
	nodes     *hostagent.Provider
	pools     *batch.Service
	jobs      *jobs.Service
	nodeapi   *nodeapi.Server
	// nodeHandler serves the node API's listener; the local host's agents
	// call it in-process (wire.go).
	nodeHandler http.Handler
	hosts       *hostapi.Service
	batchapi    *batchapi.Service
	registry    *registry.Service
	// azureTLS serves Azure's public hostnames with a certificate for them.
	azureTLS *tls.Config

	servers   []*http.Server
	runners   []runner
	addrs     map[string]string // listener name -> https://PUBLIC-ADDRESS:port
	listeners map[string]net.Listener
	prevPorts map[string]int

	// tmpNodeDir is the node directory outside the data directory, if any:
	// removed at close when no node left anything in it.
	tmpNodeDir string

	cancel context.CancelFunc
	done   chan struct{}
	runErr error
}

type runner struct {
	name string
	run  func(ctx context.Context) error
}

// Start starts every service and returns once all of them serve and
// endpoints.json is written. Stop it with Close.
func Start(ctx context.Context, opts Options) (_ *Server, err error) {
	if opts.DataDir == "" {
		opts.DataDir = ".cobalt"
	}
	if opts.Location == "" {
		opts.Location = "eastus"
	}
	if opts.PublicAddress == "" {
		opts.PublicAddress = publicaddr.Default
	}
	if err := publicaddr.Validate(opts.PublicAddress); err != nil {
		return nil, err
	}
	for _, a := range opts.ReplicaAddresses {
		if err := publicaddr.Validate(a); err != nil {
			return nil, fmt.Errorf("replica address: %w", err)
		}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = time.Minute
	}
	if opts.ReplicaPoll <= 0 {
		opts.ReplicaPoll = 2 * time.Second
	}
	if opts.ContentDir != "" {
		abs, err := filepath.Abs(opts.ContentDir)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(abs, 0o700); err != nil {
			return nil, fmt.Errorf("content directory: %w", err)
		}
		opts.ContentDir = abs
	}
	s := &Server{opts: opts, log: opts.Logger, addrs: map[string]string{}, listeners: map[string]net.Listener{}, done: make(chan struct{})}
	if s.dir, err = openDataDir(opts.DataDir); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.closeResources()
		}
	}()
	if opts.JoinReplica != nil {
		if !isPostgres(opts.Store) {
			return nil, errors.New("--join-replica: replicas share a PostgreSQL store; give its URL")
		}
		b, err := parseReplicaBundle(opts.JoinReplica)
		if err != nil {
			return nil, err
		}
		if err := s.dir.join(b); err != nil {
			return nil, err
		}
	}
	_, statErr := os.Stat(s.dir.file(sealKeyFile))
	fresh := errors.Is(statErr, os.ErrNotExist)
	if s.ca, err = pki.LoadOrCreate(s.dir.file(tlsDir), append([]string{opts.PublicAddress}, opts.ReplicaAddresses...)...); err != nil {
		return nil, fmt.Errorf("certificates: %w", err)
	}
	if s.seal, err = s.dir.sealKey(); err != nil {
		return nil, fmt.Errorf("seal key: %w", err)
	}
	if s.store, err = openStore(ctx, opts.Store, s.dir.file(dbFile), opts.Now, s.seal); err != nil {
		return nil, err
	}
	if fresh && isPostgres(opts.Store) {
		if err = refuseUnjoined(ctx, s.store); err != nil {
			// Leave no half-made installation behind in the directory.
			_ = os.Remove(s.dir.file(sealKeyFile))
			_ = os.RemoveAll(s.dir.file(tlsDir))
			return nil, err
		}
	}
	if err = checkSeal(ctx, s.store, s.seal); err != nil {
		return nil, err
	}
	// Record which store this directory uses, for the administrative commands.
	if err = pki.WriteFileAtomic(s.dir.file(storeURLFile), []byte(opts.Store+"\n"), 0o600); err != nil {
		return nil, err
	}
	s.reg = prometheus.NewRegistry()
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err = s.bootstrapIDs(ctx); err != nil {
		return nil, err
	}
	// Every listener is bound before any service is built, so that services
	// learn each other's addresses (the ARM plane publishes the blob endpoint).
	// With random ports, a restart first tries the ports of the previous run,
	// so that URLs, and token issuers, survive it when the ports are free.
	s.prevPorts = s.dir.loadPorts()
	for _, l := range []struct {
		name   string
		offset int
	}{{"login", portLogin}, {"arm", portARM}, {"blob", portBlob}, {"nodeapi", portNodeAPI}, {"portal", portPortal}, {"metrics", portMetrics}, {"azure", portAzure}} {
		if err = s.bind(l.name, l.offset); err != nil {
			return nil, err
		}
	}
	if err = s.dir.savePorts(s.ports()); err != nil {
		return nil, err
	}
	if err = s.bindHostsAddress(); err != nil {
		return nil, err
	}
	if err = s.wire(ctx); err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.serveAll(runCtx)
	if err = WriteEndpoints(s.dir.path, s.endpoints); err != nil {
		cancel()
		<-s.done
		return nil, fmt.Errorf("write endpoints: %w", err)
	}
	return s, nil
}

// openStore opens the store named by dsn ("" for SQLite at sqlitePath), with
// account keys sealed under seal.
func openStore(ctx context.Context, dsn, sqlitePath string, now func() time.Time, seal []byte) (store.Store, error) {
	sealer, err := sqlstore.NewSealer(seal)
	if err != nil {
		return nil, err
	}
	cfg := sqlstore.Config{Now: now, Sealer: sealer}
	switch {
	case dsn == "":
		return sqlite.OpenConfig(ctx, sqlitePath, cfg)
	case isPostgres(dsn):
		return postgres.OpenConfig(ctx, dsn, cfg)
	case strings.HasPrefix(dsn, "sqlite:"):
		return sqlite.OpenConfig(ctx, strings.TrimPrefix(dsn, "sqlite:"), cfg)
	default:
		// Never echo dsn: a mistyped PostgreSQL URL may carry a password.
		return nil, errors.New("store: want a postgres:// URL or sqlite:PATH")
	}
}

// bootstrapIDs chooses the tenant and subscription IDs on first start and
// reads them back on every later one.
func (s *Server) bootstrapIDs(ctx context.Context) (err error) {
	if s.tenantID, err = s.store.MetaPutIfAbsent(ctx, "tenant_id", uuid.NewString()); err != nil {
		return fmt.Errorf("bootstrap tenant: %w", err)
	}
	if s.subID, err = s.store.MetaPutIfAbsent(ctx, "subscription_id", uuid.NewString()); err != nil {
		return fmt.Errorf("bootstrap subscription: %w", err)
	}
	return nil
}

// bind opens the TLS listener of one service.
func (s *Server) bind(name string, offset int) error {
	var (
		l   net.Listener
		err error
	)
	public := s.opts.PublicAddress
	if name == "metrics" {
		// Metrics stay on this machine.
		public = publicaddr.Default
	}
	if s.opts.PortBase > 0 {
		l, err = publicaddr.Listen(public, s.opts.PortBase+offset)
	} else {
		if prev := s.prevPorts[name]; prev > 0 {
			l, err = publicaddr.Listen(public, prev)
		}
		if l == nil {
			l, err = publicaddr.Listen(public, 0)
		}
	}
	if err != nil {
		return fmt.Errorf("listen for %s: %w", name, err)
	}
	s.listeners[name] = l
	s.addrs[name] = "https://" + publicaddr.HostPort(public, publicaddr.Port(l))
	return nil
}

// ports returns the bound port of every listener.
func (s *Server) ports() map[string]int {
	out := map[string]int{}
	for name, l := range s.listeners {
		out[name] = l.Addr().(*net.TCPAddr).Port
	}
	return out
}

// URL returns the https base URL of a named listener (login, arm, blob, nodeapi, portal, metrics).
func (s *Server) URL(name string) string { return s.addrs[name] }

// handle attaches a handler to a bound listener, serving TLS.
func (s *Server) handle(name string, h http.Handler) { s.handleWith(name, h, tls.NewListener) }

// handleWith is handle with the TLS listener made by wrap.
func (s *Server) handleWith(name string, h http.Handler, wrap func(net.Listener, *tls.Config) net.Listener) {
	// A client that is slow to send its request cannot hold a connection:
	// headers and body must arrive within ReadTimeout, and an idle
	// keep-alive connection is closed after IdleTimeout.
	srv := &http.Server{
		Handler:           h,
		TLSConfig:         s.ca.ServerTLSConfig(),
		ReadHeaderTimeout: s.opts.ReadTimeout,
		ReadTimeout:       s.opts.ReadTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	if name == "azure" || name == hostsListener {
		// Azure's hostnames carry a certificate of their own. Each server
		// gets its own copy: Serve adds "h2" to its config's NextProtos, which
		// raced with the other listener cloning the same config.
		srv.TLSConfig = s.azureTLS.Clone()
	}
	if name == "blob" || name == "azure" || name == hostsListener {
		// Blob uploads and downloads stream large bodies: HTTP/2's default
		// flow-control windows would throttle them well below disk speed.
		srv.HTTP2 = &http.HTTP2Config{MaxReceiveBufferPerConnection: 32 << 20, MaxReceiveBufferPerStream: 16 << 20}
		// A blob's body may take longer than ReadTimeout to arrive; each
		// read of it must make progress within ReadTimeout instead.
		srv.Handler = bodyProgress(h, s.opts.ReadTimeout)
	}
	l := s.listeners[name]
	s.servers = append(s.servers, srv)
	s.runners = append(s.runners, runner{name: name + " listener", run: func(ctx context.Context) error {
		err := srv.Serve(wrap(l, srv.TLSConfig))
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}})
}

// goRun adds a long-running part to the runner.
func (s *Server) goRun(name string, run func(ctx context.Context) error) {
	s.runners = append(s.runners, runner{name, run})
}

// serveAll starts every runner; the first to fail cancels the rest.
func (s *Server) serveAll(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	var once sync.Once
	var wg sync.WaitGroup
	for _, r := range s.runners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := r.run(ctx)
			if err != nil && ctx.Err() == nil {
				once.Do(func() {
					s.runErr = fmt.Errorf("%s: %w", r.name, err)
					s.log.Error("component failed; shutting down", logkey.Component, r.name, logkey.Err, err)
				})
				cancel()
			}
		}()
	}
	go func() {
		<-ctx.Done()
		shut, done := context.WithTimeout(context.Background(), 10*time.Second)
		defer done()
		for _, srv := range s.servers {
			_ = srv.Shutdown(shut)
		}
	}()
	go func() {
		wg.Wait()
		cancel()
		s.closeResources()
		close(s.done)
	}()
}

func (s *Server) closeResources() {
	if s.store != nil {
		_ = s.store.Close()
	}
	for _, l := range s.listeners {
		_ = l.Close()
	}
	if s.tmpNodeDir != "" {
		_ = os.Remove(s.tmpNodeDir) // only if empty
	}
	if s.dir != nil {
		_ = s.dir.close()
	}
}

// Endpoints returns what endpoints.json holds.
func (s *Server) Endpoints() Endpoints { return s.endpoints }

// DataDir returns the absolute data directory.
func (s *Server) DataDir() string { return s.dir.path }

// Store returns the server's store (for tests and tools in this process).
func (s *Server) Store() store.Store { return s.store }

// CA returns the installation's certificate authority.
func (s *Server) CA() *pki.CA { return s.ca }

// OutsideNodeDir returns the node directory the server keeps outside its
// data directory (under the system's temporary directory, when the data
// directory is private and tasks run as other users), or "" when node
// directories live in the data directory.
func (s *Server) OutsideNodeDir() string { return s.tmpNodeDir }

// Hosts returns the installation's host service, for tests and tools in
// this process.
func (s *Server) Hosts() *hostapi.Service { return s.hosts }

// Login returns the installation's login service (service principals and
// the tokens it issues), for tests and tools in this process.
func (s *Server) Login() *login.Service { return s.login }

// Done is closed when the server has stopped.
func (s *Server) Done() <-chan struct{} { return s.done }

// Err returns the error that stopped the server, if a component failed.
func (s *Server) Err() error { return s.runErr }

// Close stops every service gracefully, flushes the store and releases the data directory.
func (s *Server) Close() error {
	s.cancel()
	<-s.done
	return s.runErr
}

// minBodyProgress is how much of a body must arrive within each read
// timeout for the deadline to move on: about 270 bytes a second with the
// default minute, far below any real upload, far above a trickle.
const minBodyProgress = 16 << 10

// bodyProgress lets a request's body take as long as it needs, provided that
// it keeps arriving: the request's read deadline moves to d from now each
// time minBodyProgress more bytes have arrived. A client that stops sending,
// or sends a byte now and then, still loses its connection.
func bodyProgress(h http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &progressBody{ReadCloser: r.Body, rc: http.NewResponseController(w), d: d, pending: minBodyProgress}
		}
		h.ServeHTTP(w, r)
	})
}

// progressBody is a request body whose deadline moves as it arrives.
type progressBody struct {
	io.ReadCloser
	rc *http.ResponseController
	d  time.Duration
	// pending counts the bytes read since the deadline last moved.
	pending int
}

func (b *progressBody) Read(p []byte) (int, error) {
	if b.pending >= minBodyProgress {
		b.pending = 0
		// A socket deadline is wall-clock time for the kernel, not the
		// injected clock of the services.
		_ = b.rc.SetReadDeadline(time.Now().Add(b.d))
	}
	n, err := b.ReadCloser.Read(p)
	b.pending += n
	return n, err
}
