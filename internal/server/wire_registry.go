package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cobaltbatch/cobalt/internal/arm/registryprovider"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/registry"
)

// registryPortOffset is where, from PortBase, registries' listeners start.
const registryPortOffset = 2000

// wireRegistry builds the container registry service and the
// Microsoft.ContainerRegistry provider. The lookup comes first: the registry
// service reads registries through it, and the provider, which drives the
// service's listeners, clears its cache on every write.
func (s *Server) wireRegistry(ctx context.Context) error {
	lookup := registryprovider.NewLookup(s.store, s.opts.Now)
	portBase := 0
	if s.opts.PortBase > 0 {
		portBase = s.opts.PortBase + registryPortOffset
	}
	svc := newRegistryService(registryServiceConfig{
		Registries: lookup, PortBase: portBase, Server: s,
		Logger: s.log.With(logkey.Component, "registry"),
	})
	provider, err := registryprovider.New(registryprovider.Config{
		Endpoints: svc, Lookup: lookup, Logger: s.log.With(logkey.Component, "registryprovider"), Now: s.opts.Now,
	})
	if err != nil {
		return fmt.Errorf("Microsoft.ContainerRegistry provider: %w", err)
	}
	if err := s.arm.Register(provider); err != nil {
		return err
	}
	s.goRun("registry", svc.Run)
	s.goRun("registries", provider.Run)
	return nil
}

// registryServiceConfig is what the registry data plane is built from here.
type registryServiceConfig struct {
	Registries registry.Registries
	PortBase   int
	Server     *Server
	Logger     *slog.Logger
}

// newRegistryService stands in for the registry data plane until it is
// merged (internal/registry's service replaces it, keeping this seam): each
// registry gets its own HTTPS listener, on its previous port when free,
// whose every request is the OCI distribution error UNAVAILABLE.
func newRegistryService(cfg registryServiceConfig) *stubRegistry {
	return &stubRegistry{cfg: cfg, open: map[string]*http.Server{}}
}

type stubRegistry struct {
	cfg  registryServiceConfig
	mu   sync.Mutex
	open map[string]*http.Server
	used map[int]bool
}

var _ registry.Endpoints = (*stubRegistry)(nil)

func (r *stubRegistry) AllocateRegistryEndpoint(ctx context.Context, name string) (string, error) {
	key := strings.ToLower(name)
	r.mu.Lock()
	defer r.mu.Unlock()
	if srv, ok := r.open[key]; ok {
		return srv.Addr, nil
	}
	var ln net.Listener
	if reg, err := r.cfg.Registries.LookupRegistry(ctx, name); err == nil && reg.LoginServer != "" {
		ln, _ = net.Listen("tcp", reg.LoginServer)
	}
	for p := r.cfg.PortBase; ln == nil && r.cfg.PortBase > 0 && p < r.cfg.PortBase+1000 && p < 65536; p++ {
		if !r.used[p] {
			ln, _ = net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		}
	}
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return "", fmt.Errorf("listen for registry %s: %w", name, err)
		}
	}
	if r.used == nil {
		r.used = map[int]bool{}
	}
	r.used[ln.Addr().(*net.TCPAddr).Port] = true
	srv := &http.Server{Addr: ln.Addr().String(), ReadHeaderTimeout: 30 * time.Second,
		TLSConfig: r.cfg.Server.ca.ServerTLSConfig(),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"errors":[{"code":"UNAVAILABLE","message":"the registry service is not part of this build"}]}`))
		})}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	r.open[key] = srv
	return srv.Addr, nil
}

func (r *stubRegistry) ReleaseRegistryEndpoint(ctx context.Context, name string) error {
	r.mu.Lock()
	srv, ok := r.open[strings.ToLower(name)]
	delete(r.open, strings.ToLower(name))
	if ok {
		if _, port, err := net.SplitHostPort(srv.Addr); err == nil {
			n, _ := strconv.Atoi(port)
			delete(r.used, n)
		}
	}
	r.mu.Unlock()
	if ok {
		return srv.Close()
	}
	return nil
}

func (r *stubRegistry) DeleteRegistryContent(context.Context, string) error { return nil }

// Run closes every listener when ctx ends.
func (r *stubRegistry) Run(ctx context.Context) error {
	<-ctx.Done()
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for _, srv := range r.open {
		errs = append(errs, srv.Close())
	}
	clear(r.open)
	return errors.Join(errs...)
}
