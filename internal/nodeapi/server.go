package nodeapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/batch"
	"github.com/cobaltbatch/cobalt/internal/errwire"
	"github.com/cobaltbatch/cobalt/internal/login"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// terminatePrefix starts the heartbeat command that stops one task lease.
const terminatePrefix = "terminate:"

// TokenIssuer issues access tokens for principals (login.Service implements
// it). ENotFound when the principal is gone or disabled.
type TokenIssuer interface {
	IssueToken(ctx context.Context, req login.IssueRequest) (login.Token, error)
}

// Dispatcher serves task leases and reports to nodes and requeues the tasks
// of a node whose agent restarted (jobs.Service implements it). Lease may
// block up to wait; ReportAndLease applies a node's reports in the
// transaction of the claim for its free slots (0: none) that follows them,
// returning each report's error, the leases and the claim's error; all
// methods are safe for concurrent use.
type Dispatcher interface {
	Lease(ctx context.Context, node cobalt.NodeRef, freeSlots int, wait time.Duration) ([]nodeproto.TaskLease, error)
	Report(ctx context.Context, node cobalt.NodeRef, r nodeproto.ReportRequest) error
	ReportAndLease(ctx context.Context, node cobalt.NodeRef, rs []nodeproto.ReportRequest, freeSlots int) ([]error, []nodeproto.TaskLease, error)
	NodeLost(ctx context.Context, node cobalt.NodeRef) error
}

// Config configures the node API.
type Config struct {
	Pools *batch.Service
	// Dispatcher serves leases and reports (the jobs service); nil answers
	// leases with no work and refuses reports.
	Dispatcher Dispatcher
	Tokens     TokenIssuer
	// Identities checks that an identity still exists (arm.Server.LookupIdentity).
	Identities batch.IdentityLookup
	Logger     *slog.Logger
	// MaxBody limits request bodies (default 1 MiB).
	MaxBody int64
}

// Server is the node API.
type Server struct {
	cfg   Config
	mux   *http.ServeMux
	watch *schedWatch
}

// New returns a node API server.
func New(cfg Config) (*Server, error) {
	if cfg.Pools == nil {
		return nil, errors.New("nodeapi: a pool service is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 1 << 20
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), watch: newSchedWatch(cfg.Pools, schedulableCheckInterval)}
	// Heartbeats, leases and task reports, a fleet's steady traffic,
	// authenticate from the cache of verified nodes
	// (batch.NodeAuthenticateHeartbeat and NodeAuthenticateCached: a
	// heartbeat's write and a lease that finds work check the node against
	// the store). A report changes only a task whose current lease the node
	// holds, and a node's removal or reimage requeues its tasks (ending
	// their leases), so a report answered from the cache acts for the node
	// for NodeAuthCacheTTL at most after its credential was cleared. The
	// others (register, tokens) read the node.
	pools := cfg.Pools
	s.mux.HandleFunc("POST "+nodeproto.PathRegister, route(s, s.handleRegister, func(r *nodeproto.RegisterRequest) string { return r.NodeID }, pools.NodeAuthenticate))
	s.mux.HandleFunc("POST "+nodeproto.PathHeartbeat, route(s, s.handleHeartbeat, func(r *nodeproto.HeartbeatRequest) string { return r.NodeID }, pools.NodeAuthenticateHeartbeat))
	s.mux.HandleFunc("POST "+nodeproto.PathLease, route(s, s.handleLease, func(r *nodeproto.LeaseRequest) string { return r.NodeID }, pools.NodeAuthenticateCached))
	s.mux.HandleFunc("POST "+nodeproto.PathReport, route(s, s.handleReport, func(r *nodeproto.ReportRequest) string { return r.NodeID }, pools.NodeAuthenticateCached))
	s.mux.HandleFunc("POST "+nodeproto.PathReports, route(s, s.handleReports, func(r *nodeproto.ReportsRequest) string { return r.NodeID }, pools.NodeAuthenticateCached))
	s.mux.HandleFunc("POST "+nodeproto.PathToken, route(s, s.handleToken, func(r *nodeproto.TokenRequest) string { return r.NodeID }, pools.NodeAuthenticate))
	return s, nil
}

// Handler returns the HTTP handler (serve it over HTTPS).
func (s *Server) Handler() http.Handler { return s.mux }

// route returns the HTTP handler of one call: it authenticates the
// request's credential, decodes its body (once: a fleet's heartbeats and
// leases spent more on a second decode that read only the node's ID than on
// the request's own), refuses a request that names another node than its
// credential, then answers with fn.
func route[T any](s *Server, fn func(ctx context.Context, n *batch.Node, req *T) (any, error), nodeID func(*T) string,
	auth func(ctx context.Context, credential string) (*batch.Node, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		cred, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || cred == "" {
			writeErr(w, cobalt.Errorf(cobalt.EUnauthorized, "A node credential is required.").WithReason(errwire.ReasonUnauthorized))
			return
		}
		n, err := auth(r.Context(), cred)
		if err != nil {
			writeErr(w, err)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody))
		if err != nil {
			writeErr(w, cobalt.Errorf(cobalt.ETooLarge, "The request body is too large.").WithReason(errwire.ReasonInvalidRequest))
			return
		}
		req := new(T)
		if err := decode(body, req); err != nil {
			writeErr(w, err)
			return
		}
		if id := nodeID(req); id != "" && id != n.ID {
			writeErr(w, cobalt.Errorf(cobalt.EForbidden, "The request names another node than its credential.").WithReason("Forbidden"))
			return
		}
		out, err := fn(r.Context(), n, req)
		if err != nil {
			if cobalt.ErrorCode(err) == cobalt.EInternal {
				s.cfg.Logger.Error("node api request failed", logkey.Node, n.ID, logkey.Path, r.URL.Path, logkey.Err, err)
			}
			writeErr(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	}
}

// decode reads a request body into v.
func decode(body []byte, v any) error {
	err := json.Unmarshal(body, v)
	var syntax *json.SyntaxError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &syntax):
		return cobalt.Errorf(cobalt.EInvalid, "The request body is not valid JSON.").WithReason(errwire.ReasonInvalidRequest)
	default:
		return cobalt.Errorf(cobalt.EInvalid, "The request body is not valid: %s.", err.Error()).WithReason(errwire.ReasonInvalidRequest)
	}
}

func writeErr(w http.ResponseWriter, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(errwire.StatusOf(err))
	_ = json.NewEncoder(w).Encode(protoError(err))
}

// protoError is err as the node protocol writes it: its reason, or else its
// code, and its message.
func protoError(err error) nodeproto.Error {
	code := cobalt.ErrorReason(err)
	if code == "" {
		code = string(cobalt.ErrorCode(err))
	}
	return nodeproto.Error{Code: code, Message: cobalt.ErrorMessage(err)}
}

func (s *Server) handleRegister(ctx context.Context, n *batch.Node, in *nodeproto.RegisterRequest) (any, error) {
	req := *in
	cfg, err := s.cfg.Pools.NodeRegister(ctx, n, req)
	if err != nil {
		return nil, err
	}
	// A registering agent has just started (a restarted or rebooted node):
	// it runs no task, so the tasks leased to the node are requeued now, as
	// for a lost node, rather than when their leases time out.
	if s.cfg.Dispatcher != nil {
		if err := s.cfg.Dispatcher.NodeLost(ctx, n.Ref()); err != nil {
			return nil, err
		}
	}
	return nodeproto.RegisterResponse{Config: cfg}, nil
}

// LeaseReconciler is the optional part of a Dispatcher the heartbeat uses:
// given the leases a node runs, it returns those the node must stop (their
// tasks were terminated, deleted or requeued) and requeues the tasks leased
// to the node that it does not run (jobs.Service.Reconcile).
type LeaseReconciler interface {
	Reconcile(ctx context.Context, node cobalt.NodeRef, runningLeases []string) ([]string, error)
}

func (s *Server) handleHeartbeat(ctx context.Context, n *batch.Node, in *nodeproto.HeartbeatRequest) (any, error) {
	req := *in
	cmds, err := s.cfg.Pools.NodeHeartbeat(ctx, n, req)
	if err != nil {
		return nil, err
	}
	if rc, ok := s.cfg.Dispatcher.(LeaseReconciler); ok && !slices.Contains(cmds, "remove") {
		stop, err := rc.Reconcile(ctx, n.Ref(), req.RunningLeases)
		if err != nil {
			// The node's state is recorded; the next heartbeat reconciles.
			s.cfg.Logger.Warn("reconcile the leases of a node", logkey.Node, n.ID, logkey.Err, err)
		}
		for _, l := range stop {
			cmds = append(cmds, terminatePrefix+l)
		}
	}
	// The node's users as they are now (n was read when the request was
	// authenticated; a change since reaches the node at its next heartbeat).
	resp := nodeproto.HeartbeatResponse{Commands: cmds, Users: n.Users, LogUploads: n.LogUploads}
	if jr, ok := s.cfg.Dispatcher.(JobReleaser); ok && !slices.Contains(cmds, "remove") {
		rel, err := jr.JobReleases(ctx, n.Ref())
		if err != nil {
			s.cfg.Logger.Warn("list the job release tasks of a node", logkey.Node, n.ID, logkey.Err, err)
		}
		resp.JobReleases = rel
	}
	return resp, nil
}

// JobReleaser is the optional part of a Dispatcher that gives a node, with
// each heartbeat, the release tasks of ended jobs it must run
// (jobs.Service.JobReleases).
type JobReleaser interface {
	JobReleases(ctx context.Context, node cobalt.NodeRef) ([]nodeproto.JobTask, error)
}

func (s *Server) handleLease(ctx context.Context, n *batch.Node, in *nodeproto.LeaseRequest) (any, error) {
	req := *in
	if req.FreeSlots < 0 || req.WaitSeconds < 0 || req.WaitSeconds > 60 {
		return nil, cobalt.Errorf(cobalt.EInvalid, "freeSlots must not be negative and waitSeconds must be between 0 and 60.").WithReason(errwire.ReasonInvalidRequest)
	}
	return s.lease(ctx, n, req)
}

// lease answers a valid lease request of node n.
func (s *Server) lease(ctx context.Context, n *batch.Node, req nodeproto.LeaseRequest) (nodeproto.LeaseResponse, error) {
	if s.cfg.Dispatcher == nil || req.FreeSlots == 0 {
		return nodeproto.LeaseResponse{Leases: []nodeproto.TaskLease{}}, nil
	}
	n, ok, err := s.leasable(ctx, n, req.WaitSeconds)
	if err != nil {
		return nodeproto.LeaseResponse{}, err
	}
	if !ok {
		return nodeproto.LeaseResponse{Leases: []nodeproto.TaskLease{}}, nil
	}
	// While the lease long-polls, the node may stop taking work (scheduling
	// disabled, leaving the pool): the wait ends then, so no task is placed on
	// it afterwards. A lease that does not wait was checked above.
	leaseCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if req.WaitSeconds > 0 {
		defer s.watch.add(n, cancel)()
	}
	ls, err := s.cfg.Dispatcher.Lease(leaseCtx, n.Ref(), req.FreeSlots, time.Duration(req.WaitSeconds)*time.Second)
	if err != nil {
		if ctx.Err() == nil && errors.Is(context.Cause(leaseCtx), errUnschedulable) {
			return nodeproto.LeaseResponse{Leases: []nodeproto.TaskLease{}}, nil
		}
		return nodeproto.LeaseResponse{}, err
	}
	if ls == nil {
		ls = []nodeproto.TaskLease{}
	}
	return nodeproto.LeaseResponse{Leases: ls}, nil
}

// leasable returns the node as a lease may give it work now (fresh from
// the store when its record came from the credential cache) and whether it
// may: the node takes tasks and, for a lease that does not wait, its pool
// has some.
func (s *Server) leasable(ctx context.Context, n *batch.Node, waitSeconds int) (*batch.Node, bool, error) {
	if !n.Schedulable() {
		return n, false, nil
	}
	if !n.Cached() {
		return n, true, nil
	}
	// Whether the pool has work is all a lease that does not wait needs to
	// know to answer "none", whatever became of the node; one that may
	// take a task checks the node against the store first.
	if q, ok := s.cfg.Dispatcher.(Queuer); ok && waitSeconds == 0 {
		has, err := q.Queued(ctx, n.Ref())
		if err != nil || !has {
			return n, false, err
		}
	}
	fresh, err := s.cfg.Pools.NodeRevalidate(ctx, n)
	if err != nil {
		return n, false, err
	}
	return fresh, fresh.Schedulable(), nil
}

// Queuer is the optional part of a Dispatcher that tells whether the
// node's pool has work a lease could take (jobs.Service.Queued).
type Queuer interface {
	Queued(ctx context.Context, node cobalt.NodeRef) (bool, error)
}

// errUnschedulable ends a lease wait whose node stopped taking work.
var errUnschedulable = errors.New("the node no longer takes tasks")

func (s *Server) handleReport(ctx context.Context, n *batch.Node, in *nodeproto.ReportRequest) (any, error) {
	req := *in
	if s.cfg.Dispatcher == nil {
		return nil, cobalt.Errorf(cobalt.EConflict, "No task dispatcher is configured.").WithReason("NoDispatcher")
	}
	if c, ok := s.cfg.Dispatcher.(coordinator); ok && req.Event == nodeproto.EventCoordinated {
		proceed, err := c.ReportInstance(ctx, n.Ref(), req)
		if err != nil {
			return nil, err
		}
		return nodeproto.ReportResponse{Proceed: proceed}, nil
	}
	if err := s.cfg.Dispatcher.Report(ctx, n.Ref(), req); err != nil {
		return nil, err
	}
	return nodeproto.ReportResponse{}, nil
}

// coordinator is a Dispatcher that runs multi-instance tasks (the jobs
// service): it answers an instance's coordination report with whether the
// primary may proceed.
type coordinator interface {
	ReportInstance(ctx context.Context, node cobalt.NodeRef, r nodeproto.ReportRequest) (bool, error)
}

func identityNotFound() error {
	return cobalt.Errorf(cobalt.EInvalid, "Identity not found").WithReason("IdentityNotFound")
}

// SelectIdentity picks the identity a token request names from the node's
// snapshot, by the rules in the package documentation.
func SelectIdentity(snapshot []cobalt.UserAssignedIdentity, req nodeproto.TokenRequest) (cobalt.UserAssignedIdentity, error) {
	set := 0
	for _, v := range []string{req.ClientID, req.ObjectID, req.ResourceID} {
		if v != "" {
			set++
		}
	}
	switch {
	case set > 1:
		return cobalt.UserAssignedIdentity{}, cobalt.Errorf(cobalt.EInvalid, "Only one of client_id, object_id and msi_res_id may be given.").WithReason(errwire.ReasonInvalidRequest)
	case set == 0 && len(snapshot) == 1:
		return snapshot[0], nil
	case set == 0 && len(snapshot) == 0:
		return cobalt.UserAssignedIdentity{}, identityNotFound()
	case set == 0:
		return cobalt.UserAssignedIdentity{}, cobalt.Errorf(cobalt.EInvalid,
			"Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request").WithReason("MultipleIdentities")
	}
	for _, i := range snapshot {
		switch {
		case req.ClientID != "" && strings.EqualFold(i.ClientID, req.ClientID),
			req.ObjectID != "" && strings.EqualFold(i.PrincipalID, req.ObjectID),
			req.ResourceID != "" && strings.EqualFold(strings.TrimSuffix(i.ResourceID, "/"), strings.TrimSuffix(req.ResourceID, "/")):
			return i, nil
		}
	}
	return cobalt.UserAssignedIdentity{}, identityNotFound()
}

func (s *Server) handleToken(ctx context.Context, n *batch.Node, in *nodeproto.TokenRequest) (any, error) {
	req := *in
	if strings.TrimSpace(req.Resource) == "" {
		return nil, cobalt.Errorf(cobalt.EInvalid, "Required audience parameter not specified").WithReason("MissingResource")
	}
	id, err := SelectIdentity(n.Identities, req)
	if err != nil {
		return nil, err
	}
	if s.cfg.Identities != nil {
		pr, err := s.cfg.Identities.LookupIdentity(ctx, id.ResourceID)
		if cobalt.IsCode(err, cobalt.ENotFound) {
			return nil, identityNotFound()
		}
		if err != nil {
			return nil, err
		}
		if !strings.EqualFold(pr.ObjectID, id.PrincipalID) {
			// The identity was deleted and re-created: another principal.
			return nil, identityNotFound()
		}
	}
	if s.cfg.Tokens == nil {
		return nil, cobalt.Errorf(cobalt.EInternal, "no token issuer is configured")
	}
	audit := map[string]string{"node": n.ID, "pool": n.PoolID}
	if req.TaskID != "" {
		audit["task"] = req.TaskID
	}
	tok, err := s.cfg.Tokens.IssueToken(ctx, login.IssueRequest{ObjectID: id.PrincipalID, Resource: req.Resource, Audit: audit})
	if cobalt.IsCode(err, cobalt.ENotFound) {
		return nil, identityNotFound()
	}
	if err != nil {
		return nil, err
	}
	return nodeproto.TokenResponse{AccessToken: tok.AccessToken, ExpiresOn: tok.ExpiresAt, NotBefore: tok.NotBefore, IssuedAt: tok.IssuedAt,
		Resource: req.Resource, Identity: nodeproto.Identity{ResourceID: id.ResourceID, ClientID: id.ClientID, PrincipalID: id.PrincipalID}}, nil
}
