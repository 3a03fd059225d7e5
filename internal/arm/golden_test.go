package arm

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cobaltbatch/cobalt/internal/rbac"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

var (
	guidRE = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)
	timeRE = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`)
	keyRE  = regexp.MustCompile(`"value": "[A-Za-z0-9+/]{86}=="`)
	portRE = regexp.MustCompile(`127\.0\.0\.1:\d+`)
)

// scrub replaces the values that differ between runs: GUIDs other than the
// test tenant, subscription and built-in roles; times; keys.
func scrub(b []byte) []byte {
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		return b
	}
	s := buf.String()
	s = strings.ReplaceAll(s, testSub, "{subscriptionId}")
	s = strings.ReplaceAll(s, testTenant, "{tenantId}")
	s = strings.ReplaceAll(s, adminOID, "{adminObjectId}")
	s = guidRE.ReplaceAllStringFunc(s, func(g string) string {
		if r, ok := rbac.RoleByID(g); ok {
			return "{role:" + r.RoleName + "}"
		}
		return "{guid}"
	})
	s = timeRE.ReplaceAllString(s, "{time}")
	s = keyRE.ReplaceAllString(s, `"value": "{key}"`)
	s = portRE.ReplaceAllString(s, "127.0.0.1:{port}")
	return []byte(s + "\n")
}

func checkGolden(t *testing.T, name string, body []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".json")
	got := scrub(body)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestGolden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s:\n got: %s\nwant: %s", name, path, got, want)
	}
}

// TestGolden pins the JSON of every resource type, list and error the front
// door serves.
func TestGolden(t *testing.T) {
	f := newFixture(t)
	const target = "d0000000-0000-0000-0000-000000000006"
	f.principal(target)
	steps := []struct {
		name, method, path string
		body               any
		code               int
	}{
		{"resourcegroup_create", "PUT", rgPath + rgV, `{"location":"eastus","tags":{"env":"test"}}`, 201},
		{"resourcegroup_get", "GET", rgPath + rgV, nil, 200},
		{"resourcegroup_list", "GET", subPath + "/resourcegroups" + rgV, nil, 200},
		{"subscription_get", "GET", subPath + rgV, nil, 200},
		{"subscription_list", "GET", "/subscriptions" + rgV, nil, 200},
		{"identity_create", "PUT", miPath + "/uami1" + miV, `{"location":"eastus","tags":{"k":"v"}}`, 201},
		{"identity_get_2023-01-31", "GET", miPath + "/uami1?api-version=2023-01-31", nil, 200},
		{"identity_get_2026-05-31", "GET", miPath + "/uami1?api-version=2026-05-31", nil, 200},
		{"identity_list", "GET", miPath + miV, nil, 200},
		{"federatedcredential_create", "PUT", miPath + "/uami1/federatedIdentityCredentials/fic1" + miV, map[string]any{"properties": map[string]any{
			"issuer": "https://oidc.prod-aks.azure.com/TenantGUID/IssuerGUID", "subject": "system:serviceaccount:ns:svcaccount",
			"audiences": []string{"api://AzureADTokenExchange"}}}, 201},
		{"federatedcredential_list", "GET", miPath + "/uami1/federatedIdentityCredentials" + miV, nil, 200},
		{"error_federatedcredential_incomplete", "PUT", miPath + "/uami1/federatedIdentityCredentials/fic2" + miV,
			map[string]any{"properties": map[string]any{"issuer": "https://example.com"}}, 400},
		{"msi_operations", "GET", "/providers/Microsoft.ManagedIdentity/operations" + miV, nil, 200},
		{"roleassignment_create", "PUT", raPath + "/" + guid1 + raV, map[string]any{"properties": map[string]any{
			"roleDefinitionId": subPath + "/providers/Microsoft.Authorization/roleDefinitions/" + rbac.RoleStorageBlobDataReader,
			"principalId":      target, "principalType": "ServicePrincipal", "description": "golden"}}, 201},
		{"roleassignment_list_atscope", "GET", raPath + raV + "&$filter=atScope()", nil, 200},
		{"roledefinition_get", "GET", subPath + "/providers/Microsoft.Authorization/roleDefinitions/" + rbac.RoleManagedIdentityOperator + raV, nil, 200},
		{"roledefinition_get_tenant", "GET", "/providers/Microsoft.Authorization/roleDefinitions/" + rbac.RoleBatchAccountContributor + raV, nil, 200},
		{"storageaccount_create", "PUT", saPath + "/acct1" + saV, `{"sku":{"name":"Standard_LRS"},"kind":"StorageV2","location":"eastus"}`, 200},
		{"storageaccount_listkeys", "POST", saPath + "/acct1/listKeys" + saV, nil, 200},
		{"error_authorizationfailed", "PUT", miPath + "/uami2" + miV, `{"location":"eastus"}`, 403},
		{"error_api_version", "GET", miPath + "/uami1?api-version=2001-01-01", nil, 400},
		{"error_roleassignmentexists", "PUT", raPath + "/" + guid2 + raV, map[string]any{"properties": map[string]any{
			"roleDefinitionId": rbac.RoleStorageBlobDataReader, "principalId": target}}, 409},
		{"error_bad_body", "PUT", miPath + "/uami3" + miV, `{"location":["eastus"]}`, 400},
		{"error_not_found", "GET", miPath + "/nope" + miV, nil, 404},
	}
	for _, s := range steps {
		oid := adminOID
		if strings.HasPrefix(s.name, "error_authorizationfailed") {
			oid = readerID
		}
		r := f.do(oid, s.method, s.path, s.body)
		if r.Code != s.code {
			t.Fatalf("%s: status %d, want %d: %s", s.name, r.Code, s.code, r.Body)
		}
		checkGolden(t, s.name, r.Body)
	}
	// The long-running delete's headers and the operation status body.
	r := f.do(adminOID, "DELETE", rgPath+rgV, nil)
	if r.Code != 202 {
		t.Fatalf("delete: %d", r.Code)
	}
	loc := r.Header.Get("Location")
	f.waitOp(adminOID, loc)
	status := strings.Replace(strings.TrimPrefix(loc, "https://127.0.0.1:4443"), "/operationresults/", "/operationstatuses/", 1)
	checkGolden(t, "operation_status", f.must(f.do(adminOID, "GET", status, nil), 200).Body)
}
