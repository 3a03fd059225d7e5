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
	"strings"
	"sync"
	"time"

	cobalt "github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/listenset"
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
	// Host is the public address endpoints name; listeners accept on it and
	// on 127.0.0.1 (internal/publicaddr). Default 127.0.0.1.
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
	Nodes NodeFiles
	// Poll, when positive, is how often Run opens the listeners of accounts
	// that other replicas created and closes those of accounts they deleted.
	Poll time.Duration
}

// Service is the Batch data plane: a set of per-account HTTPS listeners.
type Service struct {
	cfg Config
	log *slog.Logger
	now func() time.Time

	cacheMu   sync.Mutex
	acctCache map[string]cachedAccount

	// listeners are the accounts' own HTTPS listeners.
	listeners *listenset.Set
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
	s := &Service{cfg: cfg, log: cfg.Logger, now: cfg.Now, acctCache: map[string]cachedAccount{}}
	s.listeners = listenset.New(listenset.Config{TLS: cfg.TLS, Host: cfg.Host, PortBase: cfg.PortBase,
		Kind: "batch account", NameKey: logkey.Account, Logger: cfg.Logger,
		Server: func(name, _ string) *http.Server {
			return &http.Server{
				Handler:           s.accountHandler(name),
				ReadHeaderTimeout: 30 * time.Second,
				// A slow client cannot hold a connection: Batch request bodies
				// are small JSON documents, due in full within a minute.
				ReadTimeout:    time.Minute,
				IdleTimeout:    2 * time.Minute,
				MaxHeaderBytes: 1 << 20,
			}
		}})
	return s, nil
}

// AllocateAccountEndpoint opens (or returns) the listener of a Batch account
// and returns its "host:port". An account already known with a stored
// endpoint gets that port again when it is free. Safe for concurrent use.
func (s *Service) AllocateAccountEndpoint(ctx context.Context, accountName string) (string, error) {
	if hp, ok := s.listeners.Endpoint(accountName); ok {
		return hp, nil
	}
	preferred := ""
	if accts := s.accounts(); accts != nil {
		if a, err := accts.LookupBatchAccount(ctx, accountName); err == nil {
			preferred = a.Endpoint
		}
	}
	return s.listeners.Open(accountName, preferred)
}

// ReleaseAccountEndpoint closes the account's listener. Releasing an unknown
// account is not an error.
func (s *Service) ReleaseAccountEndpoint(ctx context.Context, accountName string) error {
	s.cacheMu.Lock()
	delete(s.acctCache, strings.ToLower(accountName))
	s.cacheMu.Unlock()
	s.listeners.Close(ctx, accountName)
	return nil
}

// Endpoint returns the account's "host:port", if it has a listener.
func (s *Service) Endpoint(accountName string) (string, bool) {
	return s.listeners.Endpoint(accountName)
}

// Run serves every account listener until ctx is done. On start it re-opens
// the listeners of existing accounts on their stored endpoints.
func (s *Service) Run(ctx context.Context) error {
	if err := s.listeners.Start(); err != nil {
		return err
	}
	if err := s.Restore(ctx); err != nil {
		s.log.Error("restoring batch account endpoints failed", logkey.Err, err)
	}
	var tick <-chan time.Time
	if s.cfg.Poll > 0 {
		t := time.NewTicker(s.cfg.Poll)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			s.listeners.Stop()
			return nil
		case <-tick:
			if err := s.Sync(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("syncing batch account endpoints failed", logkey.Err, err)
			}
		}
	}
}

// Sync makes the listeners match the stored accounts: it opens those of
// accounts another replica created (Restore) and closes those of accounts
// that are gone.
func (s *Service) Sync(ctx context.Context) error {
	src := s.accounts()
	if src == nil {
		return nil
	}
	accts, err := src.ListBatchAccounts(ctx)
	if err != nil {
		return err
	}
	live := map[string]bool{}
	for _, a := range accts {
		live[strings.ToLower(a.Name)] = true
	}
	for _, name := range s.listeners.Names() {
		if !live[name] {
			// Gone from the store: deleted, or its creation not yet
			// recorded. Look again before closing.
			if _, err := src.LookupBatchAccount(ctx, name); cobalt.IsCode(err, cobalt.ENotFound) {
				_ = s.ReleaseAccountEndpoint(ctx, name)
			}
		}
	}
	return s.Restore(ctx)
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
		if a.Endpoint == "" {
			continue
		}
		if _, ok := s.Endpoint(a.Name); ok {
			// Opened elsewhere because another replica held the stored
			// port: take the port when that replica has let it go.
			s.listeners.Reclaim(ctx, a.Name, a.Endpoint)
			continue
		}
		hp, err := s.listeners.Open(a.Name, a.Endpoint)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if a.Endpoint != "" && port(hp) != port(a.Endpoint) {
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

// port returns the port of a "host:port".
func port(hostPort string) string {
	_, p, _ := net.SplitHostPort(hostPort)
	return p
}
