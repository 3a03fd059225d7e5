// Package listenset keeps one HTTPS listener per named resource (a Batch
// account, a container registry), as Azure gives each its own endpoint: a
// new listener takes its resource's previous port when that is free, else
// the next free port from a base, else a random one; listeners are served
// while the set runs.
package listenset

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/publicaddr"
)

// Config configures a Set.
type Config struct {
	// TLS is every listener's TLS configuration.
	TLS *tls.Config
	// Host is the installation's public address (internal/publicaddr):
	// endpoints name it, and listeners accept on it and on 127.0.0.1.
	// Default 127.0.0.1.
	Host string
	// PortBase, when non-zero, is the first port tried for a new listener;
	// the next free port upward is used. 0 takes a random free port.
	PortBase int
	// Kind names the resources in logs and errors ("batch account").
	Kind string
	// NameKey is the log key of a resource's name (logkey.Account).
	NameKey string
	Logger  *slog.Logger
	// Server returns the server of a new listener: its handler and
	// timeouts (TLSConfig and ErrorLog are set by the Set).
	Server func(name, hostPort string) *http.Server
	// Conn, when set, wraps each accepted connection under its TLS (the
	// server's ConnContext finds it with tls.Conn's NetConn).
	Conn func(net.Conn) net.Conn
}

// Set is a set of named listeners. It is safe for concurrent use.
type Set struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	running  bool
	byName   map[string]*listener
	usedPort map[int]bool
	wg       sync.WaitGroup
}

// listener is one resource's listener.
type listener struct {
	name     string
	hostPort string
	ln       net.Listener
	srv      *http.Server
	serving  bool
}

// New returns an empty set; Run serves it.
func New(cfg Config) *Set {
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Set{cfg: cfg, log: cfg.Logger, byName: map[string]*listener{}, usedPort: map[int]bool{}}
}

// Endpoint returns the resource's "host:port", if it has a listener. Names
// fold case.
func (s *Set) Endpoint(name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.byName[strings.ToLower(name)]
	if !ok {
		return "", false
	}
	return l.hostPort, true
}

// Open opens the resource's listener, or returns the one it has: on
// preferred when it is given and free, else on the next free port from
// PortBase, else on a random port. It returns the listener's "host:port".
func (s *Set) Open(name, preferred string) (string, error) {
	if hp, ok := s.Endpoint(name); ok {
		return hp, nil
	}
	key := strings.ToLower(name)
	var ln net.Listener
	var err error
	if preferred != "" {
		ln, err = nil, fmt.Errorf("endpoint %q has no port", preferred)
		if _, ps, perr := net.SplitHostPort(preferred); perr == nil {
			if p, aerr := strconv.Atoi(ps); aerr == nil && p > 0 && p < 65536 {
				ln, err = publicaddr.Listen(s.cfg.Host, p)
			}
		}
		if err != nil {
			s.log.Warn(s.cfg.Kind+" endpoint port not free; choosing another", s.cfg.NameKey, name,
				logkey.Endpoint, preferred, logkey.Err, err)
			ln = nil
		}
	}
	if ln == nil && s.cfg.PortBase > 0 {
		for p := s.cfg.PortBase; p < s.cfg.PortBase+1000 && p < 65536; p++ {
			s.mu.Lock()
			used := s.usedPort[p]
			s.mu.Unlock()
			if used {
				continue
			}
			if ln, err = publicaddr.Listen(s.cfg.Host, p); err == nil {
				break
			}
			ln = nil
		}
	}
	if ln == nil {
		if ln, err = publicaddr.Listen(s.cfg.Host, 0); err != nil {
			return "", fmt.Errorf("listen for %s %s: %w", s.cfg.Kind, name, err)
		}
	}
	hostPort := publicaddr.HostPort(s.cfg.Host, publicaddr.Port(ln))
	l := &listener{name: name, hostPort: hostPort, ln: ln, srv: s.cfg.Server(name, hostPort)}
	l.srv.TLSConfig = s.cfg.TLS.Clone()
	l.srv.ErrorLog = slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)
	s.mu.Lock()
	if old, ok := s.byName[key]; ok {
		// Lost a race with a concurrent Open of the same resource.
		s.mu.Unlock()
		_ = ln.Close()
		return old.hostPort, nil
	}
	s.byName[key] = l
	s.usedPort[publicaddr.Port(ln)] = true
	if s.running {
		s.serveLocked(l)
	}
	s.mu.Unlock()
	s.log.Info(s.cfg.Kind+" endpoint listening", s.cfg.NameKey, name, logkey.Endpoint, hostPort)
	return hostPort, nil
}

// Names returns the names of the resources that have a listener, in lower case.
func (s *Set) Names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.byName))
	for k := range s.byName {
		out = append(out, k)
	}
	return out
}

// Close closes the resource's listener; an unknown name is not an error.
func (s *Set) Close(ctx context.Context, name string) {
	key := strings.ToLower(name)
	s.mu.Lock()
	l, ok := s.byName[key]
	if ok {
		delete(s.byName, key)
	}
	serving := ok && l.serving
	s.mu.Unlock()
	if !ok {
		return
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	l.stop(sctx, serving)
	s.mu.Lock()
	delete(s.usedPort, publicaddr.Port(l.ln))
	s.mu.Unlock()
	s.log.Info(s.cfg.Kind+" endpoint released", s.cfg.NameKey, l.name, logkey.Endpoint, l.hostPort)
}

// stop shuts a listener down: its server when serving, else the socket.
func (l *listener) stop(ctx context.Context, serving bool) {
	if !serving {
		_ = l.ln.Close()
		return
	}
	if err := l.srv.Shutdown(ctx); err != nil {
		_ = l.srv.Close()
	}
}

// serveLocked starts serving l; s.mu is held.
func (s *Set) serveLocked(l *listener) {
	if l.serving {
		return
	}
	l.serving = true
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ln := l.ln
		if s.cfg.Conn != nil {
			ln = wrapListener{ln, s.cfg.Conn}
		}
		if err := l.srv.Serve(tls.NewListener(ln, l.srv.TLSConfig)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error(s.cfg.Kind+" listener failed", s.cfg.NameKey, l.name, logkey.Err, err)
		}
	}()
}

// Start serves every listener, and every one opened after, until Stop.
func (s *Set) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return errors.New("listenset: " + s.cfg.Kind + " listeners already served")
	}
	s.running = true
	for _, l := range s.byName {
		s.serveLocked(l)
	}
	return nil
}

// Stop shuts every listener down and waits for their servers.
func (s *Set) Stop() {
	s.mu.Lock()
	ls := make([]*listener, 0, len(s.byName))
	serving := make([]bool, 0, len(s.byName))
	for _, l := range s.byName {
		ls = append(ls, l)
		serving = append(serving, l.serving)
	}
	s.running = false
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, l := range ls {
		l.stop(ctx, serving[i])
	}
	s.wg.Wait()
}

// Reclaim moves the resource's listener to the port of preferred (on this
// set's host) when it is elsewhere and that port has come free, as when the
// replica that held it stopped. It reports whether the listener moved; a
// resource without a listener is left alone.
func (s *Set) Reclaim(ctx context.Context, name, preferred string) bool {
	_, port, err := net.SplitHostPort(preferred)
	if err != nil {
		return false
	}
	key := strings.ToLower(name)
	s.mu.Lock()
	old, ok := s.byName[key]
	s.mu.Unlock()
	if !ok {
		return false
	}
	if _, cur, _ := net.SplitHostPort(old.hostPort); cur == port {
		return false
	}
	pn, err := strconv.Atoi(port)
	if err != nil || pn <= 0 || pn > 65535 {
		return false
	}
	ln, err := publicaddr.Listen(s.cfg.Host, pn)
	if err != nil {
		return false // still held elsewhere
	}
	hostPort := ln.Addr().String()
	l := &listener{name: old.name, hostPort: hostPort, ln: ln, srv: s.cfg.Server(old.name, hostPort)}
	l.srv.TLSConfig = s.cfg.TLS.Clone()
	l.srv.ErrorLog = slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)
	s.mu.Lock()
	if cur, ok := s.byName[key]; !ok || cur != old {
		s.mu.Unlock()
		_ = ln.Close()
		return false
	}
	s.byName[key] = l
	s.usedPort[ln.Addr().(*net.TCPAddr).Port] = true
	delete(s.usedPort, old.ln.Addr().(*net.TCPAddr).Port)
	serving := old.serving
	if s.running {
		s.serveLocked(l)
	}
	s.mu.Unlock()
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	old.stop(sctx, serving)
	s.log.Info(s.cfg.Kind+" endpoint moved to its stored port", s.cfg.NameKey, old.name, logkey.Previous, old.hostPort, logkey.Endpoint, hostPort)
	return true
}

// wrapListener wraps each connection its listener accepts.
type wrapListener struct {
	net.Listener
	wrap func(net.Conn) net.Conn
}

func (l wrapListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.wrap(c), nil
}
