package registry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cobaltbatch/cobalt/internal/bearer"
	"github.com/cobaltbatch/cobalt/internal/listenset"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/rbac"
)

// Config configures the registry service.
type Config struct {
	// Registries resolves registry names; required.
	Registries Registries
	// Validator validates Microsoft Entra access tokens at /oauth2/exchange;
	// nil refuses the exchange (the admin user still works).
	Validator *bearer.Validator
	// Authz decides the grants of access tokens; nil grants nothing but to
	// the admin user.
	Authz *rbac.Authorizer
	// TLS is the server TLS configuration of every registry listener; required.
	TLS *tls.Config
	// Host is the public address endpoints name; listeners accept on it and
	// on 127.0.0.1 (internal/publicaddr). Default 127.0.0.1.
	Host string
	// PortBase, when non-zero, is the first port tried for a new registry;
	// 0 takes a random free port.
	PortBase int
	// DataDir holds the content, under DataDir/registries/; required.
	DataDir string
	// SealKey is the secret the token-signing keys are derived from (HKDF);
	// replicas sharing it validate each other's tokens. At least 32 bytes.
	SealKey []byte
	// TenantID, when set, is the only tenant whose Entra tokens are exchanged.
	TenantID string
	Logger   *slog.Logger
	Now      func() time.Time
}

// Service serves container registries, one HTTPS listener per registry.
type Service struct {
	cfg Config
	log *slog.Logger
	now func() time.Time

	upMu    sync.Mutex
	uploads map[string]*uploadState

	// listeners are the registries' own HTTPS listeners.
	listeners *listenset.Set
}

// uploadState is the in-memory part of an upload session (see upload).
type uploadState struct {
	mu sync.Mutex
	upload
}

// New returns a registry service. Call Run to serve.
func New(cfg Config) (*Service, error) {
	switch {
	case cfg.Registries == nil:
		return nil, errors.New("registry: Config.Registries is required")
	case cfg.TLS == nil:
		return nil, errors.New("registry: Config.TLS is required")
	case cfg.DataDir == "":
		return nil, errors.New("registry: Config.DataDir is required")
	case len(cfg.SealKey) < 32:
		return nil, errors.New("registry: Config.SealKey must hold at least 32 bytes")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if err := os.MkdirAll(filepath.Join(cfg.DataDir, "registries"), 0o700); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	s := &Service{cfg: cfg, log: cfg.Logger, now: cfg.Now, uploads: map[string]*uploadState{}}
	// Registries speak HTTP/1.1 only (ALPN): a layer moves as one stream,
	// and HTTP/2 adds a frame reader, a copy and a flow-control window
	// round trip per 16 KiB to each side (measured: twice the server's CPU
	// for a pull, 1.3x the client's; see internal/benchrun's registry row).
	tlsConf := cfg.TLS.Clone()
	tlsConf.NextProtos = []string{"http/1.1"}
	http1 := new(http.Protocols)
	http1.SetHTTP1(true)
	s.listeners = listenset.New(listenset.Config{TLS: tlsConf, Host: cfg.Host, PortBase: cfg.PortBase,
		Kind: "registry", NameKey: logkey.Registry, Logger: cfg.Logger, Conn: newCorkConn,
		Server: func(name, hostPort string) *http.Server {
			return &http.Server{
				Handler:           s.handler(name, hostPort),
				ReadHeaderTimeout: 30 * time.Second,
				// Layers are large: no overall read timeout, but an idle
				// connection is closed.
				IdleTimeout:    2 * time.Minute,
				MaxHeaderBytes: 1 << 20,
				Protocols:      http1,
				ConnContext:    withCorkConn,
			}
		}})
	return s, nil
}

// storeFor returns the content store of a registry. Registry names are
// alphanumeric; anything else cannot name a directory.
func (s *Service) storeFor(name string) (*store, error) {
	key := strings.ToLower(name)
	if key == "" || strings.ContainsAny(key, `/\.`) {
		return nil, fmt.Errorf("registry: invalid registry name %q", name)
	}
	return &store{dir: filepath.Join(s.cfg.DataDir, "registries", key)}, nil
}

// AllocateRegistryEndpoint opens (or returns) the registry's listener and
// returns its "host:port"; a registry with a stored login server gets that
// port again when it is free.
func (s *Service) AllocateRegistryEndpoint(ctx context.Context, name string) (string, error) {
	if _, err := s.storeFor(name); err != nil {
		return "", err
	}
	if hp, ok := s.listeners.Endpoint(name); ok {
		return hp, nil
	}
	preferred := ""
	if reg, err := s.cfg.Registries.LookupRegistry(ctx, name); err == nil {
		preferred = reg.LoginServer
	}
	return s.listeners.Open(name, preferred)
}

// ReclaimRegistryEndpoint moves the registry's listener to the port of
// loginServer when it is elsewhere and that port is free (another replica
// that held it stopped).
func (s *Service) ReclaimRegistryEndpoint(ctx context.Context, name, loginServer string) bool {
	return s.listeners.Reclaim(ctx, name, loginServer)
}

// RegistryEndpointNames returns the names (lower case) of the registries
// that have a listener.
func (s *Service) RegistryEndpointNames() []string { return s.listeners.Names() }

// ReleaseRegistryEndpoint closes the registry's listener; unknown names are
// not an error.
func (s *Service) ReleaseRegistryEndpoint(ctx context.Context, name string) error {
	s.listeners.Close(ctx, name)
	return nil
}

// DeleteRegistryContent removes every repository, manifest, blob and upload
// of the registry. The directory is first renamed aside, so a crash leaves
// either all of the content or none of it visible.
func (s *Service) DeleteRegistryContent(ctx context.Context, name string) error {
	st, err := s.storeFor(name)
	if err != nil {
		return err
	}
	trash := filepath.Join(s.cfg.DataDir, "registries", ".deleted-"+strconv.FormatInt(s.now().UnixNano(), 36)+"-"+strings.ToLower(name))
	if err := os.Rename(st.dir, trash); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("registry: delete content of %s: %w", name, err)
	}
	s.upMu.Lock()
	prefix := strings.ToLower(name) + "/"
	for k := range s.uploads {
		if strings.HasPrefix(k, prefix) {
			delete(s.uploads, k)
		}
	}
	s.upMu.Unlock()
	if err := os.RemoveAll(trash); err != nil {
		return fmt.Errorf("registry: delete content of %s: %w", name, err)
	}
	s.log.Info("registry content deleted", logkey.Registry, name)
	return nil
}

// Endpoint returns the registry's "host:port", if it has a listener.
func (s *Service) Endpoint(name string) (string, bool) { return s.listeners.Endpoint(name) }

// Run serves every registry listener until ctx is done. On start it removes
// temporary files and upload sessions abandoned for more than a day.
func (s *Service) Run(ctx context.Context) error {
	if err := s.listeners.Start(); err != nil {
		return err
	}
	s.Sweep(24 * time.Hour)
	<-ctx.Done()
	s.listeners.Stop()
	return nil
}

// Sweep removes, in every registry, temporary files and upload sessions
// untouched for longer than maxAge, and the remains of deleted registries.
func (s *Service) Sweep(maxAge time.Duration) {
	root := filepath.Join(s.cfg.DataDir, "registries")
	ents, _ := os.ReadDir(root)
	n := 0
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		if strings.HasPrefix(e.Name(), ".deleted-") {
			_ = os.RemoveAll(filepath.Join(root, e.Name()))
			continue
		}
		n += (&store{dir: filepath.Join(root, e.Name())}).sweep(s.now(), maxAge)
	}
	if n > 0 {
		s.log.Info("registry temporary files removed", logkey.TempFiles, n)
	}
}

// Handler returns the handler of one registry, for tests and callers that
// serve it themselves; the login server is the registry's stored one, or
// the request's Host.
func (s *Service) Handler(name string) http.Handler { return s.handler(name, "") }

// AzureHandler returns the handler of one registry reached by its Azure
// name ({name}.azurecr.io, inside nodes): the request's Host is its login
// server, in challenges (the realm is on the same host, as clients require)
// and in the audience of the tokens it issues there.
func (s *Service) AzureHandler(name string) http.Handler { return s.handler(name, hostLoginServer) }
