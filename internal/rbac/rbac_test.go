package rbac

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
	"github.com/cobaltbatch/cobalt/internal/store/postgres"
	"github.com/cobaltbatch/cobalt/internal/store/sqlite"
	"github.com/cobaltbatch/cobalt/internal/store/storetest"
)

func TestMatch(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		pattern, action string
		want            bool
	}{
		{"*", "Microsoft.Batch/batchAccounts/write", true},
		{"*/read", "Microsoft.Batch/batchAccounts/read", true},
		{"*/read", "Microsoft.Batch/batchAccounts/write", false},
		{"*/read", "Microsoft.Storage/storageAccounts/listKeys/action", false},
		{"Microsoft.Authorization/*/Write", "Microsoft.Authorization/roleAssignments/write", true},
		{"Microsoft.Authorization/*/Write", "Microsoft.ManagedIdentity/userAssignedIdentities/write", false},
		{"Microsoft.Authorization/*", "microsoft.authorization/roleassignments/delete", true},
		{"Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action", "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action", true},
		{"Microsoft.ManagedIdentity/userAssignedIdentities/*/read", "Microsoft.ManagedIdentity/userAssignedIdentities/read", true},
		{"Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action", "Microsoft.ManagedIdentity/userAssignedIdentities/write", false},
		{"Microsoft.Batch/batchAccounts/*", "Microsoft.Batch/batchAccounts/pools/write", true},
		{"Microsoft.Batch/batchAccounts/*", "Microsoft.Batch/batchAccounts", false},
		{"Microsoft.Storage/storageAccounts/blobServices/containers/blobs/*", "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read", true},
		{"Microsoft.ContainerRegistry/registries/pull/read", "Microsoft.ContainerRegistry/registries/pull/read", true},
		{"Microsoft.ContainerRegistry/registries/pull/read", "Microsoft.ContainerRegistry/registries/push/write", false},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
	} {
		if got := Match(c.pattern, c.action); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.pattern, c.action, got, c.want)
		}
	}
}

func TestBuiltInRoles(t *testing.T) {
	t.Parallel()
	const (
		miWrite   = "Microsoft.ManagedIdentity/userAssignedIdentities/write"
		miAssign  = "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action"
		raWrite   = "Microsoft.Authorization/roleAssignments/write"
		poolWrite = "Microsoft.Batch/batchAccounts/pools/write"
		poolRead  = "Microsoft.Batch/batchAccounts/pools/read"
		blobRead  = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"
		blobWrite = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write"
		jobWrite  = "Microsoft.Batch/batchAccounts/jobs/write"
	)
	for _, c := range []struct {
		role, action string
		data, want   bool
	}{
		{RoleOwner, raWrite, false, true},
		{RoleOwner, miAssign, false, true},
		{RoleOwner, blobRead, true, false},
		{RoleContributor, miWrite, false, true},
		{RoleContributor, miAssign, false, true},
		{RoleContributor, raWrite, false, false},
		{RoleContributor, "Microsoft.Authorization/roleAssignments/delete", false, false},
		{RoleReader, miWrite, false, false},
		{RoleReader, poolRead, false, true},
		{RoleReader, poolWrite, false, false},
		{RoleUserAccessAdministrator, raWrite, false, true},
		{RoleUserAccessAdministrator, miWrite, false, false},
		{RoleManagedIdentityOperator, miAssign, false, true},
		{RoleManagedIdentityOperator, miWrite, false, false},
		{RoleManagedIdentityContributor, miWrite, false, true},
		{RoleManagedIdentityContributor, miAssign, false, false},
		{RoleStorageBlobDataReader, blobRead, true, true},
		{RoleStorageBlobDataReader, blobWrite, true, false},
		{RoleStorageBlobDataContributor, blobWrite, true, true},
		{RoleStorageBlobDataOwner, blobWrite, true, true},
		{RoleAcrPull, "Microsoft.ContainerRegistry/registries/pull/read", false, true},
		{RoleAcrPush, "Microsoft.ContainerRegistry/registries/push/write", false, true},
		{RoleBatchAccountContributor, poolWrite, false, true},
		{RoleBatchAccountContributor, jobWrite, true, true},
		{RoleBatchAccountReader, poolRead, false, true},
		{RoleBatchAccountReader, poolWrite, false, false},
		{RoleBatchDataContributor, poolWrite, false, true},
		{RoleBatchDataContributor, "Microsoft.Batch/batchAccounts/write", false, false},
		{RoleBatchJobSubmitter, jobWrite, true, true},
		{RoleBatchJobSubmitter, poolWrite, false, false},
	} {
		r, ok := RoleByID(strings.ToUpper(c.role))
		if !ok {
			t.Fatalf("role %s missing", c.role)
		}
		got := r.Permits(c.action)
		if c.data {
			got = r.PermitsData(c.action)
		}
		if got != c.want {
			t.Errorf("%s permits %s (data %v) = %v, want %v", r.RoleName, c.action, c.data, got, c.want)
		}
	}
	if r, ok := RoleByName("storage blob data reader"); !ok || r.ID != RoleStorageBlobDataReader {
		t.Errorf("RoleByName = %+v, %v", r, ok)
	}
	seen := map[string]bool{}
	for _, r := range BuiltInRoles() {
		if seen[r.ID] || len(r.ID) != 36 || r.RoleType != "BuiltInRole" {
			t.Errorf("bad role %+v", r)
		}
		seen[r.ID] = true
	}
}

// openStore returns a temporary SQLite store, or a fresh PostgreSQL schema
// when TEST_POSTGRES_URL is set.
func openStore(t *testing.T) store.Store {
	t.Helper()
	var (
		s   store.Store
		err error
	)
	if u := os.Getenv("TEST_POSTGRES_URL"); u != "" {
		s, err = postgres.Open(context.Background(), storetest.NewPostgresSchema(t, u), nil)
	} else {
		s, err = sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "cobalt.db"), nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustID(t *testing.T, s string) cobalt.ResourceID {
	t.Helper()
	id, err := cobalt.ParseResourceID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestAllowedInheritsDownward(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	a := New(Config{Store: s})
	ctx := context.Background()
	sub := "/subscriptions/11111111-1111-1111-1111-111111111111"
	rg := sub + "/resourceGroups/RG1"
	acct := rg + "/providers/Microsoft.Storage/storageAccounts/acct"
	if err := a.Assign(ctx, RoleAssignmentInput{Scope: mustID(t, rg), RoleDefinitionID: RoleStorageBlobDataReader, PrincipalID: "P1", Actor: "admin"}); err != nil {
		t.Fatal(err)
	}
	const read = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"
	for _, c := range []struct {
		scope string
		want  bool
	}{
		{acct, true},                  // below the assignment
		{strings.ToLower(acct), true}, // IDs compare case-insensitively
		{rg, true},
		{sub, false}, // above it
		{sub + "/resourceGroups/rg2/providers/Microsoft.Storage/storageAccounts/acct", false},
	} {
		got, err := a.AllowedData(ctx, "p1", mustID(t, c.scope), read)
		if err != nil || got != c.want {
			t.Errorf("AllowedData at %s = %v, %v; want %v", c.scope, got, err, c.want)
		}
	}
	if ok, _ := a.Allowed(ctx, "p1", mustID(t, acct), read); ok {
		t.Error("a data action was granted as a management action")
	}
	if ok, _ := a.AllowedData(ctx, "p2", mustID(t, acct), read); ok {
		t.Error("another principal was granted access")
	}
	// Duplicates conflict; the audit trail has the assignment.
	err := a.Assign(ctx, RoleAssignmentInput{Scope: mustID(t, rg), RoleDefinitionID: RoleStorageBlobDataReader, PrincipalID: "p1"})
	if !cobalt.IsCode(err, cobalt.EConflict) {
		t.Fatalf("duplicate assign: %v", err)
	}
	if err := a.Assign(ctx, RoleAssignmentInput{Scope: mustID(t, rg), RoleDefinitionID: "not-a-role", PrincipalID: "p1"}); !cobalt.IsCode(err, cobalt.EInvalid) {
		t.Fatalf("unknown role: %v", err)
	}
	recs, _, err := s.AuditList(ctx, "role.assigned", store.Page{})
	if err != nil || len(recs) != 1 || recs[0].Actor != "admin" || recs[0].Fields["principalId"] != "p1" {
		t.Fatalf("audit = %+v, %v", recs, err)
	}
	as, _, _ := s.RoleAssignmentList(ctx, store.RoleAssignmentListParams{PrincipalID: "p1"})
	if _, err := a.Delete(ctx, "admin", as[0].ID); err != nil {
		t.Fatal(err)
	}
	if ok, _ := a.AllowedData(ctx, "p1", mustID(t, acct), read); ok {
		t.Error("access remains after the assignment was deleted")
	}
	recs, _, _ = s.AuditList(ctx, "role.deleted", store.Page{})
	if len(recs) != 1 {
		t.Fatalf("role.deleted audit = %+v", recs)
	}
}

func BenchmarkAllowed(b *testing.B) {
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "cobalt.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	a := New(Config{Store: s})
	ctx := context.Background()
	sub, _ := cobalt.ParseResourceID("/subscriptions/11111111-1111-1111-1111-111111111111")
	for i := range 200 {
		scope, _ := cobalt.ParseResourceID(sub.String() + "/resourceGroups/rg" + string(rune('a'+i%26)) + strings.Repeat("x", i))
		_ = a.Assign(ctx, RoleAssignmentInput{Scope: scope, RoleDefinitionID: RoleReader, PrincipalID: "other"})
	}
	_ = a.Assign(ctx, RoleAssignmentInput{Scope: sub, RoleDefinitionID: RoleOwner, PrincipalID: "p"})
	target, _ := cobalt.ParseResourceID(sub.String() + "/resourceGroups/rg/providers/Microsoft.Batch/batchAccounts/a/pools/p")
	b.ResetTimer()
	for b.Loop() {
		if ok, err := a.Allowed(ctx, "p", target, "Microsoft.Batch/batchAccounts/pools/read"); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// TestAuthorizersShareChanges checks that an assignment made through one
// Authorizer is seen at once by that Authorizer, and by another over the same
// store (another replica) once its cached answer is older than CacheTTL.
func TestAuthorizersShareChanges(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	var mu sync.Mutex
	now := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	a := New(Config{Store: s, Now: clock, CacheTTL: time.Minute})
	b := New(Config{Store: s, Now: clock, CacheTTL: time.Minute})
	ctx := context.Background()
	scope := mustID(t, "/subscriptions/11111111-1111-1111-1111-111111111111")
	const read = "Microsoft.Batch/batchAccounts/read"
	for _, z := range []*Authorizer{a, b} {
		if ok, _ := z.Allowed(ctx, "p", scope, read); ok {
			t.Fatal("allowed before any assignment")
		}
	}
	if err := a.Assign(ctx, RoleAssignmentInput{Scope: scope, RoleDefinitionID: RoleReader, PrincipalID: "p"}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := a.Allowed(ctx, "p", scope, read); !ok {
		t.Fatal("the assigning Authorizer does not see the new assignment")
	}
	if ok, _ := b.Allowed(ctx, "p", scope, read); ok {
		t.Fatal("the other Authorizer answered from the store within its cache TTL")
	}
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	if ok, _ := b.Allowed(ctx, "p", scope, read); !ok {
		t.Fatal("the other Authorizer does not see the new assignment after its cache TTL")
	}
	// Without a cache, every answer comes from the store.
	c := New(Config{Store: s, Now: clock, CacheTTL: -1})
	if ok, _ := c.Allowed(ctx, "q", scope, read); ok {
		t.Fatal("q allowed before any assignment")
	}
	if err := a.Assign(ctx, RoleAssignmentInput{Scope: scope, RoleDefinitionID: RoleReader, PrincipalID: "q"}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Allowed(ctx, "q", scope, read); !ok {
		t.Fatal("an uncached Authorizer does not see the new assignment")
	}
}

// TestCachedAnswersFollowDeletion checks that an answer remembered from a
// principal's cached assignments goes when an assignment is deleted: at once
// on the Authorizer that deletes it, and on another over the same store (a
// replica) once the cache entry is older than CacheTTL.
func TestCachedAnswersFollowDeletion(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	var mu sync.Mutex
	now := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	const ttl = 1500 * time.Millisecond
	a := New(Config{Store: s, Now: clock, CacheTTL: ttl})
	b := New(Config{Store: s, Now: clock, CacheTTL: ttl})
	ctx := context.Background()
	sub := mustID(t, "/subscriptions/11111111-1111-1111-1111-111111111111")
	pool := mustID(t, sub.String()+"/resourceGroups/rg/providers/Microsoft.Batch/batchAccounts/a/pools/p")
	const read = "Microsoft.Batch/batchAccounts/pools/read"
	if err := a.Assign(ctx, RoleAssignmentInput{Scope: sub, RoleDefinitionID: RoleReader, PrincipalID: "p"}); err != nil {
		t.Fatal(err)
	}
	for _, z := range []*Authorizer{a, b} {
		for range 3 { // the first answer is computed, the others remembered
			if ok, err := z.Allowed(ctx, "p", pool, read); !ok || err != nil {
				t.Fatalf("Allowed before the deletion = %v, %v", ok, err)
			}
		}
	}
	as, _, err := s.RoleAssignmentList(ctx, store.RoleAssignmentListParams{PrincipalID: "p"})
	if err != nil || len(as) != 1 {
		t.Fatalf("assignments = %v, %v", as, err)
	}
	if _, err := a.Delete(ctx, "admin", as[0].ID); err != nil {
		t.Fatal(err)
	}
	if ok, _ := a.Allowed(ctx, "p", pool, read); ok {
		t.Fatal("the deleting Authorizer still allows after the deletion")
	}
	mu.Lock()
	now = now.Add(ttl)
	mu.Unlock()
	if ok, _ := b.Allowed(ctx, "p", pool, read); ok {
		t.Fatal("another Authorizer still allows once its entry is CacheTTL old")
	}
	// A new assignment at a scope that applies is seen by a new answer, and a
	// data action is never answered from a management action's answer.
	if err := a.Assign(ctx, RoleAssignmentInput{Scope: pool, RoleDefinitionID: RoleReader, PrincipalID: "p"}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := a.Allowed(ctx, "p", pool, read); !ok {
		t.Fatal("the new assignment is not seen")
	}
	if ok, _ := a.AllowedData(ctx, "p", pool, read); ok {
		t.Fatal("a data action was answered as the management action")
	}
}
