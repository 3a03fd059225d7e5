package batchapi

import (
	"context"
	"strings"
	"time"

	cobalt "github.com/cobaltbatch/cobalt"
)

// BatchAudience is the Entra resource of the Batch data plane. Tokens carry it
// with or without the trailing slash (azbatch asks for the scope
// "https://batch.core.windows.net//.default").
const BatchAudience = "https://batch.core.windows.net/"

// maxClockSkew is how far a SharedKey request's ocp-date/Date may be from now.
const maxClockSkew = 15 * time.Minute

// RBAC actions and data actions of the Batch data plane, as in Azure's
// built-in roles: pools (and their nodes) are actions, jobs (and their tasks
// and task files) are data actions.
const (
	ActionAccountRead    = "Microsoft.Batch/batchAccounts/read"
	ActionListKeys       = "Microsoft.Batch/batchAccounts/listKeys/action"
	ActionPoolsRead      = "Microsoft.Batch/batchAccounts/pools/read"
	ActionPoolsWrite     = "Microsoft.Batch/batchAccounts/pools/write"
	ActionPoolsDelete    = "Microsoft.Batch/batchAccounts/pools/delete"
	DataActionJobsRead   = "Microsoft.Batch/batchAccounts/jobs/read"
	DataActionJobsWrite  = "Microsoft.Batch/batchAccounts/jobs/write"
	DataActionJobsDelete = "Microsoft.Batch/batchAccounts/jobs/delete"
)

// permission is what an operation needs from a bearer caller.
type permission struct {
	// action is the RBAC action or data action.
	action string
	// data says that action is a data action.
	data bool
	// read marks read operations, which Microsoft.Batch/batchAccounts/read also grants.
	read bool
}

var (
	permPoolRead    = permission{action: ActionPoolsRead, read: true}
	permPoolWrite   = permission{action: ActionPoolsWrite}
	permPoolDelete  = permission{action: ActionPoolsDelete}
	permJobRead     = permission{action: DataActionJobsRead, data: true, read: true}
	permJobWrite    = permission{action: DataActionJobsWrite, data: true}
	permJobDelete   = permission{action: DataActionJobsDelete, data: true}
	permAccountRead = permission{action: ActionAccountRead, read: true}
)

// TokenValidator validates Entra bearer tokens; *bearer.Validator implements it.
// Validate returns a *cobalt.Error of class EUnauthorized, whose message says
// why, for a token that is not acceptable.
type TokenValidator interface {
	Validate(ctx context.Context, raw string, audiences ...string) (cobalt.Caller, error)
}

// Authorizer checks role assignments; *rbac.Authorizer implements it. Both
// methods consider assignments at the scope and every parent scope.
type Authorizer interface {
	Allowed(ctx context.Context, principalID string, scope cobalt.ResourceID, action string) (bool, error)
	AllowedData(ctx context.Context, principalID string, scope cobalt.ResourceID, dataAction string) (bool, error)
}

// DenialRecorder records a request refused for want of a role.
type DenialRecorder interface {
	RecordDenial(ctx context.Context, d cobalt.Denial)
}

// authFailed is Batch's answer to a request that failed authentication:
// class EUnauthorized (401) for a request without acceptable credentials,
// EForbidden (403) for a SharedKey request that is refused.
func authFailed(class cobalt.Code, detail string) *cobalt.Error {
	return batchError(class, codeAuthFailed,
		"Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.",
		"AuthenticationErrorDetail", detail)
}

// authenticate establishes the caller of rc from its Authorization header.
func (rc *reqCtx) authenticate() error {
	authz := rc.r.Header.Get("Authorization")
	if authz == "" {
		return rc.bearerChallenge(authFailed(cobalt.EUnauthorized, "The request does not carry an Authorization header."))
	}
	scheme, rest, _ := strings.Cut(strings.TrimSpace(authz), " ")
	switch {
	case strings.EqualFold(scheme, "SharedKey"):
		return rc.authenticateSharedKey(authz)
	case strings.EqualFold(scheme, "Bearer"):
		tok := strings.TrimSpace(rest)
		if tok == "" || strings.ContainsAny(tok, " \t") {
			return rc.bearerChallenge(authFailed(cobalt.EUnauthorized, "The bearer token is malformed."))
		}
		if !rc.account.allows("AAD") {
			return authFailed(cobalt.EUnauthorized, "The account's allowedAuthenticationModes do not include AAD.")
		}
		if rc.s.cfg.Validator == nil {
			return rc.bearerChallenge(authFailed(cobalt.EUnauthorized, "Bearer tokens are not accepted by this service."))
		}
		caller, err := rc.s.cfg.Validator.Validate(rc.r.Context(), tok, BatchAudience, strings.TrimSuffix(BatchAudience, "/"))
		if err != nil {
			if cobalt.ErrorCode(err) != cobalt.EUnauthorized && cobalt.ErrorCode(err) != cobalt.EInvalid {
				return err
			}
			return rc.bearerChallenge(authFailed(cobalt.EUnauthorized, cobalt.ErrorMessage(err)))
		}
		if caller.ObjectID == "" {
			return rc.bearerChallenge(authFailed(cobalt.EUnauthorized, "The token has no oid claim."))
		}
		rc.caller = caller
		return nil
	default:
		return authFailed(cobalt.EUnauthorized, "The authentication scheme is not supported; use SharedKey or Bearer.")
	}
}

// bearerChallenge sets the WWW-Authenticate header that tells clients where
// to get a token for Batch, and returns e for the error response.
func (rc *reqCtx) bearerChallenge(e *cobalt.Error) *cobalt.Error {
	if rc.s.cfg.AuthorityURL != "" {
		rc.w.Header().Set("Www-Authenticate", "Bearer authorization_uri="+
			strings.TrimSuffix(rc.s.cfg.AuthorityURL, "/")+"/"+rc.s.cfg.TenantID+
			"/oauth2/authorize resource_id="+BatchAudience)
	}
	return e
}

// authenticateSharedKey verifies a SharedKey request against the account's keys.
func (rc *reqCtx) authenticateSharedKey(header string) error {
	sk, err := parseSharedKey(header)
	if err != nil {
		return authFailed(cobalt.EForbidden, "The SharedKey Authorization header is not in the form 'SharedKey account:signature'.")
	}
	if !rc.account.allows("SharedKey") {
		return authFailed(cobalt.EForbidden, "The account's allowedAuthenticationModes do not include SharedKey.")
	}
	if !strings.EqualFold(sk.Account, rc.account.Name) {
		return authFailed(cobalt.EForbidden, "The account name in the Authorization header does not match this account endpoint.")
	}
	date := rc.r.Header.Get("ocp-date")
	if date == "" {
		date = rc.r.Header.Get("Date")
	}
	if date == "" {
		return authFailed(cobalt.EForbidden, "The request carries neither an ocp-date nor a Date header.")
	}
	t, perr := parseHTTPDate(date)
	if perr != nil {
		return authFailed(cobalt.EForbidden, "The ocp-date/Date header is not an RFC1123 date.")
	}
	if d := rc.s.now().Sub(t); d > maxClockSkew || d < -maxClockSkew {
		return authFailed(cobalt.EForbidden, "The request time is more than 15 minutes from the server time.")
	}
	keys := []string{rc.account.Keys[0], rc.account.Keys[1]}
	if !verifySharedKey(rc.r, rc.account.Name, keys, sk.Signature) {
		return authFailed(cobalt.EForbidden, "The MAC signature found in the HTTP request is not the same as any computed signature.")
	}
	rc.caller = cobalt.Caller{SharedKeyAccount: rc.account.Name}
	return nil
}

// authorize checks that the caller may perform an operation needing p. A
// SharedKey caller holds every right on its account.
func (rc *reqCtx) authorize(p permission) error {
	if rc.caller.SharedKeyAccount != "" {
		return nil
	}
	if rc.s.cfg.Authz == nil {
		return batchError(cobalt.EForbidden, codeAuthzFailed, "This request is not authorized to perform this operation.")
	}
	scope, err := cobalt.ParseResourceID(rc.account.ID)
	if err != nil {
		return err
	}
	ctx := rc.r.Context()
	pid := rc.caller.ObjectID
	var ok bool
	if p.data {
		ok, err = rc.s.cfg.Authz.AllowedData(ctx, pid, scope, p.action)
	} else {
		ok, err = rc.s.cfg.Authz.Allowed(ctx, pid, scope, p.action)
	}
	if err != nil {
		return err
	}
	if !ok && p.read {
		if ok, err = rc.s.cfg.Authz.Allowed(ctx, pid, scope, ActionAccountRead); err != nil {
			return err
		}
	}
	if !ok {
		// Whoever may list the account's keys may do anything with them.
		if ok, err = rc.s.cfg.Authz.Allowed(ctx, pid, scope, ActionListKeys); err != nil {
			return err
		}
	}
	if !ok {
		if d := rc.s.cfg.Denials; d != nil {
			d.RecordDenial(ctx, cobalt.Denial{Service: "batch", PrincipalID: pid, Action: p.action, Scope: rc.account.ID})
		}
		return batchError(cobalt.EForbidden, codeAuthzFailed,
			"This request is not authorized to perform this operation.",
			"Reason", "The caller lacks the permission "+p.action+" on the Batch account.")
	}
	return nil
}
