package rbac

import (
	"context"
	"testing"
)

// TestRegistryRights checks what each built-in role grants on a container
// registry, through real assignments at the resource group and the checks
// the registry service makes at the registry's scope (ACR's documented
// table: Owner and Contributor pull, push and delete; Reader pulls; AcrPull
// pulls; AcrPush pulls and pushes; AcrDelete deletes).
func TestRegistryRights(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	a := New(Config{Store: s})
	ctx := context.Background()
	rg := "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg1"
	reg := mustID(t, rg+"/providers/Microsoft.ContainerRegistry/registries/myregistry1")
	const (
		pull = "Microsoft.ContainerRegistry/registries/pull/read"
		push = "Microsoft.ContainerRegistry/registries/push/write"
		del  = "Microsoft.ContainerRegistry/registries/artifacts/delete"
	)
	for _, c := range []struct {
		role            string
		pull, push, del bool
	}{
		{RoleOwner, true, true, true},
		{RoleContributor, true, true, true},
		{RoleReader, true, false, false},
		{RoleAcrPull, true, false, false},
		{RoleAcrPush, true, true, false},
		{RoleAcrDelete, false, false, true},
		{RoleAcrImageSigner, false, false, false},
		{RoleStorageBlobDataOwner, false, false, false},
		{RoleUserAccessAdministrator, true, false, false}, // its */read
	} {
		def, _ := RoleByID(c.role)
		oid := "p-" + c.role
		if err := a.Assign(ctx, RoleAssignmentInput{Scope: mustID(t, rg), RoleDefinitionID: c.role, PrincipalID: oid}); err != nil {
			t.Fatal(err)
		}
		for _, w := range []struct {
			action string
			want   bool
		}{{pull, c.pull}, {push, c.push}, {del, c.del}} {
			got, err := a.Allowed(ctx, oid, reg, w.action)
			if err != nil || got != w.want {
				t.Errorf("%s: Allowed(%s) = %v, %v; want %v", def.RoleName, w.action, got, err, w.want)
			}
		}
	}
	// No role: nothing.
	for _, action := range []string{pull, push, del} {
		if ok, _ := a.Allowed(ctx, "nobody", reg, action); ok {
			t.Errorf("a principal without a role holds %s", action)
		}
	}
	if d, ok := RoleByName("AcrDelete"); !ok || d.ID != RoleAcrDelete {
		t.Fatalf("AcrDelete by name = %+v, %v", d, ok)
	}
}
