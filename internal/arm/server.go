package arm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/rbac"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// Validator validates bearer tokens; bearer.Validator implements it.
type Validator interface {
	Validate(ctx context.Context, raw string, audiences ...string) (cobalt.Caller, error)
}

// Directory creates and deletes the principals behind managed identities;
// login.Service implements it.
type Directory interface {
	CreateManagedIdentityPrincipal(ctx context.Context, tenantID, displayName, resourceID string) (cobalt.Principal, error)
	DeletePrincipal(ctx context.Context, objectID string) error
}

// Config configures the front door.
type Config struct {
	Store     store.Store
	Logger    *slog.Logger
	Now       func() time.Time
	Validator Validator
	Authz     *rbac.Authorizer
	Directory Directory
	// TenantID, SubscriptionID and Location are the installation's one tenant,
	// one subscription and its location (for example "eastus").
	TenantID, SubscriptionID, Location string
	// BlobEndpoint is the blob service's root URL (https://127.0.0.1:PORT);
	// a storage account's primaryEndpoints.blob is BlobEndpoint + "/" + name + "/".
	BlobEndpoint string
	// AuthorityURL is the login service's root, named in WWW-Authenticate
	// challenges (optional).
	AuthorityURL string
	// Providers are further resource providers (for example Microsoft.Batch).
	Providers []Provider
	// MaxBodyBytes limits request bodies (default 4 MiB, as ARM).
	MaxBodyBytes int64
	// OperationPoll, when positive, is how often Run renews the leases of
	// the long-running operations this process runs and takes over those
	// whose owner let its lease lapse (a replica that died). 0 is for a
	// store this process has to itself: operations a restart interrupted
	// fail at start.
	OperationPoll time.Duration
	// OperationLease is how long an operation's owner may go without
	// renewing it before another replica takes it over (0 means 15 s).
	OperationLease time.Duration
}

// Audiences are the token audiences the front door accepts.
var Audiences = []string{
	"https://management.azure.com", "https://management.azure.com/",
	"https://management.core.windows.net", "https://management.core.windows.net/",
}

// Server is the ARM front door with its built-in providers.
type Server struct {
	cfg      Config
	log      *slog.Logger
	mux      *http.ServeMux
	literals map[string]string // lower-case literal path segment -> registered spelling

	mu       sync.RWMutex
	versions map[string][]string // lower-case type -> api-versions
	cascades []CascadeFunc

	ops      *operations
	tokens   *tokenCache
	accounts *accountCache
}

// New returns a front door with the Microsoft.Resources, Microsoft.ManagedIdentity,
// Microsoft.Authorization and Microsoft.Storage providers and cfg.Providers.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Validator == nil {
		return nil, errors.New("arm: Config needs a Store and a Validator")
	}
	if cfg.SubscriptionID == "" || cfg.TenantID == "" {
		return nil, errors.New("arm: Config needs a TenantID and a SubscriptionID")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Authz == nil {
		cfg.Authz = rbac.New(rbac.Config{Store: cfg.Store, Logger: cfg.Logger, Now: cfg.Now})
	}
	if cfg.Location == "" {
		cfg.Location = "eastus"
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 4 << 20
	}
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), literals: map[string]string{},
		versions: map[string][]string{}}
	s.ops = newOperations(s)
	s.tokens = newTokenCache()
	s.accounts = &accountCache{entries: map[string]accountEntry{}}
	for _, l := range []string{"subscriptions", "resourceGroups", "providers"} {
		s.literals[strings.ToLower(l)] = l
	}
	s.mux.HandleFunc("/", s.handleNotFound)
	for _, p := range append(builtinProviders(), cfg.Providers...) {
		if err := s.Register(p); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Register adds a provider. Call it before serving requests.
func (s *Server) Register(p Provider) error {
	if err := p.Register(&Registrar{s: s}); err != nil {
		return fmt.Errorf("arm: register provider: %w", err)
	}
	return nil
}

// Handler returns the front door's HTTP handler.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Run runs background work (long-running operations) until ctx ends.
func (s *Server) Run(ctx context.Context) error { return s.ops.run(ctx) }

// Config returns the front door's configuration.
func (s *Server) Config() Config { return s.cfg }

func (s *Server) handle(rt Route) {
	method, path, ok := strings.Cut(rt.Pattern, " ")
	if !ok || !strings.HasPrefix(path, "/") {
		panic("arm: route pattern needs a method and a path: " + rt.Pattern)
	}
	// Every literal segment takes the spelling it was first registered with,
	// so that request paths, folded to that spelling, match every pattern.
	segs := strings.Split(path, "/")
	for i, seg := range segs {
		if seg == "" || strings.HasPrefix(seg, "{") {
			continue
		}
		if c, known := s.literals[strings.ToLower(seg)]; known {
			segs[i] = c
		} else {
			s.literals[strings.ToLower(seg)] = seg
		}
	}
	if rt.Type != "" {
		for _, seg := range strings.Split(rt.Type, "/") {
			if _, known := s.literals[strings.ToLower(seg)]; !known {
				s.literals[strings.ToLower(seg)] = seg
			}
		}
	}
	pattern := method + " " + strings.Join(segs, "/")
	s.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serveRoute(w, r, rt) }))
}

func (s *Server) addVersions(typ string, versions ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := strings.ToLower(typ)
	s.versions[k] = append(s.versions[k], versions...)
	sort.Strings(s.versions[k])
}

func (s *Server) addCascade(fn CascadeFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cascades = append(s.cascades, fn)
}

type ctxKey int

const (
	callerKey ctxKey = iota
	requestIDKey
)

// statusWriter records the status a handler wrote, for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// serveHTTP logs every request at debug level (never its token or body) and serves it.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.log.Enabled(r.Context(), slog.LevelDebug) {
		s.serve(w, r)
		return
	}
	start := time.Now() // elapsed time is measured on the monotonic clock, not Config.Now
	sw := &statusWriter{ResponseWriter: w}
	caller := s.serve(sw, r)
	s.log.DebugContext(r.Context(), "arm request", logkey.Method, r.Method, logkey.Path, r.URL.Path,
		logkey.APIVersion, r.URL.Query().Get("api-version"), logkey.Status, sw.status,
		logkey.RequestID, w.Header().Get("x-ms-request-id"), logkey.Caller, caller, logkey.Duration, time.Since(start))
}

// serve authenticates every request, then dispatches it. It returns the
// caller's object ID ("" when authentication failed).
func (s *Server) serve(w http.ResponseWriter, r *http.Request) string {
	reqID := newGUID()
	h := w.Header()
	h.Set("x-ms-request-id", reqID)
	corr := r.Header.Get("x-ms-correlation-request-id")
	if corr == "" || len(corr) > 128 {
		corr = reqID
	}
	h.Set("x-ms-correlation-request-id", corr)
	if c := r.Header.Get("x-ms-client-request-id"); c != "" && len(c) <= 128 {
		h.Set("x-ms-client-request-id", c)
	}
	h.Set("Cache-Control", "no-cache")
	caller, err := s.authenticate(r)
	if err != nil {
		s.challenge(w, err)
		writeError(w, r, err)
		return ""
	}
	ctx := context.WithValue(r.Context(), callerKey, caller)
	ctx = context.WithValue(ctx, requestIDKey, reqID)
	r2 := r.WithContext(ctx) // shallow: only the URL is changed, on a copy
	u := *r.URL
	u.Path, u.RawPath = s.canonicalPath(r.URL.Path), ""
	r2.URL = &u
	if op, ok := s.ops.route(r2); ok {
		s.serveRoute(w, r2, op)
		return caller.ObjectID
	}
	if ext, ok := s.authorizationRoute(r2); ok {
		s.serveRoute(w, r2, ext)
		return caller.ObjectID
	}
	s.mux.ServeHTTP(w, r2)
	return caller.ObjectID
}

// authenticate validates the bearer token of r.
func (s *Server) authenticate(r *http.Request) (cobalt.Caller, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return cobalt.Caller{}, cobalt.Errorf(cobalt.EUnauthorized, "Authentication failed. The 'Authorization' header is missing.").
			WithReason("AuthenticationFailed")
	}
	scheme, tok, ok := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return cobalt.Caller{}, cobalt.Errorf(cobalt.EUnauthorized, "Authentication failed. The 'Authorization' header is provided in an invalid format.").
			WithReason("AuthenticationFailed")
	}
	now := s.cfg.Now()
	if c, ok := s.tokens.get(tok, now); ok {
		return c, nil
	}
	c, err := s.cfg.Validator.Validate(r.Context(), tok, Audiences...)
	if err == nil && c.ObjectID != "" {
		s.tokens.put(tok, c, now)
	}
	if err != nil {
		var ce *cobalt.Error
		if errors.As(err, &ce) && ce.Code == cobalt.EUnauthorized {
			reason := ce.Reason
			if reason == "" {
				reason = "InvalidAuthenticationToken"
			}
			return cobalt.Caller{}, cobalt.Errorf(cobalt.EUnauthorized, "%s", ce.Message).WithReason(reason)
		}
		if errors.As(err, &ce) {
			return cobalt.Caller{}, err
		}
		s.log.ErrorContext(r.Context(), "token validation failed", logkey.Err, err)
		return cobalt.Caller{}, cobalt.Errorf(cobalt.EUnauthorized, "The access token is invalid.").WithReason("InvalidAuthenticationToken")
	}
	if c.ObjectID == "" {
		return cobalt.Caller{}, cobalt.Errorf(cobalt.EUnauthorized, "The access token is invalid: it names no object ID.").WithReason("InvalidAuthenticationToken")
	}
	return c, nil
}

// challenge sets the WWW-Authenticate header ARM sends with a 401.
func (s *Server) challenge(w http.ResponseWriter, err error) {
	if cobalt.ErrorCode(err) != cobalt.EUnauthorized {
		return
	}
	authority := "https://login.windows.net/"
	if s.cfg.AuthorityURL != "" {
		authority = strings.TrimSuffix(s.cfg.AuthorityURL, "/") + "/" + s.cfg.TenantID
	}
	desc := strings.ReplaceAll(cobalt.ErrorMessage(err), `"`, "'")
	w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer authorization_uri=%q, error="invalid_token", error_description=%q`, authority, desc))
}

// callerOf returns the authenticated caller stored in ctx.
func callerOf(ctx context.Context) cobalt.Caller {
	c, _ := ctx.Value(callerKey).(cobalt.Caller)
	return c
}

// serveRoute checks the api-version and authorization of a matched route and runs it.
func (s *Server) serveRoute(w http.ResponseWriter, r *http.Request, rt Route) {
	req := &Request{Request: r, Caller: callerOf(r.Context()), Route: rt, srv: s}
	req.RequestID, _ = r.Context().Value(requestIDKey).(string)
	err := func() error {
		v, err := s.checkVersion(r, rt.Type)
		if err != nil {
			return err
		}
		req.APIVersion = v
		req.ID, req.Scope, _ = scopeOf(r.URL.Path)
		if sub := req.ID.SubscriptionID; sub != "" && !strings.EqualFold(sub, s.cfg.SubscriptionID) {
			return subscriptionNotFound(sub)
		}
		if rt.Action != "" {
			if err := req.Check(rt.Action, req.Scope); err != nil {
				return err
			}
		}
		return rt.Handler(w, req)
	}()
	if err != nil {
		if cobalt.ErrorCode(err) == cobalt.EInternal {
			s.log.ErrorContext(r.Context(), "arm request failed", logkey.Method, r.Method, logkey.Path, r.URL.Path, logkey.RequestID, req.RequestID, logkey.Err, err)
		}
		writeError(w, r, err)
	}
}

// scopeOf parses a request path into the resource it names and the scope
// where the route's action is checked. A collection or action path
// (".../batchAccounts", ".../batchAccounts/a/listKeys") names the scope above
// it: trailing segments are dropped, with a "providers/{namespace}" pair,
// until the rest parses.
func scopeOf(path string) (id, scope cobalt.ResourceID, err error) {
	p := strings.TrimSuffix(path, "/")
	first := true
	for {
		if p == "" {
			return cobalt.ResourceID{}, cobalt.ResourceID{}, nil
		}
		parsed, perr := cobalt.ParseResourceID(p)
		if perr == nil {
			return parsed, parsed, nil
		}
		if first {
			err = perr
			first = false
		}
		i := strings.LastIndex(p, "/")
		p = p[:i]
		segs := strings.Split(p, "/")
		switch n := len(segs); {
		case n >= 2 && strings.EqualFold(segs[n-2], "providers"):
			p = strings.Join(segs[:n-2], "/")
		case n >= 1 && strings.EqualFold(segs[n-1], "providers"):
			p = strings.Join(segs[:n-1], "/")
		}
	}
}

// checkVersion returns the api-version of r, checked against the versions of typ.
func (s *Server) checkVersion(r *http.Request, typ string) (string, error) {
	v := r.URL.Query().Get("api-version")
	if typ == "" {
		return v, nil
	}
	if v == "" {
		return "", cobalt.Errorf(cobalt.EInvalid, "The api-version query parameter (?api-version=) is required for all requests.").
			WithReason("MissingApiVersionParameter").WithTarget("api-version")
	}
	s.mu.RLock()
	vs := s.versions[strings.ToLower(typ)]
	s.mu.RUnlock()
	for _, ok := range vs {
		if strings.EqualFold(ok, v) {
			return ok, nil
		}
	}
	list := strings.Join(vs, ", ")
	ns, rest, _ := strings.Cut(typ, "/")
	if strings.EqualFold(ns, "Microsoft.Resources") {
		return "", cobalt.Errorf(cobalt.EInvalid, "The api-version '%s' is invalid. The supported versions are '%s'.", v, list).
			WithReason("InvalidApiVersionParameter").WithTarget("api-version")
	}
	return "", cobalt.Errorf(cobalt.EInvalid,
		"No registered resource provider found for location '%s' and API version '%s' for type '%s'. The supported api-versions are '%s'. The supported locations are '%s'.",
		s.cfg.Location, v, rest, list, s.cfg.Location).WithReason("NoRegisteredProviderFound").WithTarget("api-version")
}

// handleNotFound answers paths no provider serves, as ARM does for an unknown type.
func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	p := strings.Trim(r.URL.Path, "/")
	segs := strings.Split(p, "/")
	for i := 0; i+1 < len(segs); i++ {
		if strings.EqualFold(segs[i], "providers") {
			ns := segs[i+1]
			typ := ""
			if i+2 < len(segs) {
				typ = segs[i+2]
			}
			known := false
			for k := range s.literals {
				if k == strings.ToLower(ns) {
					known = true
				}
			}
			if !known {
				writeError(w, r, cobalt.Errorf(cobalt.ENotFound, "The resource namespace '%s' is invalid.", ns).WithReason("InvalidResourceNamespace"))
				return
			}
			writeError(w, r, cobalt.Errorf(cobalt.ENotFound, "The resource type '%s' could not be found in the namespace '%s' for api version '%s'.",
				typ, ns, r.URL.Query().Get("api-version")).WithReason("InvalidResourceType"))
			return
		}
	}
	writeError(w, r, cobalt.Errorf(cobalt.ENotFound, "No HTTP resource was found that matches the request URI '%s'.", r.URL.Path).
		WithReason("NotFound"))
}

// canonicalPath folds the case of a path's literal segments to the
// registered spelling and drops a trailing slash; names keep their case.
func (s *Server) canonicalPath(p string) string {
	t := strings.Trim(p, "/")
	if t == "" {
		return "/"
	}
	segs := strings.Split(t, "/")
	lit := func(j int) {
		if c, ok := s.literals[strings.ToLower(segs[j])]; ok {
			segs[j] = c
		}
	}
	i := 0
	if strings.EqualFold(segs[0], "subscriptions") {
		lit(0)
		i = 2
		if i < len(segs) && !strings.EqualFold(segs[i], "providers") {
			lit(i) // resourceGroups, operationresults, ...
			i += 2
		}
	}
	for i < len(segs) {
		if strings.EqualFold(segs[i], "providers") {
			lit(i)
			if i+1 < len(segs) {
				lit(i + 1)
			}
			i += 2
			continue
		}
		lit(i) // a type, or a trailing action
		i += 2
	}
	return "/" + strings.Join(segs, "/")
}

// check is Request.Check.
func (s *Server) check(ctx context.Context, c cobalt.Caller, action string, scope cobalt.ResourceID) error {
	ok, err := s.cfg.Authz.Allowed(ctx, c.ObjectID, scope, action)
	if err != nil {
		return fmt.Errorf("authorize: %w", err)
	}
	if ok {
		return nil
	}
	s.cfg.Authz.RecordDenial(ctx, cobalt.Denial{Service: "arm", PrincipalID: c.ObjectID, Action: action, Scope: scope.String()})
	return cobalt.Errorf(cobalt.EForbidden,
		"The client '%s' with object id '%s' does not have authorization to perform action '%s' over scope '%s' or the scope is invalid. If access was recently granted, please refresh your credentials.",
		c.ObjectID, c.ObjectID, action, scope.String()).WithReason("AuthorizationFailed")
}

// checkLinked is Request.CheckLinked.
func (s *Server) checkLinked(ctx context.Context, c cobalt.Caller, primaryAction string, primary cobalt.ResourceID, action string, linked cobalt.ResourceID) error {
	ok, err := s.cfg.Authz.Allowed(ctx, c.ObjectID, linked, action)
	if err != nil {
		return fmt.Errorf("authorize: %w", err)
	}
	if ok {
		return nil
	}
	s.cfg.Authz.RecordDenial(ctx, cobalt.Denial{Service: "arm", PrincipalID: c.ObjectID, Action: action, Scope: linked.String()})
	return cobalt.Errorf(cobalt.EForbidden,
		"The client '%s' with object id '%s' has permission to perform action '%s' on scope '%s'; however, it does not have permission to perform action(s) '%s' on the linked scope(s) '%s' (respectively) or the linked scope(s) are invalid.",
		c.ObjectID, c.ObjectID, primaryAction, primary.String(), action, linked.String()).WithReason("LinkedAuthorizationFailed")
}

// DeleteScope deletes everything below scope: it runs every provider's
// cascade hook, then deletes the resources and role assignments stored below
// scope. It does not delete scope itself.
func (s *Server) DeleteScope(ctx context.Context, scope cobalt.ResourceID) error {
	s.mu.RLock()
	hooks := append([]CascadeFunc(nil), s.cascades...)
	s.mu.RUnlock()
	for _, h := range hooks {
		if err := h(ctx, scope); err != nil {
			return fmt.Errorf("cascade delete of %s: %w", scope, err)
		}
	}
	key := scope.Key()
	for {
		rs, _, err := s.cfg.Store.ResourceList(ctx, store.ResourceListParams{WithinKey: key, Page: store.Page{Limit: 500}})
		if err != nil {
			return err
		}
		if len(rs) == 0 {
			break
		}
		for _, res := range rs {
			if err := s.deleteStored(ctx, res); err != nil {
				return err
			}
		}
	}
	for {
		as, _, err := s.cfg.Store.RoleAssignmentList(ctx, store.RoleAssignmentListParams{BelowKey: key, Page: store.Page{Limit: 500}})
		if err != nil {
			return err
		}
		if len(as) == 0 {
			return nil
		}
		for _, a := range as {
			if _, err := s.cfg.Authz.Delete(ctx, "system", a.ID); err != nil && !cobalt.IsCode(err, cobalt.ENotFound) {
				return err
			}
		}
	}
}

// deleteStored removes one stored resource, with the side effects its type has
// (a managed identity's principal is deleted).
func (s *Server) deleteStored(ctx context.Context, res store.Resource) error {
	if res.Type == strings.ToLower(typeIdentity) {
		if err := s.deleteIdentityPrincipal(ctx, res); err != nil {
			return err
		}
	}
	if err := s.cfg.Store.ResourceDelete(ctx, res.Key); err != nil && !cobalt.IsCode(err, cobalt.ENotFound) {
		return err
	}
	if res.Type == strings.ToLower(typeStorageAccount) {
		s.accounts.clear()
	}
	return nil
}

func (s *Server) requireResourceGroup(ctx context.Context, id cobalt.ResourceID) error {
	if id.ResourceGroup == "" {
		return nil
	}
	if !strings.EqualFold(id.SubscriptionID, s.cfg.SubscriptionID) {
		return subscriptionNotFound(id.SubscriptionID)
	}
	rg := cobalt.ResourceID{SubscriptionID: id.SubscriptionID, ResourceGroup: id.ResourceGroup}
	if _, err := s.cfg.Store.ResourceGet(ctx, rg.Key()); err != nil {
		if cobalt.IsCode(err, cobalt.ENotFound) {
			return cobalt.Errorf(cobalt.ENotFound, "Resource group '%s' could not be found.", id.ResourceGroup).WithReason("ResourceGroupNotFound")
		}
		return err
	}
	return nil
}

func subscriptionNotFound(sub string) *cobalt.Error {
	return cobalt.Errorf(cobalt.ENotFound, "The subscription '%s' could not be found.", sub).WithReason("SubscriptionNotFound")
}
