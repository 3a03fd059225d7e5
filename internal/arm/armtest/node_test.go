package armtest

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/login/oidctest"
	"github.com/cobaltbatch/cobalt/internal/rbac"
	"github.com/cobaltbatch/cobalt/internal/testenv"
)

func TestNodeArmMsi(t *testing.T) {
	t.Parallel()
	testenv.Require(t, testenv.NodeModule("@azure/arm-msi"))
	e := newEnv(t)
	ctx := context.Background()
	groups, err := armresources.NewResourceGroupsClient(e.sub, e.credential(t, e.admin.ClientID, e.secret), e.options())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := groups.CreateOrUpdate(ctx, "noderg", armresources.ResourceGroup{Location: to.Ptr("eastus")}, nil); err != nil {
		t.Fatal(err)
	}
	nctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	out := testenv.RunNode(nctx, t, testenv.NodeRun{Script: "arm/msi.js", Modules: []string{"@azure/arm-msi", "@azure/identity"},
		CAFile: e.ca.CAFile(), Env: map[string]string{
			"ARM_ENDPOINT":        e.armURL,
			"ARM_AUTHORITY_HOST":  e.authURL,
			"ARM_TENANT_ID":       e.tenant,
			"ARM_SUBSCRIPTION_ID": e.sub,
			"ARM_CLIENT_ID":       e.admin.ClientID,
			"ARM_CLIENT_SECRET":   e.secret,
			"ARM_RESOURCE_GROUP":  "noderg",
		}})
	var res struct {
		ID, PrincipalID, ClientID, TenantID, GotName string
		SamePrincipal                                bool
		ByGroup, BySub                               []string
		Tags                                         map[string]string
		AfterDelete                                  int
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("node output %q: %v", out, err)
	}
	if res.TenantID != e.tenant || res.PrincipalID == "" || res.ClientID == "" || !res.SamePrincipal || res.GotName != "nodeuami" {
		t.Fatalf("result %+v", res)
	}
	if len(res.ByGroup) != 1 || len(res.BySub) != 1 || res.Tags["k"] != "v" || res.AfterDelete != 404 {
		t.Fatalf("result %+v", res)
	}
	if _, err := e.store.PrincipalGet(ctx, res.PrincipalID); err == nil {
		t.Fatal("the identity's principal survived its deletion")
	}
}

// TestNodeFederatedCredentials drives federated identity credentials with
// @azure/arm-msi and the token exchange with @azure/identity's
// ClientAssertionCredential, against an issuer served on loopback HTTPS.
func TestNodeFederatedCredentials(t *testing.T) {
	t.Parallel()
	testenv.Require(t, testenv.NodeModule("@azure/arm-msi"))
	e := newFICEnv(t)
	cert, err := e.ca.IssueServer("localhost", []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	issuer := oidctest.Start(t, &cert)
	e.assign(t, *e.mi.ID, rbac.RoleReader, *e.mi.Properties.PrincipalID)
	nctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := testenv.RunNode(nctx, t, testenv.NodeRun{Script: "arm/federated.js", Modules: []string{"@azure/arm-msi", "@azure/identity"},
		CAFile: e.ca.CAFile(), Env: map[string]string{
			"ARM_ENDPOINT":        e.armURL,
			"ARM_AUTHORITY_HOST":  e.authURL,
			"ARM_TENANT_ID":       e.tenant,
			"ARM_SUBSCRIPTION_ID": e.sub,
			"ARM_CLIENT_ID":       e.admin.ClientID,
			"ARM_CLIENT_SECRET":   e.secret,
			"ARM_RESOURCE_GROUP":  "rg1",
			"MI_NAME":             "uami1",
			"MI_CLIENT_ID":        *e.mi.Properties.ClientID,
			"FED_ISSUER":          issuer.URL,
			"FED_SUBJECT":         ficSubject,
			"FED_ASSERTION":       issuer.Sign(t, issuer.Claims(ficSubject, cobalt.DefaultFederatedAudience, time.Now())),
		}})
	var res struct {
		Operations                        []string
		CreatedType, GotSubject, SelfName string
		Listed                            []string
		Oid, Appidacr, AfterDelete        string
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("node output %q: %v", out, err)
	}
	if res.CreatedType != cobalt.FederatedCredentialType || res.GotSubject != ficSubject || len(res.Listed) != 1 || res.Listed[0] != "nodefic" {
		t.Fatalf("result %+v", res)
	}
	if res.Oid != *e.mi.Properties.PrincipalID || res.Appidacr != "2" || res.SelfName != "uami1" || res.AfterDelete != "AADSTS70021" {
		t.Fatalf("result %+v", res)
	}
	if !slices.Contains(res.Operations, "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/write") {
		t.Fatalf("operations %v", res.Operations)
	}
}
