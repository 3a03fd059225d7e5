package armtest

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
)

// nodeDir returns test/node, skipping when node is not installed.
func nodeDir(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not on PATH; skipping the @azure/arm-msi test")
	}
	dir, err := filepath.Abs(filepath.Join("..", "..", "..", "test", "node"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@azure", "arm-msi")); err != nil {
		t.Fatalf("@azure/arm-msi is not installed in %s: %v", dir, err)
	}
	return dir
}

func TestNodeArmMsi(t *testing.T) {
	t.Parallel()
	dir := nodeDir(t)
	e := newEnv(t)
	ctx := context.Background()
	groups, err := armresources.NewResourceGroupsClient(subID, e.credential(t, e.admin.ClientID, e.secret), e.options())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := groups.CreateOrUpdate(ctx, "noderg", armresources.ResourceGroup{Location: to.Ptr("eastus")}, nil); err != nil {
		t.Fatal(err)
	}
	nctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(nctx, "node", filepath.Join("arm", "msi.js"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"NODE_EXTRA_CA_CERTS="+e.ca.CAFile(),
		"ARM_ENDPOINT="+e.armURL,
		"ARM_AUTHORITY_HOST="+e.authURL,
		"ARM_TENANT_ID="+tenantID,
		"ARM_SUBSCRIPTION_ID="+subID,
		"ARM_CLIENT_ID="+e.admin.ClientID,
		"ARM_CLIENT_SECRET="+e.secret,
		"ARM_RESOURCE_GROUP=noderg",
	)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("node: %v\n%s", err, errb.String())
	}
	var res struct {
		ID, PrincipalID, ClientID, TenantID, GotName string
		SamePrincipal                                bool
		ByGroup, BySub                               []string
		Tags                                         map[string]string
		AfterDelete                                  int
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("node output %q: %v", out.String(), err)
	}
	if res.TenantID != tenantID || res.PrincipalID == "" || res.ClientID == "" || !res.SamePrincipal || res.GotName != "nodeuami" {
		t.Fatalf("result %+v", res)
	}
	if len(res.ByGroup) != 1 || len(res.BySub) != 1 || res.Tags["k"] != "v" || res.AfterDelete != 404 {
		t.Fatalf("result %+v", res)
	}
	if _, err := e.store.PrincipalGet(ctx, res.PrincipalID); err == nil {
		t.Fatal("the identity's principal survived its deletion")
	}
}
