package armtest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"

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
