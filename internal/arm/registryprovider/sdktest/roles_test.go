package sdktest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerregistry/armcontainerregistry"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/rbac"
	"github.com/cobaltbatch/cobalt/internal/sdkharness"
	"github.com/cobaltbatch/cobalt/internal/server"
)

// TestBuiltInRolesOnARegistry: each built-in role, assigned at a registry
// made through ARM, grants on the running registry what ACR documents:
// Owner and Contributor pull, push and delete; Reader and AcrPull pull;
// AcrPush pulls and pushes; AcrDelete deletes; no role, nothing. Each
// principal signs in with azidentity and the exchange flow, and ggcr does
// the pulling, pushing and deleting.
func TestBuiltInRolesOnARegistry(t *testing.T) {
	ctx := context.Background()
	h := sdkharness.Start(t, server.Options{})
	sub := h.EP.SubscriptionID
	groups, _ := armresources.NewResourceGroupsClient(sub, h.Admin(), h.ARMOptions())
	if _, err := groups.CreateOrUpdate(ctx, "rolesrg", armresources.ResourceGroup{Location: to.Ptr("eastus")}, nil); err != nil {
		t.Fatal(err)
	}
	regs, _ := armcontainerregistry.NewRegistriesClient(sub, h.Admin(), h.ARMOptions())
	p, err := regs.BeginCreate(ctx, "rolesrg", "rolesreg", armcontainerregistry.Registry{
		Location: to.Ptr("eastus"), SKU: &armcontainerregistry.SKU{Name: to.Ptr(armcontainerregistry.SKUNameStandard)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	created, err := p.PollUntilDone(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	host, regID := *created.Properties.LoginServer, *created.ID
	transport := h.HTTP.Transport

	// refresh signs a principal in to the registry: Entra token, then exchange.
	refresh := func(clientID, secret string) string {
		t.Helper()
		tok, err := h.Credential(clientID, secret).GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://containerregistry.azure.net/.default"}})
		if err != nil {
			t.Fatal(err)
		}
		form := url.Values{"grant_type": {"access_token"}, "service": {host}, "access_token": {tok.Token}}
		resp, err := h.HTTP.Post("https://"+host+"/oauth2/exchange", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			RefreshToken string `json:"refresh_token"`
		}
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&out) != nil || out.RefreshToken == "" {
			t.Fatalf("exchange: %d", resp.StatusCode)
		}
		return out.RefreshToken
	}
	opts := func(rt string) []remote.Option {
		return []remote.Option{remote.WithContext(ctx), remote.WithTransport(transport),
			remote.WithAuth(authn.FromConfig(authn.AuthConfig{Username: "00000000-0000-0000-0000-000000000000", IdentityToken: rt}))}
	}
	// The admin (Owner on the subscription) puts the image every role reads.
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := name.ParseReference(host + "/app:seed")
	if err := remote.Write(seed, img, opts(refresh(h.EP.AdminClientID, h.EP.AdminClientSecret))...); err != nil {
		t.Fatal(err)
	}
	scope, _ := cobalt.ParseResourceID(regID)
	authz := rbac.New(rbac.Config{Store: h.Server.Store()})
	for _, c := range []struct {
		role            string
		pull, push, del bool
	}{
		{rbac.RoleOwner, true, true, true},
		{rbac.RoleContributor, true, true, true},
		{rbac.RoleReader, true, false, false},
		{rbac.RoleAcrPull, true, false, false},
		{rbac.RoleAcrPush, true, true, false},
		{rbac.RoleAcrDelete, false, false, true},
		{"", false, false, false},
	} {
		roleName := "none"
		if d, ok := rbac.RoleByID(c.role); ok {
			roleName = d.RoleName
		}
		sp, secret, err := h.Server.Login().CreateServicePrincipal(ctx, h.EP.TenantID, "acr-"+strings.ReplaceAll(roleName, " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		if c.role != "" {
			if err := authz.Assign(ctx, rbac.RoleAssignmentInput{Scope: scope, RoleDefinitionID: c.role, PrincipalID: sp.ObjectID, PrincipalType: "ServicePrincipal"}); err != nil {
				t.Fatal(err)
			}
		}
		o := opts(refresh(sp.ClientID, secret))
		_, err = remote.Image(seed, o...)
		if got := err == nil; got != c.pull {
			t.Errorf("%s: pull allowed %v, want %v (%v)", roleName, got, c.pull, err)
		}
		own, _ := name.ParseReference(host + "/app:" + strings.ToLower(strings.ReplaceAll(roleName, " ", "")))
		err = remote.Write(own, img, o...)
		if got := err == nil; got != c.push {
			t.Errorf("%s: push allowed %v, want %v (%v)", roleName, got, c.push, err)
		}
		// Each deleter removes a tag of its own, pushed by the admin.
		victim, _ := name.ParseReference(host + "/victim/" + strings.ToLower(strings.ReplaceAll(roleName, " ", "")) + ":v1")
		if err := remote.Write(victim, img, opts(refresh(h.EP.AdminClientID, h.EP.AdminClientSecret))...); err != nil {
			t.Fatal(err)
		}
		err = remote.Delete(victim, o...)
		if got := err == nil; got != c.del {
			t.Errorf("%s: delete allowed %v, want %v (%v)", roleName, got, c.del, err)
		}
	}
}
