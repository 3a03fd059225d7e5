package arm

import (
	"net/url"
	"sort"
	"testing"

	"github.com/cobaltbatch/cobalt/internal/rbac"
)

// TestGenericResourcesFilteredPerCaller lists identities through ARM's
// generic resource list: the subscription-wide identity list refuses a user
// whose rights are on one identity, the generic list shows that user exactly
// that identity, and the admin every one.
func TestGenericResourcesFilteredPerCaller(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.group()
	f.must(f.do(adminOID, "PUT", subPath+"/resourceGroups/rg2"+rgV, `{"location":"eastus"}`), 201)
	rg2 := subPath + "/resourceGroups/rg2/providers/Microsoft.ManagedIdentity/userAssignedIdentities"
	for _, p := range []string{miPath + "/mi1", miPath + "/mi2", rg2 + "/mi3"} {
		f.must(f.do(adminOID, "PUT", p+miV, `{"location":"eastus"}`), 201)
	}
	f.must(f.do(adminOID, "PUT", saPath+"/sa1portal"+saV, `{"location":"eastus","kind":"StorageV2","sku":{"name":"Standard_LRS"}}`), 200)
	const user = "e0000000-0000-0000-0000-000000000007"
	f.assign(rg2+"/mi3", rbac.RoleReader, user)

	f.wantErr(f.do(user, "GET", subPath+"/providers/Microsoft.ManagedIdentity/userAssignedIdentities"+miV, nil), 403, "AuthorizationFailed")
	list := func(oid, filter string) []string {
		t.Helper()
		q := rgV
		if filter != "" {
			q += "&$filter=" + url.QueryEscape(filter)
		}
		var names []string
		for _, v := range f.must(f.do(oid, "GET", subPath+"/resources"+q, nil), 200).json(t)["value"].([]any) {
			names = append(names, v.(map[string]any)["name"].(string)+"|"+v.(map[string]any)["type"].(string))
		}
		sort.Strings(names)
		return names
	}
	const miType = "Microsoft.ManagedIdentity/userAssignedIdentities"
	if got := list(user, "resourceType eq '"+miType+"'"); len(got) != 1 || got[0] != "mi3|"+miType {
		t.Fatalf("user sees %v", got)
	}
	if got := list(adminOID, "resourceType eq '"+miType+"'"); len(got) != 3 {
		t.Fatalf("admin sees %v", got)
	}
	if got := list(adminOID, ""); len(got) != 4 { // three identities, one storage account, no groups
		t.Fatalf("admin sees %v without a filter", got)
	}
	if got := list(user, ""); len(got) != 1 {
		t.Fatalf("user sees %v without a filter", got)
	}
	f.wantErr(f.do(adminOID, "GET", subPath+"/resources"+rgV+"&$filter="+url.QueryEscape("name eq 'x'"), nil), 400, "InvalidFilterInQueryString")
}
