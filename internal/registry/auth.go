package registry

import (
	"context"
	"net/http"
	"strings"

	"github.com/cobaltbatch/cobalt"
)

// The RBAC actions ACR checks (registries in the "RBAC registry permissions"
// mode: the repository dataActions of ABAC mode do not apply to them).
const (
	// ActionPull lets a principal pull; ACR also lists the catalog with it.
	ActionPull = "Microsoft.ContainerRegistry/registries/pull/read"
	// ActionPush lets a principal push.
	ActionPush = "Microsoft.ContainerRegistry/registries/push/write"
	// ActionDelete lets a principal delete manifests, tags and blobs.
	ActionDelete = "Microsoft.ContainerRegistry/registries/artifacts/delete"
)

// rbacAction maps a token action to the RBAC action it needs.
func rbacAction(typ, action string) string {
	switch {
	case typ == "registry":
		return ActionPull
	case action == actPull:
		return ActionPull
	case action == actPush:
		return ActionPush
	case action == actDelete:
		return ActionDelete
	}
	return ""
}

// nullGUID is the user name that marks an ACR refresh token as password.
const nullGUID = "00000000-0000-0000-0000-000000000000"

// reqCtx is one request to a registry.
type reqCtx struct {
	s           *Service
	w           http.ResponseWriter
	r           *http.Request
	reg         cobalt.Registry
	loginServer string
	st          *store
	// access is what the request's access token grants; authed is whether
	// it carried a valid one.
	access []Access
	authed bool
	// sub is the principal the access token was issued to.
	sub string
}

// authenticate reads the request's bearer access token, if any.
func (rc *reqCtx) authenticate() {
	h := rc.r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return
	}
	c, err := rc.s.verify(kindAccess, rc.reg, rc.loginServer, strings.TrimSpace(tok))
	if err != nil {
		return
	}
	rc.access, rc.authed, rc.sub = c.Access, true, c.Sub
}

// need reports whether the request's token grants action on (typ, name);
// when not, it answers 401 with the challenge naming the scope.
func (rc *reqCtx) need(typ, name, action string) bool {
	if grants(rc.access, typ, name, action) {
		return true
	}
	scope := Access{Type: typ, Name: name, Actions: []string{action}}
	if action == actPush {
		scope.Actions = []string{actPull, actPush}
	}
	rc.challenge(&scope)
	return false
}

// challenge answers 401 with ACR's WWW-Authenticate header: realm and
// service, the scope when one is needed, and error="insufficient_scope"
// when the request carried a valid token that lacks the scope.
func (rc *reqCtx) challenge(scope *Access) {
	v := `Bearer realm="https://` + rc.loginServer + `/oauth2/token",service="` + rc.loginServer + `"`
	e := ociErr(http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
	if scope != nil {
		v += `,scope="` + scope.String() + `"`
		details := make([]map[string]string, 0, len(scope.Actions))
		for _, a := range scope.Actions {
			details = append(details, map[string]string{"Type": scope.Type, "Name": scope.Name, "Action": a})
		}
		e.Detail = details
		if rc.authed {
			v += `,error="insufficient_scope"`
			// A principal with a valid token lacked the role: the refusal is
			// in the audit trail (`cobalt audit access`).
			if rc.s.cfg.Authz != nil && rc.sub != "" && len(scope.Actions) > 0 {
				rc.s.cfg.Authz.RecordDenial(rc.r.Context(), cobalt.Denial{Service: "registry", PrincipalID: rc.sub,
					Action: rbacAction(scope.Type, scope.Actions[len(scope.Actions)-1]), Scope: rc.reg.ID.String()})
			}
		}
	}
	rc.w.Header().Set("WWW-Authenticate", v)
	writeOCIError(rc.w, e)
}

// grantFor returns the part of the requested scopes the principal holds at
// the registry's scope, evaluated now.
func (s *Service) grantFor(ctx context.Context, reg cobalt.Registry, c tokenClaims, requested []Access) ([]Access, error) {
	out := []Access{}
	cache := map[string]bool{}
	for _, a := range requested {
		var acts []string
		for _, act := range a.Actions {
			ok := c.Admin
			if !ok && s.cfg.Authz != nil {
				ra := rbacAction(a.Type, act)
				if v, seen := cache[ra]; seen {
					ok = v
				} else {
					v, err := s.cfg.Authz.Allowed(ctx, c.Sub, reg.ID, ra)
					if err != nil {
						return nil, err
					}
					cache[ra], ok = v, v
				}
			}
			if ok {
				acts = append(acts, act)
			}
		}
		if len(acts) > 0 {
			out = append(out, Access{Type: a.Type, Name: a.Name, Actions: acts})
		}
	}
	return out, nil
}
