package registry

import (
	"slices"
	"strings"
)

// Access is one grant of a token: the token scope "type:name:actions" in
// the form of the access claim of ACR (and Docker) access tokens.
type Access struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// Actions a registry grants.
const (
	actPull   = "pull"
	actPush   = "push"
	actDelete = "delete"
	actAll    = "*"
)

// maxScopes bounds the scopes of one token request.
const maxScopes = 32

// parseScopes parses token scopes: each value may hold several
// space-separated scopes (the POST form) and values may repeat (the GET
// form). Unknown types and actions are dropped, as a grant never includes
// them; malformed scopes are ignored the same way.
func parseScopes(values []string) []Access {
	var out []Access
	for _, v := range values {
		for _, f := range strings.Fields(v) {
			a, ok := parseScope(f)
			if !ok {
				continue
			}
			out = mergeAccess(out, a)
			if len(out) > maxScopes {
				return out[:maxScopes]
			}
		}
	}
	return out
}

// parseScope parses "repository:<name>:<actions>" or "registry:catalog:*".
// The name is what lies between the first and the last colon; a type may
// carry a class ("repository(plugin)"), which is ignored.
func parseScope(s string) (Access, bool) {
	i, j := strings.IndexByte(s, ':'), strings.LastIndexByte(s, ':')
	if i < 0 || j <= i {
		return Access{}, false
	}
	typ, name, acts := s[:i], s[i+1:j], s[j+1:]
	if k := strings.IndexByte(typ, '('); k >= 0 && strings.HasSuffix(typ, ")") {
		typ = typ[:k]
	}
	var actions []string
	for _, a := range strings.Split(acts, ",") {
		switch {
		case typ == "repository" && (a == actPull || a == actPush || a == actDelete):
		case typ == "repository" && a == actAll:
			actions = append(actions, actPull, actPush, actDelete)
			continue
		case typ == "registry" && name == "catalog" && a == actAll:
		default:
			continue
		}
		actions = append(actions, a)
	}
	switch {
	case typ == "repository" && validRepo(name):
	case typ == "registry" && name == "catalog":
	default:
		return Access{}, false
	}
	return Access{Type: typ, Name: name, Actions: dedup(actions)}, true
}

// mergeAccess adds a to list, joining its actions to an entry of the same
// type and name.
func mergeAccess(list []Access, a Access) []Access {
	for i := range list {
		if list[i].Type == a.Type && list[i].Name == a.Name {
			list[i].Actions = dedup(append(list[i].Actions, a.Actions...))
			return list
		}
	}
	return append(list, a)
}

func dedup(s []string) []string {
	out := make([]string, 0, len(s))
	for _, v := range s {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// String renders the scope as a token request or a challenge names it.
func (a Access) String() string {
	return a.Type + ":" + a.Name + ":" + strings.Join(a.Actions, ",")
}

// grants reports whether the access list holds action on (typ, name).
func grants(list []Access, typ, name, action string) bool {
	for _, a := range list {
		if a.Type == typ && a.Name == name && slices.Contains(a.Actions, action) {
			return true
		}
	}
	return false
}
