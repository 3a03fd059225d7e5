package batchapi

import (
	"context"
	"crypto/rand"
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

	cobalt "github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/logkey"
)

// Account is a Batch account as the data plane needs it.
type Account struct {
	// Name is the account name.
	Name string
	// ID is the account's ARM resource ID: the RBAC scope of its data plane.
	ID string
	// Keys are the primary and secondary account keys, base64.
	Keys [2]string
	// Endpoint is the stored accountEndpoint ("127.0.0.1:PORT"), if any.
	Endpoint string
	// AuthModes are the account's allowedAuthenticationModes ("SharedKey",
	// "AAD", "TaskAuthenticationToken"); empty allows SharedKey and AAD.
	AuthModes []string
}

// allows reports whether the account accepts an authentication mode.
func (a Account) allows(mode string) bool {
	if len(a.AuthModes) == 0 {
		return true
	}
	for _, m := range a.AuthModes {
		if strings.EqualFold(m, mode) {
			return true
		}
	}
	return false
}

// Accounts looks up Batch accounts; the pools service implements it.
type Accounts interface {
	// LookupBatchAccount returns the account with the given name
	// (case-insensitive), or an ENotFound error.
	LookupBatchAccount(ctx context.Context, name string) (Account, error)
	// ListBatchAccounts returns every Batch account.
	ListBatchAccounts(ctx context.Context) ([]Account, error)
}

// Config configures the data plane.
type Config struct {
	Logger *slog.Logger
	Now    func() time.Time
	// TLS is the server TLS configuration every account listener uses.
	TLS *tls.Config
	// Host is the address listeners bind to; default 127.0.0.1.
	Host string
	// PortBase, when non-zero, is the first port tried for a new account; the
	// next free port upward is used. 0 takes a random free port.
	PortBase int
	// Accounts resolves accounts and their keys. When nil and Pools is set,
	// accounts are looked up through Pools (see AccountsFromPools) and none
	// are listed, so Run restores no listener.
	Accounts Accounts
	// Validator validates bearer tokens; nil refuses bearer authentication.
	Validator TokenValidator
	// Authz checks role assignments for bearer callers.
	Authz Authorizer
	// Denials, when set, records each request refused for want of a role
	// (*rbac.Authorizer implements it).
	Denials DenialRecorder
	// AuthorityURL and TenantID name the login service in bearer challenges.
	AuthorityURL string
	TenantID     string
	// Pools and Jobs are the services behind the operations; a nil one makes
	// its operations answer 501.
	Pools Pools
	Jobs  Jobs
	// Nodes locates node directories for the task and node file operations;
	// nil makes file operations answer 404.
	Nodes NodeDirs
}

// Service is the Batch data plane: a set of per-account HTTPS listeners.
type Service struct {
	cfg Config
	log *slog.Logger
	now func() time.Time

	cacheMu   sync.Mutex
	acctCache map[string]cachedAccount

	mu       sync.Mutex
	running  bool
	runCtx   context.Context
	byName   map[string]*accountListener
	usedPort map[int]bool
	wg       sync.WaitGroup
}

// accountListener is one account's listener.
type accountListener struct {
	name     string
	hostPort string
	ln       net.Listener
	srv      *http.Server
	serving  bool
}

// New returns a data plane service. Call Run to serve.
func New(cfg Config) (*Service, error) {
	if cfg.TLS == nil {
		return nil, errors.New("batchapi: Config.TLS is required")
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
	if cfg.Accounts == nil && cfg.Pools != nil {
		cfg.Accounts = AccountsFromPools(cfg.Pools, nil)
	}
	s := &Service{cfg: cfg, log: cfg.Logger, now: cfg.Now,
		byName: map[string]*accountListener{}, usedPort: map[int]bool{}, acctCache: map[string]cachedAccount{}}
	return s, nil
}

// AllocateAccountEndpoint opens (or returns) the listener of a Batch account
// and returns its "host:port". An account already known with a stored
// endpoint gets that port again when it is free. Safe for concurrent use.
func (s *Service) AllocateAccountEndpoint(ctx context.Context, accountName string) (string, error) {
	key := strings.ToLower(accountName)
	s.mu.Lock()
	if l, ok := s.byName[key]; ok {
		s.mu.Unlock()
		return l.hostPort, nil
	}
	s.mu.Unlock()
	preferred := ""
	if accts := s.accounts(); accts != nil {
		if a, err := accts.LookupBatchAccount(ctx, accountName); err == nil {
			preferred = a.Endpoint
		}
	}
	return s.listen(accountName, preferred)
}

// ReleaseAccountEndpoint closes the account's listener. Releasing an unknown
// account is not an error.
func (s *Service) ReleaseAccountEndpoint(ctx context.Context, accountName string) error {
	key := strings.ToLower(accountName)
	s.mu.Lock()
	l, ok := s.byName[key]
	if ok {
		delete(s.byName, key)
	}
	serving := ok && l.serving
	s.mu.Unlock()
	s.cacheMu.Lock()
	delete(s.acctCache, key)
	s.cacheMu.Unlock()
	if !ok {
		return nil
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if serving {
		if err := l.srv.Shutdown(sctx); err != nil {
			_ = l.srv.Close()
		}
	} else {
		_ = l.ln.Close()
	}
	s.mu.Lock()
	if _, port, err := net.SplitHostPort(l.hostPort); err == nil {
		if n, err := strconv.Atoi(port); err == nil {
			delete(s.usedPort, n)
		}
	}
	s.mu.Unlock()
	s.log.Info("batch account endpoint released", logkey.Account, l.name, logkey.Endpoint, l.hostPort)
	return nil
}

// Endpoint returns the account's "host:port", if it has a listener.
func (s *Service) Endpoint(accountName string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.byName[strings.ToLower(accountName)]
	if !ok {
		return "", false
	}
	return l.hostPort, true
}

// listen opens the account's listener: on preferred when it is given and
// free, else on the next free port from PortBase, else on a random port.
func (s *Service) listen(accountName, preferred string) (string, error) {
	key := strings.ToLower(accountName)
	var ln net.Listener
	var err error
	if preferred != "" {
		if ln, err = net.Listen("tcp", preferred); err != nil {
			s.log.Warn("batch account endpoint port not free; choosing another", logkey.Account, accountName,
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
			if ln, err = net.Listen("tcp", net.JoinHostPort(s.cfg.Host, strconv.Itoa(p))); err == nil {
				break
			}
			ln = nil
		}
	}
	if ln == nil {
		if ln, err = net.Listen("tcp", net.JoinHostPort(s.cfg.Host, "0")); err != nil {
			return "", fmt.Errorf("listen for batch account %s: %w", accountName, err)
		}
	}
	hostPort := ln.Addr().String()
	l := &accountListener{name: accountName, hostPort: hostPort, ln: ln}
	l.srv = &http.Server{
		Handler:           s.accountHandler(accountName),
		TLSConfig:         s.cfg.TLS.Clone(),
		ReadHeaderTimeout: 30 * time.Second,
		// A slow client cannot hold a connection: Batch request bodies
		// are small JSON documents, due in full within a minute.
		ReadTimeout:    time.Minute,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 1 << 20,
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.mu.Lock()
	if old, ok := s.byName[key]; ok {
		// Lost a race with a concurrent allocation of the same account.
		s.mu.Unlock()
		_ = ln.Close()
		return old.hostPort, nil
	}
	s.byName[key] = l
	s.usedPort[ln.Addr().(*net.TCPAddr).Port] = true
	if s.running {
		s.serveLocked(l)
	}
	s.mu.Unlock()
	s.log.Info("batch account endpoint listening", logkey.Account, accountName, logkey.Endpoint, hostPort)
	return hostPort, nil
}

// serveLocked starts serving l; s.mu is held.
func (s *Service) serveLocked(l *accountListener) {
	if l.serving {
		return
	}
	l.serving = true
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		tl := tls.NewListener(l.ln, l.srv.TLSConfig)
		if err := l.srv.Serve(tl); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("batch account listener failed", logkey.Account, l.name, logkey.Err, err)
		}
	}()
}

// Run serves every account listener until ctx is done. On start it re-opens
// the listeners of existing accounts on their stored endpoints.
func (s *Service) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return errors.New("batchapi: Run called twice")
	}
	s.running = true
	s.runCtx = ctx
	for _, l := range s.byName {
		s.serveLocked(l)
	}
	s.mu.Unlock()

	if err := s.Restore(ctx); err != nil {
		s.log.Error("restoring batch account endpoints failed", logkey.Err, err)
	}
	<-ctx.Done()

	s.mu.Lock()
	ls := make([]*accountListener, 0, len(s.byName))
	serving := make([]bool, 0, len(s.byName))
	for _, l := range s.byName {
		ls = append(ls, l)
		serving = append(serving, l.serving)
	}
	s.running = false
	s.mu.Unlock()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, l := range ls {
		if serving[i] {
			if err := l.srv.Shutdown(sctx); err != nil {
				_ = l.srv.Close()
			}
		} else {
			_ = l.ln.Close()
		}
	}
	s.wg.Wait()
	return nil
}

// Restore opens a listener for every existing account that has none, on its
// stored endpoint when that port is free. Run calls it; it is exported so a
// caller can restore before Run returns endpoints to anyone.
func (s *Service) Restore(ctx context.Context) error {
	src := s.accounts()
	if src == nil {
		return nil
	}
	accts, err := src.ListBatchAccounts(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, a := range accts {
		// An account without a stored endpoint has not been given one yet:
		// its creation allocates it.
		if _, ok := s.Endpoint(a.Name); ok || a.Endpoint == "" {
			continue
		}
		hp, err := s.listen(a.Name, a.Endpoint)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if a.Endpoint != "" && hp != a.Endpoint {
			s.log.Error("batch account endpoint moved; its stored accountEndpoint is stale",
				logkey.Account, a.Name, logkey.Previous, a.Endpoint, logkey.Endpoint, hp)
		}
	}
	return errors.Join(errs...)
}

// Handler returns the handler of one account's data plane, for tests and
// for callers that serve it themselves.
func (s *Service) Handler(accountName string) http.Handler { return s.accountHandler(accountName) }

// accountHandler serves one account's data plane.
func (s *Service) accountHandler(accountName string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := &reqCtx{s: s, w: w, r: r, requestID: newUUID()}
		h := w.Header()
		h.Set("request-id", rc.requestID)
		if crid := r.Header.Get("client-request-id"); crid != "" {
			if v := strings.ToLower(r.Header.Get("return-client-request-id")); v == "true" {
				h.Set("client-request-id", crid)
			}
		}
		h.Set("X-Content-Type-Options", "nosniff")
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("batch handler panic", logkey.Path, r.URL.Path, logkey.Panic, fmt.Sprint(p))
				rc.writeError(errors.New("panic"))
			}
		}()
		if err := rc.prepare(accountName); err != nil {
			rc.writeError(err)
			return
		}
		s.route(rc)
	})
}

// prepare resolves the account, checks the api-version and authenticates.
func (rc *reqCtx) prepare(accountName string) error {
	q, err := parseQuery(rc.r.URL.RawQuery)
	if err != nil {
		return err
	}
	rc.query = q
	src := rc.s.accounts()
	if src == nil {
		return batchError(cobalt.EInternal, codeServerBusy, "The server is starting; try again.")
	}
	acct, err := rc.s.lookupAccount(rc.r.Context(), src, accountName)
	if err != nil {
		if cobalt.IsCode(err, cobalt.ENotFound) {
			return batchError(cobalt.ENotFound, codeAccountMissing, "The specified account does not exist.")
		}
		return err
	}
	rc.account = acct
	if rc.apiVersion, err = checkAPIVersion(q); err != nil {
		return err
	}
	if err := rc.authenticate(); err != nil {
		var ce *cobalt.Error
		if errors.As(err, &ce) && ce.Reason == codeAuthFailed {
			detail := ""
			for _, d := range ce.Details {
				detail = d.Value
			}
			rc.s.log.InfoContext(rc.r.Context(), "batch request not authenticated", logkey.Account, accountName,
				logkey.Method, rc.r.Method, logkey.Path, rc.r.URL.Path, logkey.Remote, rc.r.RemoteAddr, logkey.Reason, detail)
		}
		return err
	}
	return nil
}

// accountCacheTTL is how long a looked-up account (with its keys) is reused:
// a regenerated key takes effect within it.
const accountCacheTTL = 2 * time.Second

type cachedAccount struct {
	acct    Account
	expires time.Time
}

// lookupAccount returns the account, from a short-lived cache: every request
// needs it, and the pool service finds accounts by scanning them.
func (s *Service) lookupAccount(ctx context.Context, src Accounts, name string) (Account, error) {
	key := strings.ToLower(name)
	now := s.now()
	s.cacheMu.Lock()
	c, ok := s.acctCache[key]
	s.cacheMu.Unlock()
	if ok && now.Before(c.expires) {
		return c.acct, nil
	}
	a, err := src.LookupBatchAccount(ctx, name)
	if err != nil {
		return Account{}, err
	}
	s.cacheMu.Lock()
	if len(s.acctCache) > 10000 {
		clear(s.acctCache)
	}
	s.acctCache[key] = cachedAccount{acct: a, expires: now.Add(accountCacheTTL)}
	s.cacheMu.Unlock()
	return a, nil
}

// newUUID returns a random RFC 4122 version 4 UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
