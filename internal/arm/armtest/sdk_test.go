package armtest

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/msi/armmsi"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/login"
	"github.com/cobaltbatch/cobalt/internal/rbac"
)

func wantResponseError(t *testing.T, err error, status int, code string) {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("error %v, want a %d %s response error", err, status, code)
	}
	if re.StatusCode != status || re.ErrorCode != code {
		t.Fatalf("response error %d %s, want %d %s", re.StatusCode, re.ErrorCode, status, code)
	}
}

func TestGoSDKClients(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	cred := e.credential(t, e.admin.ClientID, e.secret)

	// armresources: resource groups.
	groups, err := armresources.NewResourceGroupsClient(e.sub, cred, e.options())
	if err != nil {
		t.Fatal(err)
	}
	rg, err := groups.CreateOrUpdate(ctx, "rg1", armresources.ResourceGroup{Location: to.Ptr("eastus"), Tags: map[string]*string{"env": to.Ptr("test")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *rg.Name != "rg1" || *rg.Properties.ProvisioningState != "Succeeded" || *rg.Tags["env"] != "test" {
		t.Fatalf("resource group %+v", rg)
	}
	if ex, err := groups.CheckExistence(ctx, "rg1", nil); err != nil || !ex.Success {
		t.Fatalf("CheckExistence = %+v, %v", ex, err)
	}
	up, err := groups.Update(ctx, "rg1", armresources.ResourceGroupPatchable{Tags: map[string]*string{"env": to.Ptr("prod")}}, nil)
	if err != nil || *up.Tags["env"] != "prod" {
		t.Fatalf("Update = %+v, %v", up, err)
	}
	n := 0
	for pager := groups.NewListPager(nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.Value)
	}
	if n != 1 {
		t.Fatalf("listed %d resource groups", n)
	}

	// armmsi: user-assigned identities.
	ids, err := armmsi.NewUserAssignedIdentitiesClient(e.sub, cred, e.options())
	if err != nil {
		t.Fatal(err)
	}
	mi, err := ids.CreateOrUpdate(ctx, "rg1", "uami1", armmsi.Identity{Location: to.Ptr("eastus"), Tags: map[string]*string{"k": to.Ptr("v")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if mi.Properties == nil || *mi.Properties.TenantID != e.tenant || *mi.Properties.PrincipalID == "" || *mi.Properties.ClientID == "" {
		t.Fatalf("identity %+v", mi)
	}
	principalID := *mi.Properties.PrincipalID
	again, err := ids.CreateOrUpdate(ctx, "rg1", "uami1", armmsi.Identity{Location: to.Ptr("eastus")}, nil)
	if err != nil || *again.Properties.PrincipalID != principalID {
		t.Fatalf("second CreateOrUpdate = %+v, %v", again, err)
	}
	if got, err := ids.Get(ctx, "rg1", "UAMI1", nil); err != nil || *got.ID != *mi.ID {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	if upd, err := ids.Update(ctx, "rg1", "uami1", armmsi.IdentityUpdate{Tags: map[string]*string{"x": to.Ptr("y")}}, nil); err != nil || *upd.Tags["x"] != "y" {
		t.Fatalf("Update = %+v, %v", upd, err)
	}
	rgPager := ids.NewListByResourceGroupPager("rg1", nil)
	page, err := rgPager.NextPage(ctx)
	if err != nil || len(page.Value) != 1 {
		t.Fatalf("ListByResourceGroup = %d, %v", len(page.Value), err)
	}
	subPage, err := ids.NewListBySubscriptionPager(nil).NextPage(ctx)
	if err != nil || len(subPage.Value) != 1 {
		t.Fatalf("ListBySubscription = %d, %v", len(subPage.Value), err)
	}
	// The identity's principal gets tokens.
	if _, err := e.login.IssueToken(ctx, login.IssueRequest{ObjectID: principalID, Resource: "https://storage.azure.com/"}); err != nil {
		t.Fatalf("IssueToken for the identity: %v", err)
	}

	// armauthorization/v2: role assignments and definitions.
	ras, err := armauthorization.NewRoleAssignmentsClient(e.sub, cred, e.options())
	if err != nil {
		t.Fatal(err)
	}
	scope := "/subscriptions/" + e.sub + "/resourceGroups/rg1"
	roleID := "/subscriptions/" + e.sub + "/providers/Microsoft.Authorization/roleDefinitions/" + rbac.RoleStorageBlobDataReader
	params := armauthorization.RoleAssignmentCreateParameters{Properties: &armauthorization.RoleAssignmentProperties{
		RoleDefinitionID: to.Ptr(roleID), PrincipalID: to.Ptr(principalID), PrincipalType: to.Ptr(armauthorization.PrincipalTypeServicePrincipal)}}
	const raName = "0b5fe924-9a61-425c-96af-cfe6e287ca2d"
	ra, err := ras.Create(ctx, scope, raName, params, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *ra.Properties.PrincipalType != armauthorization.PrincipalTypeServicePrincipal || *ra.Properties.Scope != scope {
		t.Fatalf("assignment %+v", ra.Properties)
	}
	_, err = ras.Create(ctx, scope, "1b5fe924-9a61-425c-96af-cfe6e287ca2d", params, nil)
	wantResponseError(t, err, http.StatusConflict, "RoleAssignmentExists")
	if got, err := ras.Get(ctx, scope, raName, nil); err != nil || *got.Name != raName {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	count := func(p interface {
		More() bool
	}, next func() (int, error)) int {
		total := 0
		for p.More() {
			n, err := next()
			if err != nil {
				t.Fatal(err)
			}
			total += n
		}
		return total
	}
	atScope := ras.NewListForScopePager(scope+"/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uami1", &armauthorization.RoleAssignmentsClientListForScopeOptions{Filter: to.Ptr("atScope()")})
	if n := count(atScope, func() (int, error) { p, err := atScope.NextPage(ctx); return len(p.Value), err }); n != 2 {
		t.Fatalf("atScope() below the group: %d assignments, want 2 (admin's Owner and the new one)", n)
	}
	byPrincipal := ras.NewListForSubscriptionPager(&armauthorization.RoleAssignmentsClientListForSubscriptionOptions{Filter: to.Ptr("principalId eq '" + principalID + "'")})
	if n := count(byPrincipal, func() (int, error) { p, err := byPrincipal.NextPage(ctx); return len(p.Value), err }); n != 1 {
		t.Fatalf("principalId filter: %d", n)
	}
	defs, err := armauthorization.NewRoleDefinitionsClient(cred, e.options())
	if err != nil {
		t.Fatal(err)
	}
	if d, err := defs.Get(ctx, "/subscriptions/"+e.sub, rbac.RoleContributor, nil); err != nil || *d.Properties.RoleName != "Contributor" {
		t.Fatalf("definition Get = %+v, %v", d, err)
	}
	if d, err := defs.GetByID(ctx, "/providers/Microsoft.Authorization/roleDefinitions/"+rbac.RoleManagedIdentityOperator, nil); err != nil || *d.Properties.RoleName != "Managed Identity Operator" {
		t.Fatalf("definition GetByID = %+v, %v", d, err)
	}
	defPager := defs.NewListPager("/subscriptions/"+e.sub, &armauthorization.RoleDefinitionsClientListOptions{Filter: to.Ptr("roleName eq 'Reader'")})
	dp, err := defPager.NextPage(ctx)
	if err != nil || len(dp.Value) != 1 || *dp.Value[0].Name != rbac.RoleReader {
		t.Fatalf("definitions by name = %+v, %v", dp.Value, err)
	}
	if _, err := ras.Delete(ctx, scope, raName, nil); err != nil {
		t.Fatal(err)
	}

	// A Reader cannot create an identity.
	reader, readerSecret, err := e.login.CreateServicePrincipal(ctx, e.tenant, "reader")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ras.Create(ctx, "/subscriptions/"+e.sub, "2b5fe924-9a61-425c-96af-cfe6e287ca2d", armauthorization.RoleAssignmentCreateParameters{
		Properties: &armauthorization.RoleAssignmentProperties{RoleDefinitionID: to.Ptr(rbac.RoleReader), PrincipalID: to.Ptr(reader.ObjectID),
			PrincipalType: to.Ptr(armauthorization.PrincipalTypeServicePrincipal)}}, nil); err != nil {
		t.Fatal(err)
	}
	readerIDs, err := armmsi.NewUserAssignedIdentitiesClient(e.sub, e.credential(t, reader.ClientID, readerSecret), e.options())
	if err != nil {
		t.Fatal(err)
	}
	_, err = readerIDs.CreateOrUpdate(ctx, "rg1", "uami2", armmsi.Identity{Location: to.Ptr("eastus")}, nil)
	wantResponseError(t, err, http.StatusForbidden, "AuthorizationFailed")
	if _, err := readerIDs.Get(ctx, "rg1", "uami1", nil); err != nil {
		t.Fatalf("the Reader cannot read: %v", err)
	}

	// Deleting the identity stops its tokens.
	if _, err := ids.Delete(ctx, "rg1", "uami1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.login.IssueToken(ctx, login.IssueRequest{ObjectID: principalID, Resource: "https://storage.azure.com/"}); !cobalt.IsCode(err, cobalt.ENotFound) {
		t.Fatalf("IssueToken after the identity was deleted: %v", err)
	}
	_, err = ids.Get(ctx, "rg1", "uami1", nil)
	wantResponseError(t, err, http.StatusNotFound, "ResourceNotFound")

	// Deleting the resource group is a long-running operation.
	ids.CreateOrUpdate(ctx, "rg1", "uami3", armmsi.Identity{Location: to.Ptr("eastus")}, nil)
	poller, err := groups.BeginDelete(ctx, "rg1", nil)
	if err != nil {
		t.Fatal(err)
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := poller.PollUntilDone(pctx, &azruntimePoll); err != nil {
		t.Fatal(err)
	}
	_, err = groups.Get(ctx, "rg1", nil)
	wantResponseError(t, err, http.StatusNotFound, "ResourceGroupNotFound")
	_, err = ids.Get(ctx, "rg1", "uami3", nil)
	wantResponseError(t, err, http.StatusNotFound, "ResourceGroupNotFound")
}

func TestGoSDKWrongAudience(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	tok, err := e.credential(t, e.admin.ClientID, e.secret).GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://storage.azure.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", e.armURL+"/subscriptions/"+e.sub+"/resourcegroups?api-version=2021-04-01", nil)
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("storage token at ARM: %d %v", resp.StatusCode, resp.Header)
	}
}

var azruntimePoll = runtimePollOptions()
