package blob

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// TokenValidator validates a bearer token for one of the audiences
// (bearer.Validator implements it). Failures are EUnauthorized *cobalt.Error
// values whose message says why.
type TokenValidator interface {
	Validate(ctx context.Context, raw string, audiences ...string) (cobalt.Caller, error)
}

// Authorizer answers RBAC questions (rbac.Authorizer implements it): Allowed
// for control actions such as containers/write, AllowedData for data actions
// such as containers/blobs/read, each at scope or any scope above it.
type Authorizer interface {
	Allowed(ctx context.Context, principalID string, scope cobalt.ResourceID, action string) (bool, error)
	AllowedData(ctx context.Context, principalID string, scope cobalt.ResourceID, dataAction string) (bool, error)
}

// Accounts finds storage accounts by name, or returns ENotFound. The
// management plane implements it.
type Accounts interface {
	LookupStorageAccount(ctx context.Context, name string) (cobalt.StorageAccount, error)
}

// Config configures the blob service.
type Config struct {
	Store  store.BlobStore
	Logger *slog.Logger
	Now    func() time.Time
	// DataDir is the installation's data directory; blob bytes go under DataDir/blobs.
	DataDir   string
	Validator TokenValidator
	Authz     Authorizer
	// Denials, when set, records each request refused for want of a role
	// (*rbac.Authorizer implements it).
	Denials  DenialRecorder
	Accounts Accounts
	// Endpoint is the service's base URL (https://host:port, no trailing
	// slash), as storage accounts publish it. A bearer token's audience may be
	// an account's URL under it; the request's Host header plays no part.
	Endpoint string
	// TenantID and AuthorityURL (https://host:port, no trailing slash) name the
	// login service in the WWW-Authenticate challenge.
	TenantID     string
	AuthorityURL string
	// BlockRetention is how long uncommitted blocks are kept (0 = 7 days, as Azure).
	BlockRetention time.Duration
	// GCInterval is how often Run collects expired blocks and orphaned files (0 = 1 hour).
	GCInterval time.Duration
	// SharedFiles says that other processes (replicas) write into DataDir
	// too: files they are writing now may predate this process, so the
	// collection at start spares files younger than GCInterval, as every
	// later one does.
	SharedFiles bool
}

// Service is the blob service.
type Service struct {
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	files *fileStore
	// started is the wall-clock time the service started; see fileCutoff.
	started time.Time
	etagSeq atomic.Int64
}

// Storage data actions and container actions.
const (
	actBlobRead       = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"
	actBlobWrite      = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write"
	actBlobDelete     = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete"
	actBlobAdd        = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action"
	actContainerRead  = "Microsoft.Storage/storageAccounts/blobServices/containers/read"
	actContainerWrite = "Microsoft.Storage/storageAccounts/blobServices/containers/write"
	actContainerDel   = "Microsoft.Storage/storageAccounts/blobServices/containers/delete"
	actTagsRead       = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/tags/read"
	actTagsWrite      = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/tags/write"
	actBlobFilter     = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/filter/action"
	actServiceRead    = "Microsoft.Storage/storageAccounts/blobServices/read"
	actServiceWrite   = "Microsoft.Storage/storageAccounts/blobServices/write"
)

// storageAppID is the Azure Storage resource application ID, an accepted token audience.
const storageAppID = "e406a681-f3d4-42a8-90b6-c2b029497af1"

// serviceVersion is the x-ms-version this service answers with when the request names none.
const serviceVersion = "2026-12-06"

// New returns the service; it prepares DataDir/blobs.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Accounts == nil || cfg.DataDir == "" {
		return nil, fmt.Errorf("blob: Store, Accounts and DataDir are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.BlockRetention <= 0 {
		cfg.BlockRetention = 7 * 24 * time.Hour
	}
	if cfg.GCInterval <= 0 {
		cfg.GCInterval = time.Hour
	}
	fs, err := newFileStore(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, log: cfg.Logger, now: cfg.Now, files: fs, started: fileCutoff(0)}
	if cfg.SharedFiles {
		s.started = fileCutoff(cfg.GCInterval)
	}
	return s, nil
}

// Handler returns the HTTP handler of the Blob REST API, path style.
func (s *Service) Handler() http.Handler { return http.HandlerFunc(s.serve) }

// newETag returns a fresh entity tag (without quotes), increasing within the process.
func (s *Service) newETag() string {
	n := s.now().UnixNano()/100 + 0x8D000000000000
	for {
		old := s.etagSeq.Load()
		if n <= old {
			n = old + 1
		}
		if s.etagSeq.CompareAndSwap(old, n) {
			return "0x" + strconv.FormatInt(n, 16)
		}
	}
}

func requestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// request is one API call being served.
type request struct {
	w       http.ResponseWriter
	r       *http.Request
	q       url.Values
	t       target
	op      *op
	version string
	acctID  cobalt.ResourceID
	keys    [][]byte
	caller  cobalt.Caller
	sas     *sasToken
	// createOnly is set when the credential may only create a new blob.
	createOnly bool
	// anonymous is set when the request carries no credential; only public
	// reads are then allowed.
	anonymous bool
	// batchVersion is the x-ms-version of the batch a subrequest belongs to.
	batchVersion string
}

func (s *Service) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("x-ms-request-id", requestID())
	h.Set("Server", "Cobalt-Blob/1.0")
	if id := r.Header.Get("x-ms-client-request-id"); id != "" {
		h.Set("x-ms-client-request-id", id)
	}
	h.Set("Date", httpDate(s.now()))
	s.serveRequest(&request{w: w, r: r})
}

// serveRequest serves one request (or one batch subrequest) and writes its error.
func (s *Service) serveRequest(req *request) {
	w, r, h := req.w, req.r, req.w.Header()
	if err := s.handle(req); err != nil {
		if req.version != "" {
			h.Set("x-ms-version", req.version)
		}
		s.writeError(w, r, err)
	}
}

func (s *Service) handle(req *request) error {
	r := req.r
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return apiErr(cobalt.EInvalid, codeInvalidQuery, "The query string is not well formed.")
	}
	req.q = q
	req.version = r.Header.Get("x-ms-version")
	if req.version == "" {
		req.version = req.batchVersion
	}
	if req.version != "" && !validVersion(req.version) {
		v := req.version
		req.version = serviceVersion
		return apiErr(cobalt.EInvalid, codeInvalidHeader, "The value for one of the HTTP headers is not in the correct format: x-ms-version %q.", v).WithTarget("x-ms-version")
	}
	t, err := parsePath(r.URL.Path)
	if err != nil {
		return err
	}
	req.t = t
	o, err := resolveOp(r.Method, t, q)
	if err != nil {
		return err
	}
	req.op = o
	if err := s.authenticate(req); err != nil {
		return err
	}
	if req.version == "" {
		req.version = serviceVersion
		if req.sas != nil {
			req.version = req.sas.Version
		}
	}
	req.w.Header().Set("x-ms-version", req.version)
	if err := s.authorize(req); err != nil {
		return err
	}
	return o.fn(s, req)
}

// validVersion accepts a service version date from 2009-09-19 on.
func validVersion(v string) bool {
	if len(v) != 10 {
		return false
	}
	if _, err := time.Parse("2006-01-02", v); err != nil {
		return false
	}
	return v >= "2009-09-19"
}

// authenticate establishes the caller from a bearer token, a shared key or a SAS.
func (s *Service) authenticate(req *request) error {
	r := req.r
	ctx := r.Context()
	sa, err := s.cfg.Accounts.LookupStorageAccount(ctx, req.t.Account)
	if err != nil {
		if cobalt.IsCode(err, cobalt.ENotFound) {
			return apiErr(cobalt.ENotFound, codeResourceNotFound, "The specified resource does not exist.")
		}
		return fmt.Errorf("look up storage account: %w", err)
	}
	req.acctID = sa.ID
	for _, k := range sa.Keys {
		if b, err := base64.StdEncoding.DecodeString(k); err == nil && len(b) > 0 {
			req.keys = append(req.keys, b)
		}
	}
	authz := r.Header.Get("Authorization")
	switch {
	case authz != "":
		scheme, rest, _ := cutSpace(authz)
		switch scheme {
		case "Bearer":
			return s.authBearer(req, rest)
		case "SharedKey":
			if !sa.SharedKeyAccess {
				return keyAuthNotPermitted()
			}
			acct, sig, err := parseSharedKey(authz)
			if err != nil {
				return err
			}
			if err := checkRequestDate(r.Header, s.now()); err != nil {
				return err
			}
			if acct != req.t.Account || !verifySharedKey(r, acct, req.keys, sig) {
				return authFailed("The MAC signature found in the HTTP request is not the same as any computed signature.")
			}
			req.caller = cobalt.Caller{SharedKeyAccount: acct}
			return nil
		default:
			return badAuthHeader()
		}
	default:
		tok, ok, err := parseSAS(req.q)
		if err != nil {
			return err
		}
		if !ok {
			req.anonymous = true
			return nil
		}
		if tok.UD == nil && !sa.SharedKeyAccess {
			return keyAuthNotPermitted()
		}
		if tok.Identifier != "" {
			if err := s.loadPolicy(req, tok); err != nil {
				return err
			}
		}
		if err := tok.verify(r, req.t, req.keys, s.now()); err != nil {
			return err
		}
		req.sas = tok
		return nil
	}
}

func cutSpace(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func (s *Service) authBearer(req *request, raw string) error {
	if req.version == "" || req.version < "2017-11-09" {
		return authFailed("Authentication scheme Bearer is not supported in this version.")
	}
	if raw == "" || s.cfg.Validator == nil {
		return apiErr(cobalt.EUnauthorized, codeInvalidAuthInfo, "Server failed to authenticate the request. Please refer to the information in the www-authenticate header.")
	}
	// The audiences are fixed by configuration: a token for another
	// service's URL must not pass because the request named that host.
	audiences := []string{"https://storage.azure.com", storageAppID, "https://" + req.t.Account + ".blob.core.windows.net"}
	if s.cfg.Endpoint != "" {
		audiences = append(audiences, strings.TrimSuffix(s.cfg.Endpoint, "/")+"/"+req.t.Account)
	}
	caller, err := s.cfg.Validator.Validate(req.r.Context(), raw, audiences...)
	if err != nil {
		if cobalt.IsCode(err, cobalt.EUnauthorized) || cobalt.IsCode(err, cobalt.EInvalid) {
			return &authDetailError{apiErr(cobalt.EUnauthorized, codeInvalidAuthInfo,
				"Server failed to authenticate the request. Please refer to the information in the www-authenticate header."), cobalt.ErrorMessage(err)}
		}
		return fmt.Errorf("validate token: %w", err)
	}
	if caller.ObjectID == "" {
		return &authDetailError{apiErr(cobalt.EUnauthorized, codeInvalidAuthInfo,
			"Server failed to authenticate the request. Please refer to the information in the www-authenticate header."), "The token has no object ID."}
	}
	req.caller = caller
	return nil
}

// keyAuthNotPermitted is Azure's answer to a key-signed request on an
// account whose allowSharedKeyAccess is false.
func keyAuthNotPermitted() error {
	return apiErr(cobalt.EForbidden, codeKeyAuthNotPermitted, "Key based authentication is not permitted on this storage account.")
}

func permissionMismatch() error {
	return apiErr(cobalt.EForbidden, codePermissionMismatch, "This request is not authorized to perform this operation using this permission.")
}

// scope returns the RBAC scope of the request: the container, or the account's blob service.
func (req *request) scope() cobalt.ResourceID {
	id := req.acctID
	id.Types = append(append([]string(nil), id.Types...), "blobServices")
	id.Names = append(append([]string(nil), id.Names...), "default")
	if req.t.Container != "" {
		id.Types = append(id.Types, "containers")
		id.Names = append(id.Names, req.t.Container)
	}
	return id
}

// authorize checks the authenticated caller's right to the operation.
func (s *Service) authorize(req *request) error {
	o := req.op
	switch {
	case req.anonymous:
		return s.authorizeAnonymous(req)
	case req.caller.SharedKeyAccount != "":
		return nil
	case o.batch:
		return nil // each subrequest is authorized on its own
	case o.keyOnly:
		return permissionMismatch()
	case req.sas != nil:
		full, createOnly, err := req.sas.allows(o, req.t)
		if err != nil {
			return err
		}
		if !full && !createOnly {
			return permissionMismatch()
		}
		req.createOnly = !full
		if req.sas.UD == nil {
			return nil
		}
		// A user delegation SAS carries its delegator's rights, as they are now.
		return s.authorizeRBAC(req, req.sas.UD.OID)
	}
	return s.authorizeRBAC(req, req.caller.ObjectID)
}

// authorizeRBAC checks the principal's role assignments for the operation.
func (s *Service) authorizeRBAC(req *request, oid string) error {
	o := req.op
	if s.cfg.Authz == nil {
		return permissionMismatch()
	}
	ctx, scope := req.r.Context(), req.scope()
	check := s.cfg.Authz.AllowedData
	if !o.data {
		check = s.cfg.Authz.Allowed
	}
	ok, err := check(ctx, oid, scope, o.action)
	if err != nil {
		return fmt.Errorf("authorize: %w", err)
	}
	if ok {
		return nil
	}
	if o.addAction {
		ok, err := s.cfg.Authz.AllowedData(ctx, oid, scope, actBlobAdd)
		if err != nil {
			return fmt.Errorf("authorize: %w", err)
		}
		if ok {
			req.createOnly = true
			return nil
		}
	}
	if d := s.cfg.Denials; d != nil {
		d.RecordDenial(ctx, cobalt.Denial{Service: "blob", PrincipalID: oid, Action: o.action, Scope: scope.String()})
	}
	return permissionMismatch()
}

// DenialRecorder records a request refused for want of a role.
type DenialRecorder interface {
	RecordDenial(ctx context.Context, d cobalt.Denial)
}
