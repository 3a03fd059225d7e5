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
	"strings"
	"sync"
	"time"

	"github.com/cobaltbatch/cobalt/internal/arm"
	"github.com/cobaltbatch/cobalt/internal/batch"
	"github.com/cobaltbatch/cobalt/internal/batchapi"
	"github.com/cobaltbatch/cobalt/internal/bearer"
	"github.com/cobaltbatch/cobalt/internal/blob"
	"github.com/cobaltbatch/cobalt/internal/hostagent"
	"github.com/cobaltbatch/cobalt/internal/jobs"
	"github.com/cobaltbatch/cobalt/internal/login"
	"github.com/cobaltbatch/cobalt/internal/nodeapi"
	"github.com/cobaltbatch/cobalt/internal/pki"
	"github.com/cobaltbatch/cobalt/internal/rbac"
	"github.com/cobaltbatch/cobalt/internal/store"
	"github.com/cobaltbatch/cobalt/internal/store/postgres"
	"github.com/cobaltbatch/cobalt/internal/store/sqlite"
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
	// Location is the Azure region name resources report (default "eastus").
	Location string
	// Isolation is the node isolation mode: "auto" (netns when root on Linux), "netns" or "process".
	Isolation string
	// IMDSRateLimit is the per-node IMDS limit: "" for Azure's default, "off", or "100/s,20".
	IMDSRateLimit string
	// MaxNodes caps the compute nodes of this host (0 for the default).
	MaxNodes int
	Logger   *slog.Logger
	Now      func() time.Time
}

// Listener offsets from PortBase. Batch accounts get ports from batchPortOffset up.
const (
	portLogin = iota
	portARM
	portBlob
	portNodeAPI
	portPortal
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
	batchapi  *batchapi.Service

	servers   []*http.Server
	runners   []runner
	addrs     map[string]string // listener name -> https://127.0.0.1:port
	listeners map[string]net.Listener
	prevPorts map[string]int

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
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Now == nil {
		opts.Now = time.Now
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
	if s.ca, err = pki.LoadOrCreate(s.dir.file(tlsDir)); err != nil {
		return nil, fmt.Errorf("certificates: %w", err)
	}
	if s.store, err = openStore(ctx, opts.Store, s.dir.file(dbFile), opts.Now); err != nil {
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
	}{{"login", portLogin}, {"arm", portARM}, {"blob", portBlob}, {"nodeapi", portNodeAPI}, {"portal", portPortal}} {
		if err = s.bind(l.name, l.offset); err != nil {
			return nil, err
		}
	}
	if err = s.dir.savePorts(s.ports()); err != nil {
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

func openStore(ctx context.Context, dsn, sqlitePath string, now func() time.Time) (store.Store, error) {
	switch {
	case dsn == "":
		return sqlite.Open(ctx, sqlitePath, now)
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return postgres.Open(ctx, dsn, now)
	case strings.HasPrefix(dsn, "sqlite:"):
		return sqlite.Open(ctx, strings.TrimPrefix(dsn, "sqlite:"), now)
	default:
		return nil, fmt.Errorf("--store %q: want a postgres:// URL or sqlite:PATH", dsn)
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
	if s.opts.PortBase > 0 {
		l, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", s.opts.PortBase+offset))
	} else {
		if prev := s.prevPorts[name]; prev > 0 {
			l, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", prev))
		}
		if l == nil {
			l, err = net.Listen("tcp", "127.0.0.1:0")
		}
	}
	if err != nil {
		return fmt.Errorf("listen for %s: %w", name, err)
	}
	s.listeners[name] = l
	s.addrs[name] = "https://" + l.Addr().String()
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

// URL returns the https base URL of a named listener (login, arm, blob, nodeapi, portal).
func (s *Server) URL(name string) string { return s.addrs[name] }

// handle attaches a handler to a bound listener, serving TLS.
func (s *Server) handle(name string, h http.Handler) { s.handleWith(name, h, tls.NewListener) }

// handleWith is handle with the TLS listener made by wrap.
func (s *Server) handleWith(name string, h http.Handler, wrap func(net.Listener, *tls.Config) net.Listener) {
	srv := &http.Server{
		Handler:           h,
		TLSConfig:         s.ca.ServerTLSConfig(),
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	if name == "blob" {
		// Blob uploads and downloads stream large bodies: HTTP/2's default
		// flow-control windows would throttle them well below disk speed.
		srv.HTTP2 = &http.HTTP2Config{MaxReceiveBufferPerConnection: 32 << 20, MaxReceiveBufferPerStream: 16 << 20}
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
					s.log.Error("component failed; shutting down", "component", r.name, "err", err)
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
