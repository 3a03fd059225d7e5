package storetest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

func init() {
	register("Resource/CreateGetCaseInsensitive", testResourceCreateGet)
	register("Resource/UpdateCAS", testResourceUpdate)
	register("Resource/Delete", testResourceDelete)
	register("Resource/ListByTypeScopeParentPages", testResourceList)
	register("RoleAssignment/CreateConflicts", testRoleAssignmentCreate)
	register("RoleAssignment/DeleteReturns", testRoleAssignmentDelete)
	register("RoleAssignment/ListAtAboveBelowPrincipal", testRoleAssignmentList)
}

const resSub = "/subscriptions/00000000-0000-0000-0000-000000000001"

func resNewResource(rg, typ, name string) store.Resource {
	id := resSub + "/resourceGroups/" + rg + "/providers/" + typ + "/" + name
	parent := resSub + "/resourceGroups/" + rg
	if strings.Count(typ, "/") > 1 {
		// A child type: the parent is the resource above.
		i := strings.LastIndex(id, "/")
		i = strings.LastIndex(id[:i], "/")
		parent = id[:i]
	}
	return store.Resource{
		ID: id, Key: strings.ToLower(id), Type: strings.ToLower(typ), ParentKey: strings.ToLower(parent),
		SubscriptionID: "00000000-0000-0000-0000-000000000001", ResourceGroup: strings.ToLower(rg),
		Body: []byte(`{"name":"` + name + `"}`),
	}
}

func testResourceCreateGet(t *testing.T, s store.Store) {
	r := resNewResource("RG1", "Microsoft.ManagedIdentity/userAssignedIdentities", "Id1")
	got := get(s.ResourceCreate(ctx(t), r)).must(t)
	if got.Version != 1 || got.CreatedAt.IsZero() {
		t.Fatalf("created = %+v", got)
	}
	_, err := s.ResourceCreate(ctx(t), r)
	wantCode(t, err, cobalt.EConflict)
	g := get(s.ResourceGet(ctx(t), strings.ToUpper(r.Key))).must(t)
	if g.ID != r.ID || string(g.Body) != string(r.Body) || g.Type != r.Type || g.ParentKey != r.ParentKey {
		t.Fatalf("get = %+v, want %+v", g, r)
	}
	_, err = s.ResourceGet(ctx(t), r.Key+"x")
	wantCode(t, err, cobalt.ENotFound)
}

func testResourceUpdate(t *testing.T, s store.Store) {
	r := get(s.ResourceCreate(ctx(t), resNewResource("rg", "Microsoft.Storage/storageAccounts", "acct"))).must(t)
	u := get(s.ResourceUpdate(ctx(t), r.Key, func(x *store.Resource) error {
		x.Body = []byte(`{"v":2}`)
		x.Type = "hijack"
		return nil
	})).must(t)
	if u.Version != 2 || string(u.Body) != `{"v":2}` || u.Type != r.Type {
		t.Fatalf("updated = %+v", u)
	}
	boom := cobalt.Errorf(cobalt.EPreconditionFailed, "etag")
	_, err := s.ResourceUpdate(ctx(t), r.Key, func(*store.Resource) error { return boom })
	wantCode(t, err, cobalt.EPreconditionFailed)
	if g := get(s.ResourceGet(ctx(t), r.Key)).must(t); g.Version != 2 {
		t.Fatalf("version after failed update = %d", g.Version)
	}
	_, err = s.ResourceUpdate(ctx(t), "/nope", func(*store.Resource) error { return nil })
	wantCode(t, err, cobalt.ENotFound)
}

func testResourceDelete(t *testing.T, s store.Store) {
	r := get(s.ResourceCreate(ctx(t), resNewResource("rg", "Microsoft.Storage/storageAccounts", "acct"))).must(t)
	if err := s.ResourceDelete(ctx(t), strings.ToUpper(r.Key)); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.ResourceDelete(ctx(t), r.Key), cobalt.ENotFound)
	_, err := s.ResourceGet(ctx(t), r.Key)
	wantCode(t, err, cobalt.ENotFound)
}

func testResourceList(t *testing.T, s store.Store) {
	const mi = "Microsoft.ManagedIdentity/userAssignedIdentities"
	for i := range 5 {
		get(s.ResourceCreate(ctx(t), resNewResource("rg1", mi, fmt.Sprintf("id%d", i)))).must(t)
	}
	get(s.ResourceCreate(ctx(t), resNewResource("rg2", mi, "other"))).must(t)
	get(s.ResourceCreate(ctx(t), resNewResource("rg1_x", mi, "similar"))).must(t)
	acct := get(s.ResourceCreate(ctx(t), resNewResource("rg1", "Microsoft.Batch/batchAccounts", "acct"))).must(t)
	get(s.ResourceCreate(ctx(t), resNewResource("rg1", "Microsoft.Batch/batchAccounts/acct/pools", "p1"))).must(t)

	var all []store.Resource
	tok := ""
	for pages := 0; ; pages++ {
		page, next, err := s.ResourceList(ctx(t), store.ResourceListParams{Type: strings.ToUpper(mi), ResourceGroup: "RG1", Page: store.Page{Limit: 2, Token: tok}})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 2 || pages > 5 {
			t.Fatalf("page of %d, %d pages", len(page), pages)
		}
		all = append(all, page...)
		if next == "" {
			break
		}
		tok = next
	}
	if len(all) != 5 {
		t.Fatalf("listed %d identities in rg1, want 5", len(all))
	}
	subAll, _, err := s.ResourceList(ctx(t), store.ResourceListParams{Type: mi, SubscriptionID: "00000000-0000-0000-0000-000000000001"})
	if err != nil || len(subAll) != 7 {
		t.Fatalf("subscription list = %d, %v; want 7", len(subAll), err)
	}
	within, _, err := s.ResourceList(ctx(t), store.ResourceListParams{WithinKey: strings.ToLower(resSub + "/resourceGroups/rg1")})
	if err != nil || len(within) != 7 {
		t.Fatalf("within rg1 = %d, %v; want 7 (not rg1_x)", len(within), err)
	}
	children, _, err := s.ResourceList(ctx(t), store.ResourceListParams{ParentKey: acct.Key})
	if err != nil || len(children) != 1 || !strings.HasSuffix(children[0].Key, "/pools/p1") {
		t.Fatalf("children = %+v, %v", children, err)
	}
	_, _, err = s.ResourceList(ctx(t), store.ResourceListParams{Page: store.Page{Token: "!!"}})
	wantCode(t, err, cobalt.EInvalid)
}

func resNewAssignment(scope, name, role, principal string) store.RoleAssignment {
	id := strings.TrimSuffix(scope, "/") + "/providers/Microsoft.Authorization/roleAssignments/" + name
	return store.RoleAssignment{ID: id, Name: name, Scope: scope, ScopeKey: strings.ToLower(scope),
		RoleDefinitionID: role, PrincipalID: principal, PrincipalType: "ServicePrincipal", Body: []byte(`{}`)}
}

func testRoleAssignmentCreate(t *testing.T, s store.Store) {
	a := resNewAssignment(resSub, "11111111-1111-1111-1111-111111111111", "acdd72a7-3385-48ef-bd42-f606fba81ae7", "P1")
	got := get(s.RoleAssignmentCreate(ctx(t), a)).must(t)
	if got.PrincipalID != "p1" || got.Key != strings.ToLower(a.ID) || got.CreatedAt.IsZero() {
		t.Fatalf("created = %+v", got)
	}
	// The same triple under another name: conflict naming the existing one.
	dup := resNewAssignment(strings.ToUpper(resSub), "22222222-2222-2222-2222-222222222222", "ACDD72A7-3385-48ef-bd42-f606fba81ae7", "p1")
	ex, err := s.RoleAssignmentCreate(ctx(t), dup)
	wantCode(t, err, cobalt.EConflict)
	if ex.Name != a.Name {
		t.Fatalf("existing name = %q, want %q", ex.Name, a.Name)
	}
	// The same name with another role: conflict too.
	same := resNewAssignment(resSub, a.Name, "8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "p1")
	_, err = s.RoleAssignmentCreate(ctx(t), same)
	wantCode(t, err, cobalt.EConflict)
	// Another role for the same principal and scope is fine.
	get(s.RoleAssignmentCreate(ctx(t), resNewAssignment(resSub, "33333333-3333-3333-3333-333333333333", "8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "p1"))).must(t)
	g := get(s.RoleAssignmentGet(ctx(t), strings.ToUpper(a.ID))).must(t)
	if g.RoleDefinitionID != a.RoleDefinitionID || g.PrincipalType != "ServicePrincipal" || g.Scope != resSub {
		t.Fatalf("get = %+v", g)
	}
}

func testRoleAssignmentDelete(t *testing.T, s store.Store) {
	a := get(s.RoleAssignmentCreate(ctx(t), resNewAssignment(resSub, "11111111-1111-1111-1111-111111111111", "r", "p"))).must(t)
	d := get(s.RoleAssignmentDelete(ctx(t), a.Key)).must(t)
	if d.Name != a.Name {
		t.Fatalf("deleted = %+v", d)
	}
	_, err := s.RoleAssignmentDelete(ctx(t), a.Key)
	wantCode(t, err, cobalt.ENotFound)
	_, err = s.RoleAssignmentGet(ctx(t), a.Key)
	wantCode(t, err, cobalt.ENotFound)
	// Deleted, the triple can be assigned again.
	get(s.RoleAssignmentCreate(ctx(t), resNewAssignment(resSub, "22222222-2222-2222-2222-222222222222", "r", "p"))).must(t)
}

func testRoleAssignmentList(t *testing.T, s store.Store) {
	rg := resSub + "/resourceGroups/rg1"
	res := rg + "/providers/Microsoft.Storage/storageAccounts/acct"
	n := 0
	mk := func(scope, principal string) {
		n++
		get(s.RoleAssignmentCreate(ctx(t), resNewAssignment(scope, fmt.Sprintf("00000000-0000-0000-0000-%012d", n), "r", principal))).must(t)
	}
	mk("/", "p1")
	mk(resSub, "p1")
	mk(rg, "p1")
	mk(res, "p1")
	mk(res, "p2")
	mk(resSub+"/resourceGroups/rg1_x", "p1")
	mk(resSub+"/resourceGroups/rg2", "p2")

	keys := func(id string) []string {
		parsed, err := cobalt.ParseResourceID(id)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, a := range parsed.Ancestry() {
			out = append(out, a.Key())
		}
		return out
	}
	count := func(p store.RoleAssignmentListParams) int {
		t.Helper()
		total, tok := 0, ""
		for {
			p.Page = store.Page{Limit: 2, Token: tok}
			page, next, err := s.RoleAssignmentList(ctx(t), p)
			if err != nil {
				t.Fatal(err)
			}
			total += len(page)
			if next == "" {
				return total
			}
			tok = next
		}
	}
	for _, c := range []struct {
		name string
		p    store.RoleAssignmentListParams
		want int
	}{
		{"at or above the resource, p1", store.RoleAssignmentListParams{ScopeKeys: keys(res), PrincipalID: "P1"}, 4},
		{"at or above the resource", store.RoleAssignmentListParams{ScopeKeys: keys(res)}, 5},
		{"at or above rg1", store.RoleAssignmentListParams{ScopeKeys: keys(rg)}, 3},
		{"at, above or below rg1", store.RoleAssignmentListParams{ScopeKeys: keys(rg), BelowKey: strings.ToLower(rg)}, 5},
		{"below the subscription, p2", store.RoleAssignmentListParams{BelowKey: strings.ToLower(resSub), PrincipalID: "p2"}, 2},
		{"below the root", store.RoleAssignmentListParams{BelowKey: "/"}, 6},
		{"everything", store.RoleAssignmentListParams{}, 7},
		{"principal only", store.RoleAssignmentListParams{PrincipalID: "p1"}, 5},
	} {
		if got := count(c.p); got != c.want {
			t.Errorf("%s: %d assignments, want %d", c.name, got, c.want)
		}
	}
}
