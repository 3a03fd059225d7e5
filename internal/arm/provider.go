package arm

import (
	"context"
	"net/http"
	"strings"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// Provider is a resource provider served by the front door. The front door
// calls Register once, before it serves its first request.
type Provider interface {
	Register(g *Registrar) error
}

// ProviderFunc adapts a function to Provider.
type ProviderFunc func(g *Registrar) error

// Register implements Provider.
func (f ProviderFunc) Register(g *Registrar) error { return f(g) }

// HandlerFunc serves one ARM operation. It writes a success response itself
// (WriteJSON, Accepted, ...) and returns nil, or writes nothing and returns
// an error, which the front door writes as ARM's error envelope
// ({"error":{"code","message","target","details"}}): a *cobalt.Error maps to
// its Code's HTTP status, with Reason as the ARM code (a default code per
// class when empty) and Target as the target; any other error is a 500 with
// a generic message.
type HandlerFunc func(w http.ResponseWriter, r *Request) error

// Route is one operation of a provider.
type Route struct {
	// Pattern is a Go 1.22 ServeMux pattern with a method and the path in its
	// canonical case, for example
	//   "PUT /subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Batch/batchAccounts/{accountName}".
	// The front door folds the case of the request path's literal segments
	// (subscriptions, resourceGroups, providers, namespaces, types, actions) to
	// the registered spelling before matching, so "/resourcegroups/" matches;
	// names keep the case the client sent. A literal takes the spelling it was
	// first registered with by any provider. Read wildcards with r.PathValue.
	Pattern string
	// Type is the resource type whose api-versions apply (registered with
	// Registrar.APIVersions), for example "Microsoft.Batch/batchAccounts".
	// The front door answers a missing or unsupported api-version with
	// ARM's 400 before the handler runs.
	Type string
	// Action is the RBAC action the caller must hold at Request.Scope, checked
	// before the handler runs, for example "Microsoft.Batch/batchAccounts/write".
	// Empty means the handler checks authorization itself (Request.Check).
	Action string
	// Handler serves the operation.
	Handler HandlerFunc
}

// CascadeFunc deletes what a provider owns under scope (a resource group, or
// a resource that is a parent of the provider's resources), before the front
// door deletes the scope itself. It is called with the ID of the scope being
// deleted; it must succeed when there is nothing to delete. Resources stored
// through the generic resource store under scope are deleted by the front
// door afterwards in any case.
type CascadeFunc func(ctx context.Context, scope cobalt.ResourceID) error

// Registrar is what a provider registers its routes with, and its access to
// the front door's shared services.
type Registrar struct {
	s *Server
}

// ResumeFunc finishes, on another replica, an operation on resource id that
// the process which started it left unfinished: it must be safe to run after
// any prefix of the original work (idempotent), and returns what the
// operation's result is.
type ResumeFunc func(ctx context.Context, id cobalt.ResourceID) (any, error)

// Resume declares how operations started with LRO.Kind kind are finished by
// another replica. Call it from Register.
func (g *Registrar) Resume(kind string, fn ResumeFunc) {
	g.s.ops.mu.Lock()
	g.s.ops.resume[kind] = fn
	g.s.ops.mu.Unlock()
}

// Handle registers a route. It panics on an invalid pattern, like ServeMux.
func (g *Registrar) Handle(rt Route) { g.s.handle(rt) }

// APIVersions declares the api-versions accepted for a resource type (for
// example "Microsoft.Batch/batchAccounts/pools"). Calls accumulate.
func (g *Registrar) APIVersions(resourceType string, versions ...string) {
	g.s.addVersions(resourceType, versions...)
}

// OnDelete registers a cascade hook, called by Server.DeleteScope: when a
// resource group is deleted (from its long-running operation) and when a
// built-in provider deletes a parent resource (a storage account). Hooks
// receive every deleted scope and must ignore those that own nothing of theirs.
func (g *Registrar) OnDelete(fn CascadeFunc) { g.s.addCascade(fn) }

// Server returns the front door, for its lookups (LookupIdentity,
// LookupStorageAccount), DeleteScope and configuration.
func (g *Registrar) Server() *Server { return g.s }

// Store returns the store, including the generic ResourceStore.
func (g *Registrar) Store() store.Store { return g.s.cfg.Store }

// Request is an authenticated, authorized ARM request.
type Request struct {
	*http.Request
	// Caller is the authenticated caller (from the validated bearer token).
	Caller cobalt.Caller
	// APIVersion is the request's api-version, already checked for Route.Type.
	APIVersion string
	// ID is the resource the path names, when it names one (a PUT/GET/PATCH/
	// DELETE of a resource, or the resource of a POST action such as
	// ".../batchAccounts/a/listKeys", whose ID is the account). For a
	// collection path (".../batchAccounts") it is the enclosing scope.
	ID cobalt.ResourceID
	// Scope is where Route.Action was checked: ID for a resource path, the
	// enclosing scope (resource group, subscription, parent resource) for a
	// collection path.
	Scope cobalt.ResourceID
	// Route is the matched route.
	Route Route
	// RequestID is the x-ms-request-id of the response.
	RequestID string

	srv *Server
}

// Server returns the front door.
func (r *Request) Server() *Server { return r.srv }

// Store returns the store.
func (r *Request) Store() store.Store { return r.srv.cfg.Store }

// Check returns nil if the caller holds action at scope, or the 403
// AuthorizationFailed error ARM returns:
// "The client '<oid>' with object id '<oid>' does not have authorization to
// perform action '<action>' over scope '<scope>' or the scope is invalid. If
// access was recently granted, please refresh your credentials."
//
// A refusal is recorded in the audit trail (`cobalt audit access`); to ask
// whether the caller may do something without refusing anything (to filter
// a list), use Permitted.
func (r *Request) Check(action string, scope cobalt.ResourceID) error {
	return r.srv.check(r.Context(), r.Caller, action, scope)
}

// Permitted reports whether the caller holds action at scope. It refuses
// nothing and records nothing: lists use it to leave out what the caller
// cannot read.
func (r *Request) Permitted(action string, scope cobalt.ResourceID) (bool, error) {
	return r.srv.cfg.Authz.Allowed(r.Context(), r.Caller.ObjectID, scope, action)
}

// CheckLinked returns nil if the caller holds action on the linked scope (a
// resource the request refers to, for example a user-assigned identity that a
// pool carries, whose action is
// "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action"), or the
// 403 LinkedAuthorizationFailed error ARM returns, which names the route's
// action and scope and the linked ones.
func (r *Request) CheckLinked(action string, linked cobalt.ResourceID) error {
	return r.srv.checkLinked(r.Context(), r.Caller, r.Route.Action, r.Scope, action, linked)
}

// Decode reads the JSON request body into v with the front door's size limit.
// Every failure is a 400 *cobalt.Error with code "InvalidRequestContent" and
// the target set to the JSON path of the offending property (for example
// "properties.vmSize"): malformed JSON, a value of the wrong type, an empty
// body; a body over the limit is a 400 "RequestContentTooLarge".
func (r *Request) Decode(v any) error { return r.srv.decode(r.Request, v) }

// PageToken returns the $skipToken of a list request ("" for the first page)
// and the page size: $top if present, else def.
func (r *Request) PageToken(def int) (store.Page, error) { return pageOf(r.Request, def) }

// NextLink returns the absolute URL of the next page of this list request
// for a store page token, or "" when token is "" (the last page).
func (r *Request) NextLink(token string) string { return nextLink(r.Request, token) }

// WriteList writes ARM's list envelope {"value":[...],"nextLink":...} with 200.
// items must be a slice (nil becomes []).
func (r *Request) WriteList(w http.ResponseWriter, items any, nextToken string) {
	writeList(w, r.Request, items, nextToken)
}

// Accepted starts a long-running operation as Azure does: fn runs in the
// background (with a context that outlives the request, cancelled when the
// front door's Run ends) and the response is 202 Accepted with a Location
// header naming the operation's result endpoint (and an
// Azure-AsyncOperation header naming its status endpoint when opts.AsyncHeader),
// Retry-After, and no body. The result endpoint answers 202 (with Location and
// Retry-After) while fn runs, then 200 with the JSON of fn's result (204 when
// it is nil), or fn's error in ARM's envelope. The status endpoint answers
// {"id","name","status":"InProgress"|"Succeeded"|"Failed","startTime","endTime","error"}.
func (r *Request) Accepted(w http.ResponseWriter, opts LRO, fn func(ctx context.Context) (any, error)) error {
	return r.srv.startOperation(w, r, opts, fn)
}

// LRO configures a long-running operation.
type LRO struct {
	// RetryAfter is the Retry-After header's seconds (default 1; 0 keeps the default).
	RetryAfter int
	// AsyncHeader adds Azure-AsyncOperation to the 202 response.
	AsyncHeader bool
	// Kind, when set, names the ResumeFunc (Registrar.Resume) with which
	// another replica finishes the operation if this process dies first;
	// without one, such an operation fails with OperationInterrupted.
	Kind string
	// Initial, when not nil, is written as the 202 response's JSON body
	// (some operations return the resource with provisioningState "Deleting"/"Creating").
	Initial any
}

// RequireResourceGroup returns nil if id's resource group exists, or ARM's
// 404 ResourceGroupNotFound ("Resource group '<name>' could not be found.").
func (r *Request) RequireResourceGroup(id cobalt.ResourceID) error {
	return r.srv.requireResourceGroup(r.Context(), id)
}

// WriteJSON writes v as JSON with the given status; when etag is not "", it
// is sent as the ETag header.
func WriteJSON(w http.ResponseWriter, status int, etag string, v any) {
	writeJSON(w, status, etag, v)
}

// WriteError writes err in ARM's error envelope (see HandlerFunc).
func WriteError(w http.ResponseWriter, r *http.Request, err error) { writeError(w, r, err) }

// ETag formats a store version as an ETag header value: W/"0x<HEX>", as ARM
// resource providers send them.
func ETag(version int64) string { return etagOf(version) }

// CheckPreconditions evaluates If-Match and If-None-Match against the current
// ETag of the resource ("" when it does not exist) and returns a 412
// "PreconditionFailed" *cobalt.Error when they fail: If-Match "*" needs the
// resource to exist, If-Match <etag> needs that ETag; If-None-Match "*" needs
// it absent, If-None-Match <etag> needs another ETag. Weak and strong forms
// of the same ETag compare equal.
func CheckPreconditions(r *http.Request, current string) error { return checkPreconditions(r, current) }

// NewResource returns a store.Resource for id with body, its key, type,
// parent key, subscription and resource group filled in (lower case).
func NewResource(id cobalt.ResourceID, body []byte) store.Resource {
	return store.Resource{
		ID: id.String(), Key: id.Key(), Type: strings.ToLower(id.Type()), ParentKey: id.Parent().Key(),
		SubscriptionID: strings.ToLower(id.SubscriptionID), ResourceGroup: strings.ToLower(id.ResourceGroup),
		Body: body,
	}
}

// NotFound returns ARM's 404 for a missing resource: code "ResourceNotFound",
// message "The Resource '<Namespace/type/name>' under resource group '<rg>' was not found."
func NotFound(id cobalt.ResourceID) *cobalt.Error { return notFoundErr(id) }

// Invalid returns a 400 with the given ARM code, target and message.
func Invalid(code, target, format string, args ...any) *cobalt.Error {
	return cobalt.Errorf(cobalt.EInvalid, format, args...).WithReason(code).WithTarget(target)
}

// ResourceNotFound returns ARM's 404 for a missing resource id: code
// "ResourceGroupNotFound" when its resource group does not exist either (as
// ARM answers), else "ResourceNotFound".
func (r *Request) ResourceNotFound(id cobalt.ResourceID) error {
	if err := r.RequireResourceGroup(id); err != nil {
		return err
	}
	return NotFound(id)
}
