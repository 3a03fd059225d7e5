package cobalt

import (
	"strings"
)

// ResourceID is a parsed Azure Resource Manager resource ID.
//
// The forms understood are the root scope "/", a subscription
// "/subscriptions/{s}", a resource group "/subscriptions/{s}/resourceGroups/{g}",
// a resource "{scope}/providers/{Namespace}/{type}/{name}[/{type}/{name}...]" at
// tenant, subscription or resource group scope, and extension resources, whose
// scope is itself a resource ("{resource}/providers/Microsoft.Authorization/roleAssignments/{n}").
//
// Names keep the case they were given; comparisons use [ResourceID.Key], which
// folds case, because ARM compares IDs case-insensitively.
type ResourceID struct {
	SubscriptionID string
	ResourceGroup  string
	// Namespace is the resource provider namespace, for example "Microsoft.Batch";
	// empty for the root, subscription and resource group scopes.
	Namespace string
	// Types and Names are the resource type segments and names, outermost first:
	// for a pool, Types ["batchAccounts", "pools"] and Names ["acct", "pool1"].
	Types []string
	Names []string
	// Scope is the resource an extension resource is attached to, or nil.
	Scope *ResourceID
}

// ParseResourceID parses an ARM resource ID. A trailing slash is tolerated; any
// other malformation (an empty segment, an odd number of type/name segments, a
// missing provider namespace) is an EInvalid error.
func ParseResourceID(s string) (ResourceID, error) {
	bad := func(why string) (ResourceID, error) {
		return ResourceID{}, &Error{Code: EInvalid, Reason: "InvalidResourceId",
			Message: "The resource ID '" + truncate(s, 200) + "' is not valid: " + why + "."}
	}
	if !strings.HasPrefix(s, "/") {
		return bad("it must start with '/'")
	}
	trimmed := strings.TrimSuffix(s[1:], "/")
	if trimmed == "" {
		return ResourceID{}, nil
	}
	segs := strings.Split(trimmed, "/")
	for _, seg := range segs {
		if seg == "" {
			return bad("it has an empty segment")
		}
	}
	var id ResourceID
	i := 0
	if strings.EqualFold(segs[0], "subscriptions") {
		if len(segs) < 2 {
			return bad("the subscription ID is missing")
		}
		id.SubscriptionID = segs[1]
		i = 2
		if i < len(segs) && strings.EqualFold(segs[i], "resourceGroups") {
			if i+1 >= len(segs) {
				return bad("the resource group name is missing")
			}
			id.ResourceGroup = segs[i+1]
			i += 2
		}
	}
	for i < len(segs) {
		if !strings.EqualFold(segs[i], "providers") {
			return bad("expected 'providers' at segment " + itoa(i+1))
		}
		if i+1 >= len(segs) {
			return bad("the provider namespace is missing")
		}
		if id.Namespace != "" {
			// An extension resource on top of the resource parsed so far.
			scope := id
			id = ResourceID{SubscriptionID: scope.SubscriptionID, ResourceGroup: scope.ResourceGroup, Scope: &scope}
		}
		id.Namespace = segs[i+1]
		i += 2
		start := i
		for i < len(segs) && !strings.EqualFold(segs[i], "providers") {
			i++
		}
		pairs := segs[start:i]
		if len(pairs) == 0 {
			// "/subscriptions/x/providers/Microsoft.Batch" names a provider, which
			// callers treat as a scope without a resource.
			return bad("the resource type is missing")
		}
		if len(pairs)%2 != 0 {
			// A trailing type with no name is a collection path, not an ID.
			return bad("the resource type '" + pairs[len(pairs)-1] + "' has no name")
		}
		for j := 0; j < len(pairs); j += 2 {
			id.Types = append(id.Types, pairs[j])
			id.Names = append(id.Names, pairs[j+1])
		}
	}
	return id, nil
}

// IsRoot reports whether id is the root scope "/".
func (id ResourceID) IsRoot() bool {
	return id.SubscriptionID == "" && id.Namespace == "" && id.Scope == nil
}

// Type returns the full resource type, for example "Microsoft.Batch/batchAccounts/pools",
// or "" for a subscription, resource group or the root.
func (id ResourceID) Type() string {
	if id.Namespace == "" {
		return ""
	}
	return id.Namespace + "/" + strings.Join(id.Types, "/")
}

// Name returns the innermost name: the resource's, the resource group's or the
// subscription's.
func (id ResourceID) Name() string {
	switch {
	case len(id.Names) > 0:
		return id.Names[len(id.Names)-1]
	case id.ResourceGroup != "":
		return id.ResourceGroup
	default:
		return id.SubscriptionID
	}
}

// String formats the ID in its canonical form.
func (id ResourceID) String() string {
	var b strings.Builder
	if id.Scope != nil {
		b.WriteString(strings.TrimSuffix(id.Scope.String(), "/"))
	} else {
		if id.SubscriptionID != "" {
			b.WriteString("/subscriptions/")
			b.WriteString(id.SubscriptionID)
		}
		if id.ResourceGroup != "" {
			b.WriteString("/resourceGroups/")
			b.WriteString(id.ResourceGroup)
		}
	}
	if id.Namespace != "" {
		b.WriteString("/providers/")
		b.WriteString(id.Namespace)
		for i := range id.Types {
			b.WriteString("/")
			b.WriteString(id.Types[i])
			b.WriteString("/")
			b.WriteString(id.Names[i])
		}
	}
	if b.Len() == 0 {
		return "/"
	}
	return b.String()
}

// Key returns the ID folded to lower case, for use as a map or database key.
func (id ResourceID) Key() string { return strings.ToLower(id.String()) }

// Equal reports whether two IDs name the same resource, ignoring case.
func (id ResourceID) Equal(o ResourceID) bool { return id.Key() == o.Key() }

// Parent returns the enclosing scope: a child resource's parent resource, a
// top-level resource's resource group (or subscription, or root), an extension
// resource's scope, and so on up to the root, whose parent is itself.
func (id ResourceID) Parent() ResourceID {
	switch {
	case len(id.Types) > 1:
		p := id
		p.Types = append([]string(nil), id.Types[:len(id.Types)-1]...)
		p.Names = append([]string(nil), id.Names[:len(id.Names)-1]...)
		return p
	case len(id.Types) == 1:
		if id.Scope != nil {
			return *id.Scope
		}
		return ResourceID{SubscriptionID: id.SubscriptionID, ResourceGroup: id.ResourceGroup}
	case id.ResourceGroup != "":
		return ResourceID{SubscriptionID: id.SubscriptionID}
	default:
		return ResourceID{}
	}
}

// Ancestry returns id and every scope above it, innermost first, ending with the
// root "/". Role assignments at any of these scopes apply to id.
func (id ResourceID) Ancestry() []ResourceID {
	out := []ResourceID{id}
	for cur := id; !cur.IsRoot(); {
		cur = cur.Parent()
		out = append(out, cur)
	}
	return out
}

// Within reports whether id is scope itself or lies below it.
func (id ResourceID) Within(scope ResourceID) bool {
	k := scope.Key()
	for _, a := range id.Ancestry() {
		if a.Key() == k {
			return true
		}
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b [20]byte
	p := len(b)
	for i > 0 {
		p--
		b[p] = byte('0' + i%10)
		i /= 10
	}
	return string(b[p:])
}
