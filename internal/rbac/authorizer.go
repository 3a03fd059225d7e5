package rbac

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// Authorizer answers whether a principal may perform an action at a scope, from
// the role assignments in the store and the built-in role definitions.
//
// It caches each principal's assignments for Config.CacheTTL. Changes made
// through this Authorizer (Assign, Create, Delete) take effect at once; changes
// made by another Authorizer sharing the store (another replica) are seen
// within CacheTTL (Azure itself documents minutes of propagation). A process
// builds one Authorizer and hands it to every service. It is safe for
// concurrent use.
type Authorizer struct {
	s     store.Store
	now   func() time.Time
	log   *slog.Logger
	ttl   time.Duration
	cache assignmentCache
	// denials folds repeated denials (RecordDenial).
	denials denialFold
}

// Config holds an Authorizer's dependencies.
type Config struct {
	// Store holds the role assignments and the audit log; required.
	Store store.Store
	// Logger receives audit failures; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock for cache ages and audit records; nil means time.Now.
	Now func() time.Time
	// CacheTTL is how long a principal's assignments are reused; 0 means
	// DefaultCacheTTL, negative disables the cache.
	CacheTTL time.Duration
}

// DefaultCacheTTL is how long a principal's role assignments are cached
// unless Config.CacheTTL says otherwise.
const DefaultCacheTTL = 5 * time.Second

// maxCached bounds the number of principals whose assignments are cached.
const maxCached = 10000

type assignmentCache struct {
	mu      sync.Mutex
	gen     uint64
	entries map[string]*cacheEntry
}

// cacheEntry is a principal's assignments as read at a time, with the
// answers already computed from them: an answer depends only on the
// assignments (role definitions are built in), so it lives and dies with
// them. Every answer is a function of (kind, action, scope key).
type cacheEntry struct {
	as []store.RoleAssignment
	at time.Time

	mu        sync.Mutex
	decisions map[decisionKey]bool
}

type decisionKey struct {
	data   bool
	action string
	scope  string // the scope's Key
}

// maxDecisions bounds the answers one entry remembers; past it, answers are
// computed each time until the entry expires.
const maxDecisions = 1024

func (e *cacheEntry) decision(k decisionKey) (allowed, ok bool) {
	e.mu.Lock()
	allowed, ok = e.decisions[k]
	e.mu.Unlock()
	return allowed, ok
}

func (e *cacheEntry) remember(k decisionKey, allowed bool) {
	e.mu.Lock()
	if e.decisions == nil {
		e.decisions = map[decisionKey]bool{}
	}
	if len(e.decisions) < maxDecisions {
		e.decisions[k] = allowed
	}
	e.mu.Unlock()
}

// New returns an Authorizer built from cfg.
func New(cfg Config) *Authorizer {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = DefaultCacheTTL
	}
	return &Authorizer{s: cfg.Store, now: cfg.Now, log: cfg.Logger, ttl: cfg.CacheTTL,
		cache: assignmentCache{entries: map[string]*cacheEntry{}}}
}

// invalidate drops every cached assignment list.
func (a *Authorizer) invalidate() {
	a.cache.mu.Lock()
	a.cache.gen++
	clear(a.cache.entries)
	a.cache.mu.Unlock()
}

// Allowed reports whether the principal holds the management-plane action at
// scope, through a role assignment at scope or at any scope above it.
func (a *Authorizer) Allowed(ctx context.Context, principalID string, scope cobalt.ResourceID, action string) (bool, error) {
	return a.allowed(ctx, principalID, scope, decisionKey{action: action}, func(r RoleDefinition) bool { return r.Permits(action) })
}

// AllowedData reports whether the principal holds the data action at scope,
// through a role assignment at scope or at any scope above it.
func (a *Authorizer) AllowedData(ctx context.Context, principalID string, scope cobalt.ResourceID, dataAction string) (bool, error) {
	return a.allowed(ctx, principalID, scope, decisionKey{data: true, action: dataAction}, func(r RoleDefinition) bool { return r.PermitsData(dataAction) })
}

// allowed answers from the principal's cache entry when it holds the answer
// for k at scope, and otherwise computes it from the entry's assignments.
func (a *Authorizer) allowed(ctx context.Context, principalID string, scope cobalt.ResourceID, k decisionKey, permits func(RoleDefinition) bool) (bool, error) {
	if principalID == "" {
		return false, nil
	}
	e, err := a.principalAssignments(ctx, strings.ToLower(principalID))
	if err != nil {
		return false, err
	}
	if len(e.as) == 0 {
		return false, nil
	}
	k.scope = scope.Key()
	if allowed, ok := e.decision(k); ok {
		return allowed, nil
	}
	allowed := false
	for _, ra := range assignmentsAt(e.as, scope) {
		if r, ok := RoleByID(ra.RoleDefinitionID); ok && permits(r) {
			allowed = true
			break
		}
	}
	e.remember(k, allowed)
	return allowed, nil
}

// assignmentsAt returns those of all that apply at scope: at it or above.
func assignmentsAt(all []store.RoleAssignment, scope cobalt.ResourceID) []store.RoleAssignment {
	anc := scope.Ancestry()
	keys := make(map[string]bool, len(anc))
	for _, s := range anc {
		keys[s.Key()] = true
	}
	var out []store.RoleAssignment
	for _, ra := range all {
		if keys[ra.ScopeKey] {
			out = append(out, ra)
		}
	}
	return out
}

// principalAssignments returns the cache entry of every assignment of the
// principal, at any scope (one indexed query on a cache miss). An entry
// read without a cache (or past an invalidation) is fresh and unshared.
func (a *Authorizer) principalAssignments(ctx context.Context, principalID string) (*cacheEntry, error) {
	now := a.now()
	c := &a.cache
	c.mu.Lock()
	e, ok := c.entries[principalID]
	gen := c.gen
	c.mu.Unlock()
	if ok && now.Sub(e.at) < a.ttl {
		return e, nil
	}
	var out []store.RoleAssignment
	tok := ""
	for {
		page, next, err := a.s.RoleAssignmentList(ctx, store.RoleAssignmentListParams{
			PrincipalID: principalID, Page: store.Page{Limit: 1000, Token: tok}})
		if err != nil {
			return nil, fmt.Errorf("list role assignments: %w", err)
		}
		out = append(out, page...)
		if next == "" {
			break
		}
		tok = next
	}
	e = &cacheEntry{as: out, at: now}
	c.mu.Lock()
	if c.gen == gen && a.ttl > 0 {
		if len(c.entries) >= maxCached {
			clear(c.entries)
		}
		c.entries[principalID] = e
	}
	c.mu.Unlock()
	return e, nil
}

// RoleAssignmentInput describes a role assignment to create.
type RoleAssignmentInput struct {
	// Name is the assignment's GUID name; empty picks a new one.
	Name string
	// Scope is where the assignment applies (and everything below it).
	Scope cobalt.ResourceID
	// RoleDefinitionID is a built-in role GUID (for example RoleOwner).
	RoleDefinitionID string
	PrincipalID      string
	// PrincipalType is "User", "Group", "ServicePrincipal" or "ForeignGroup"; empty means "ServicePrincipal".
	PrincipalType string
	Description   string
	// Actor is who made the assignment, for the audit trail ("system" if empty).
	Actor string
}

// AssignmentProperties is the stored JSON body of a role assignment: the
// properties ARM returns besides those with columns of their own.
type AssignmentProperties struct {
	Description string `json:"description,omitempty"`
	CreatedBy   string `json:"createdBy,omitempty"`
	UpdatedBy   string `json:"updatedBy,omitempty"`
	// RoleDefinitionID is the role definition ID as the client sent it.
	RoleDefinitionID string    `json:"roleDefinitionId,omitempty"`
	UpdatedOn        time.Time `json:"updatedOn"`
}

// AssignmentID returns the resource ID of the role assignment named name at scope.
func AssignmentID(scope cobalt.ResourceID, name string) string {
	return strings.TrimSuffix(scope.String(), "/") + "/providers/Microsoft.Authorization/roleAssignments/" + name
}

// Assign creates a role assignment and writes a "role.assigned" audit record.
// EInvalid for an unknown role; EConflict (with the existing assignment
// returned by the store) if the same role is assigned to the principal at the
// scope already. Assign is used by bootstrap and tests; ARM's role assignment
// API goes through Create for the same effect.
func (a *Authorizer) Assign(ctx context.Context, in RoleAssignmentInput) error {
	_, err := a.Create(ctx, in)
	return err
}

// Create is Assign returning the stored assignment (or, on a duplicate, the
// existing one with an EConflict error).
func (a *Authorizer) Create(ctx context.Context, in RoleAssignmentInput) (store.RoleAssignment, error) {
	if _, ok := RoleByID(in.RoleDefinitionID); !ok {
		return store.RoleAssignment{}, cobalt.Errorf(cobalt.EInvalid, "The role definition '%s' does not exist.", in.RoleDefinitionID).
			WithReason("RoleDefinitionDoesNotExist")
	}
	if in.PrincipalID == "" {
		return store.RoleAssignment{}, cobalt.Errorf(cobalt.EInvalid, "The principal ID is required.").WithTarget("properties.principalId")
	}
	if in.Name == "" {
		in.Name = newGUID()
	}
	if in.PrincipalType == "" {
		in.PrincipalType = "ServicePrincipal"
	}
	actor := in.Actor
	if actor == "" {
		actor = "system"
	}
	body, err := json.Marshal(AssignmentProperties{Description: in.Description, CreatedBy: actor, UpdatedBy: actor, UpdatedOn: a.now().UTC()})
	if err != nil {
		return store.RoleAssignment{}, err
	}
	defer a.invalidate()
	ra, err := a.s.RoleAssignmentCreate(ctx, store.RoleAssignment{
		ID: AssignmentID(in.Scope, strings.ToLower(in.Name)), Name: in.Name,
		Scope: in.Scope.String(), ScopeKey: in.Scope.Key(), RoleDefinitionID: in.RoleDefinitionID,
		PrincipalID: in.PrincipalID, PrincipalType: in.PrincipalType, Body: body,
	})
	if err != nil {
		return ra, err
	}
	a.audit(ctx, "role.assigned", actor, ra)
	return ra, nil
}

// Delete removes the role assignment with the given ID and writes a
// "role.deleted" audit record; ENotFound if absent.
func (a *Authorizer) Delete(ctx context.Context, actor, assignmentID string) (store.RoleAssignment, error) {
	defer a.invalidate()
	ra, err := a.s.RoleAssignmentDelete(ctx, assignmentID)
	if err != nil {
		return ra, err
	}
	if actor == "" {
		actor = "system"
	}
	a.audit(ctx, "role.deleted", actor, ra)
	return ra, nil
}

func (a *Authorizer) audit(ctx context.Context, kind, actor string, ra store.RoleAssignment) {
	err := a.s.AuditAppend(ctx, store.AuditRecord{Time: a.now().UTC(), Kind: kind, Actor: actor, Subject: ra.ID,
		Fields: map[string]string{"scope": ra.Scope, "roleDefinitionId": ra.RoleDefinitionID,
			"principalId": ra.PrincipalID, "principalType": ra.PrincipalType}})
	if err != nil {
		a.log.ErrorContext(ctx, "audit append failed", logkey.AuditKind, kind, logkey.AuditSubject, ra.ID, logkey.Err, err)
	}
}
