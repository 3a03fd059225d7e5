package armtest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/msi/armmsi"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/google/uuid"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/login/oidctest"
	"github.com/cobaltbatch/cobalt/internal/rbac"
)

const ficSubject = "system:serviceaccount:ns:sa"

// ficEnv is an environment with a resource group "rg1", an identity
// "uami1" in it, and the SDK clients of the admin.
type ficEnv struct {
	*env
	ids  *armmsi.UserAssignedIdentitiesClient
	fics *armmsi.FederatedIdentityCredentialsClient
	ras  *armauthorization.RoleAssignmentsClient
	mi   armmsi.Identity
}

func newFICEnv(t *testing.T) *ficEnv {
	t.Helper()
	e := &ficEnv{env: newEnv(t)}
	ctx := context.Background()
	cred := e.credential(t, e.admin.ClientID, e.secret)
	groups, err := armresources.NewResourceGroupsClient(e.sub, cred, e.options())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := groups.CreateOrUpdate(ctx, "rg1", armresources.ResourceGroup{Location: to.Ptr("eastus")}, nil); err != nil {
		t.Fatal(err)
	}
	if e.ids, err = armmsi.NewUserAssignedIdentitiesClient(e.sub, cred, e.options()); err != nil {
		t.Fatal(err)
	}
	if e.fics, err = armmsi.NewFederatedIdentityCredentialsClient(e.sub, cred, e.options()); err != nil {
		t.Fatal(err)
	}
	if e.ras, err = armauthorization.NewRoleAssignmentsClient(e.sub, cred, e.options()); err != nil {
		t.Fatal(err)
	}
	mi, err := e.ids.CreateOrUpdate(ctx, "rg1", "uami1", armmsi.Identity{Location: to.Ptr("eastus")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.mi = mi.Identity
	return e
}

func fic(issuer, subject string, audiences ...string) armmsi.FederatedIdentityCredential {
	return armmsi.FederatedIdentityCredential{Properties: &armmsi.FederatedIdentityCredentialProperties{
		Issuer: to.Ptr(issuer), Subject: to.Ptr(subject), Audiences: to.SliceOfPtrs(audiences...)}}
}

// assign gives a principal a role at scope.
func (e *ficEnv) assign(t *testing.T, scope, role, principalID string) {
	t.Helper()
	_, err := e.ras.Create(context.Background(), scope, uuid.NewString(), armauthorization.RoleAssignmentCreateParameters{
		Properties: &armauthorization.RoleAssignmentProperties{RoleDefinitionID: to.Ptr(role), PrincipalID: to.Ptr(principalID),
			PrincipalType: to.Ptr(armauthorization.PrincipalTypeServicePrincipal)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
}

func TestFederatedCredentialsSDK(t *testing.T) {
	t.Parallel()
	e := newFICEnv(t)
	ctx := context.Background()
	const issuer = "https://oidc.example.com/tenant/issuer"

	// The provider's operations list, as armmsi's OperationsClient reads it:
	// any authenticated caller may, even one with no role.
	nobody, nobodySecret, err := e.login.CreateServicePrincipal(ctx, e.tenant, "nobody")
	if err != nil {
		t.Fatal(err)
	}
	ops, err := armmsi.NewOperationsClient(e.credential(t, nobody.ClientID, nobodySecret), e.options())
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for pager := ops.NewListPager(nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, op := range page.Value {
			names[*op.Name] = *op.Display.Provider == "Managed Service Identity"
		}
	}
	for _, want := range []string{"Microsoft.ManagedIdentity/userAssignedIdentities/write", "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/write"} {
		if !names[want] {
			t.Errorf("operations list lacks %s: %v", want, names)
		}
	}

	created, err := e.fics.CreateOrUpdate(ctx, "rg1", "uami1", "fic1", fic(issuer, ficSubject, cobalt.DefaultFederatedAudience), nil)
	if err != nil {
		t.Fatal(err)
	}
	wantID := *e.mi.ID + "/federatedIdentityCredentials/fic1"
	if !strings.EqualFold(*created.ID, wantID) || *created.Name != "fic1" || *created.Type != cobalt.FederatedCredentialType ||
		*created.Properties.Issuer != issuer || *created.Properties.Subject != ficSubject || *created.Properties.Audiences[0] != cobalt.DefaultFederatedAudience {
		t.Fatalf("created %+v", created)
	}
	upd, err := e.fics.CreateOrUpdate(ctx, "rg1", "uami1", "fic1", fic(issuer, "other-subject", "api://a", "api://b"), nil)
	if err != nil || *upd.Properties.Subject != "other-subject" || len(upd.Properties.Audiences) != 2 {
		t.Fatalf("update: %+v, %v", upd, err)
	}
	got, err := e.fics.Get(ctx, "rg1", "uami1", "fic1", nil)
	if err != nil || *got.Properties.Subject != "other-subject" {
		t.Fatalf("get: %+v, %v", got, err)
	}

	// ARM's validation errors.
	bad := []struct {
		name string
		body armmsi.FederatedIdentityCredential
		code string
	}{
		{"fic2", armmsi.FederatedIdentityCredential{Properties: &armmsi.FederatedIdentityCredentialProperties{Subject: to.Ptr("s"), Audiences: to.SliceOfPtrs("a")}}, "BadRequest"},
		{"fic2", fic(issuer, "s"), "BadRequest"},
		{"fic2", fic("http://oidc.example.com", "s", "a"), "BadRequest"},
		{"fic2", fic("not a url", "s", "a"), "BadRequest"},
		{"fic2", fic(issuer, strings.Repeat("s", 601), "a"), "BadRequest"},
		{"fic2", fic(issuer, "other-subject", "a"), "BadRequest"}, // the issuer and subject of fic1
		{"f", fic(issuer, "s", "a"), "InvalidResourceName"},
		{"-fic", fic(issuer, "s", "a"), "InvalidResourceName"},
	}
	for _, b := range bad {
		_, err := e.fics.CreateOrUpdate(ctx, "rg1", "uami1", b.name, b.body, nil)
		wantResponseError(t, err, http.StatusBadRequest, b.code)
	}
	_, err = e.fics.CreateOrUpdate(ctx, "rg1", "nope", "fic1", fic(issuer, "s", "a"), nil)
	wantResponseError(t, err, http.StatusNotFound, "ResourceNotFound")
	_, err = e.fics.Get(ctx, "rg1", "uami1", "fic9", nil)
	wantResponseError(t, err, http.StatusNotFound, "ResourceNotFound")

	// Twenty per identity; the list pages with $top.
	for i := 2; i <= cobalt.MaxFederatedCredentials; i++ {
		if _, err := e.fics.CreateOrUpdate(ctx, "rg1", "uami1", "fic"+itoa(i), fic(issuer, "subject-"+itoa(i), "a"), nil); err != nil {
			t.Fatal(err)
		}
	}
	_, err = e.fics.CreateOrUpdate(ctx, "rg1", "uami1", "fic21", fic(issuer, "subject-21", "a"), nil)
	wantResponseError(t, err, http.StatusBadRequest, "BadRequest")
	n, pages := 0, 0
	for pager := e.fics.NewListPager("rg1", "uami1", &armmsi.FederatedIdentityCredentialsClientListOptions{Top: to.Ptr[int32](7)}); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n, pages = n+len(page.Value), pages+1
	}
	if n != cobalt.MaxFederatedCredentials || pages != 3 {
		t.Fatalf("listed %d credentials in %d pages", n, pages)
	}

	// RBAC: a Managed Identity Contributor writes, a Reader only reads.
	scope := "/subscriptions/" + e.sub + "/resourceGroups/rg1"
	contrib, contribSecret, err := e.login.CreateServicePrincipal(ctx, e.tenant, "mi-contributor")
	if err != nil {
		t.Fatal(err)
	}
	reader, readerSecret, err := e.login.CreateServicePrincipal(ctx, e.tenant, "reader")
	if err != nil {
		t.Fatal(err)
	}
	e.assign(t, scope, rbac.RoleManagedIdentityContributor, contrib.ObjectID)
	e.assign(t, scope, rbac.RoleReader, reader.ObjectID)
	contribFICs, _ := armmsi.NewFederatedIdentityCredentialsClient(e.sub, e.credential(t, contrib.ClientID, contribSecret), e.options())
	readerFICs, _ := armmsi.NewFederatedIdentityCredentialsClient(e.sub, e.credential(t, reader.ClientID, readerSecret), e.options())
	if _, err := contribFICs.Delete(ctx, "rg1", "uami1", "fic20", nil); err != nil {
		t.Fatalf("the Managed Identity Contributor cannot delete: %v", err)
	}
	if _, err := contribFICs.CreateOrUpdate(ctx, "rg1", "uami1", "fic20", fic(issuer, "subject-20", "a"), nil); err != nil {
		t.Fatalf("the Managed Identity Contributor cannot write: %v", err)
	}
	if _, err := readerFICs.Get(ctx, "rg1", "uami1", "fic20", nil); err != nil {
		t.Fatalf("the Reader cannot read: %v", err)
	}
	_, err = readerFICs.CreateOrUpdate(ctx, "rg1", "uami1", "fic20", fic(issuer, "subject-x", "a"), nil)
	wantResponseError(t, err, http.StatusForbidden, "AuthorizationFailed")
	_, err = readerFICs.Delete(ctx, "rg1", "uami1", "fic20", nil)
	wantResponseError(t, err, http.StatusForbidden, "AuthorizationFailed")

	// Delete, twice; then the identity's deletion takes the rest with it.
	if _, err := e.fics.Delete(ctx, "rg1", "uami1", "fic1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.fics.Delete(ctx, "rg1", "uami1", "fic1", nil); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	_, err = e.fics.Get(ctx, "rg1", "uami1", "fic1", nil)
	wantResponseError(t, err, http.StatusNotFound, "ResourceNotFound")
	if _, err := e.ids.Delete(ctx, "rg1", "uami1", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ids.CreateOrUpdate(ctx, "rg1", "uami1", armmsi.Identity{Location: to.Ptr("eastus")}, nil); err != nil {
		t.Fatal(err)
	}
	page, err := e.fics.NewListPager("rg1", "uami1", nil).NextPage(ctx)
	if err != nil || len(page.Value) != 0 {
		t.Fatalf("a recreated identity lists %d old credentials (%v)", len(page.Value), err)
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// clientOptions are azidentity's options pointed at the login service.
func (e *ficEnv) clientOptions() azcore.ClientOptions {
	return azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: e.authURL + "/"},
		Transport: e.client, Retry: policy.RetryOptions{MaxRetries: -1}}
}

// assertionCredential is azidentity's ClientAssertionCredential for the
// identity with the given assertion.
func (e *ficEnv) assertionCredential(t *testing.T, assertion func() string) azcore.TokenCredential {
	t.Helper()
	cred, err := azidentity.NewClientAssertionCredential(e.tenant, *e.mi.Properties.ClientID,
		func(context.Context) (string, error) { return assertion(), nil },
		&azidentity.ClientAssertionCredentialOptions{ClientOptions: e.clientOptions(), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

// TestWorkloadIdentityFederationSDK exchanges tokens of an external issuer,
// served on loopback HTTPS, for the identity's tokens with azidentity's
// ClientAssertionCredential and WorkloadIdentityCredential, uses them on
// the management plane, and checks that no wrong assertion gets a token.
func TestWorkloadIdentityFederationSDK(t *testing.T) {
	t.Parallel()
	e := newFICEnv(t)
	ctx := context.Background()
	cert, err := e.ca.IssueServer("localhost", []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	issuer := oidctest.Start(t, &cert)
	if _, err := e.fics.CreateOrUpdate(ctx, "rg1", "uami1", "k8s", fic(issuer.URL, ficSubject, cobalt.DefaultFederatedAudience), nil); err != nil {
		t.Fatal(err)
	}
	e.assign(t, *e.mi.ID, rbac.RoleReader, *e.mi.Properties.PrincipalID)
	good := func() string {
		return issuer.Sign(t, issuer.Claims(ficSubject, cobalt.DefaultFederatedAudience, time.Now()))
	}

	// ClientAssertionCredential: the token is the identity's, and ARM takes it.
	cred := e.assertionCredential(t, good)
	tok, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://management.azure.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	c := jwtClaims(t, tok.Token)
	if c["oid"] != *e.mi.Properties.PrincipalID || c["appid"] != *e.mi.Properties.ClientID || c["appidacr"] != "2" ||
		!strings.EqualFold(c["xms_mirid"].(string), *e.mi.ID) {
		t.Fatalf("claims %v", c)
	}
	asMI, err := armmsi.NewUserAssignedIdentitiesClient(e.sub, cred, e.options())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := asMI.Get(ctx, "rg1", "uami1", nil); err != nil || *got.Name != "uami1" {
		t.Fatalf("the identity reads itself with its federated token: %v", err)
	}

	// WorkloadIdentityCredential reads the assertion from a token file, as in Kubernetes.
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(good()), 0o600); err != nil {
		t.Fatal(err)
	}
	wi, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
		ClientOptions: e.clientOptions(), ClientID: *e.mi.Properties.ClientID, TenantID: e.tenant, TokenFilePath: file,
		DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := wi.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://storage.azure.com/.default"}}); err != nil ||
		jwtClaims(t, tok.Token)["oid"] != *e.mi.Properties.PrincipalID {
		t.Fatalf("WorkloadIdentityCredential: %v", err)
	}

	// Attacks: each gets Entra's AADSTS error and no token.
	now := time.Now()
	claims := func(mut func(map[string]any)) map[string]any {
		c := issuer.Claims(ficSubject, cobalt.DefaultFederatedAudience, now)
		mut(c)
		return c
	}
	forged := oidctest.NewKey(t)
	forged.KID = issuer.JWKS().Keys[0].KeyID
	other := oidctest.Start(t, &cert)
	attacks := []struct {
		name      string
		assertion string
		code      string
	}{
		{"wrong issuer", other.Sign(t, other.Claims(ficSubject, cobalt.DefaultFederatedAudience, now)), "AADSTS700211"},
		{"wrong subject", issuer.Sign(t, claims(func(c map[string]any) { c["sub"] = "system:serviceaccount:ns:other" })), "AADSTS700213"},
		{"wrong audience", issuer.Sign(t, claims(func(c map[string]any) { c["aud"] = "api://other" })), "AADSTS700212"},
		{"expired", issuer.Sign(t, claims(func(c map[string]any) { c["exp"] = now.Add(-time.Hour).Unix() })), "AADSTS700024"},
		{"bad signature", oidctest.SignWith(t, forged, claims(func(map[string]any) {})), "AADSTS700027"},
		{"alg none", oidctest.Unsigned(t, claims(func(map[string]any) {})), "AADSTS50027"},
	}
	for _, a := range attacks {
		_, err := e.assertionCredential(t, func() string { return a.assertion }).
			GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://management.azure.com/.default"}})
		if err == nil || !strings.Contains(err.Error(), a.code) {
			t.Errorf("%s: %v, want %s", a.name, err, a.code)
		}
	}

	// Once the credential is deleted, the issuer's tokens get nothing.
	if _, err := e.fics.Delete(ctx, "rg1", "uami1", "k8s", nil); err != nil {
		t.Fatal(err)
	}
	_, err = e.assertionCredential(t, good).GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://management.azure.com/.default"}})
	if err == nil || !strings.Contains(err.Error(), "AADSTS70021") {
		t.Fatalf("after the credential was deleted: %v", err)
	}
}

// jwtClaims decodes a JWT's payload without verifying it.
func jwtClaims(t *testing.T, raw string) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
