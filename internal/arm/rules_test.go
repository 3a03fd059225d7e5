package arm

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/rbac"
	"github.com/cobaltbatch/cobalt/internal/store"
)

const (
	subPath  = "/subscriptions/" + testSub
	rgPath   = subPath + "/resourceGroups/rg1"
	miPath   = rgPath + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities"
	saPath   = rgPath + "/providers/Microsoft.Storage/storageAccounts"
	raPath   = rgPath + "/providers/Microsoft.Authorization/roleAssignments"
	miV      = "?api-version=2024-11-30"
	rgV      = "?api-version=2021-04-01"
	raV      = "?api-version=2022-04-01"
	saV      = "?api-version=2023-05-01"
	readerID = "r0000000-0000-0000-0000-000000000004"
	guid1    = "11111111-2222-3333-4444-555555555555"
	guid2    = "21111111-2222-3333-4444-555555555555"
)

func (f *fixture) must(r resp, code int) resp {
	f.t.Helper()
	if r.Code != code {
		f.t.Fatalf("status %d, want %d: %s", r.Code, code, r.Body)
	}
	return r
}

func (f *fixture) wantErr(r resp, status int, code string) {
	f.t.Helper()
	if r.Code != status {
		f.t.Fatalf("status %d, want %d: %s", r.Code, status, r.Body)
	}
	if got := r.errCode(f.t); got != code {
		f.t.Fatalf("code %q, want %q: %s", got, code, r.Body)
	}
}

func (f *fixture) group() {
	f.t.Helper()
	f.must(f.do(adminOID, "PUT", rgPath+rgV, `{"location":"East US"}`), 201)
}

// principal adds a service principal to the directory.
func (f *fixture) principal(oid string) {
	f.t.Helper()
	_, err := f.s.PrincipalCreate(context.Background(), store.PrincipalRecord{Principal: cobalt.Principal{
		ObjectID: oid, ClientID: newGUID(), TenantID: testTenant, Kind: cobalt.KindServicePrincipal}})
	if err != nil {
		f.t.Fatal(err)
	}
}

func TestReaderCannotCreateIdentity(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.group()
	f.assign(subPath, rbac.RoleReader, readerID)
	r := f.do(readerID, "PUT", miPath+"/mi1"+miV, `{"location":"eastus"}`)
	f.wantErr(r, 403, "AuthorizationFailed")
	want := "The client '" + readerID + "' with object id '" + readerID + "' does not have authorization to perform action 'Microsoft.ManagedIdentity/userAssignedIdentities/write' over scope '" + miPath + "/mi1' or the scope is invalid. If access was recently granted, please refresh your credentials."
	if m := r.json(t)["error"].(map[string]any)["message"]; m != want {
		t.Fatalf("message %q\nwant    %q", m, want)
	}
	// The Reader can read what the admin creates.
	f.must(f.do(adminOID, "PUT", miPath+"/mi1"+miV, `{"location":"eastus"}`), 201)
	f.must(f.do(readerID, "GET", miPath+"/mi1"+miV, nil), 200)
	f.wantErr(f.do(readerID, "DELETE", miPath+"/mi1"+miV, nil), 403, "AuthorizationFailed")
}

func TestContributorCannotCreateRoleAssignment(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.group()
	const contrib, uaa, target = "c0000000-0000-0000-0000-000000000003", "u0000000-0000-0000-0000-000000000005", "d0000000-0000-0000-0000-000000000006"
	f.principal(target)
	f.assign(rgPath, rbac.RoleContributor, contrib)
	f.assign(rgPath, rbac.RoleUserAccessAdministrator, uaa)
	body := map[string]any{"properties": map[string]any{"roleDefinitionId": subPath + "/providers/Microsoft.Authorization/roleDefinitions/" + rbac.RoleReader, "principalId": target}}
	f.wantErr(f.do(contrib, "PUT", raPath+"/"+guid1+raV, body), 403, "AuthorizationFailed")
	// The Contributor can still create identities; the User Access Administrator can assign roles.
	f.must(f.do(contrib, "PUT", miPath+"/mi1"+miV, `{"location":"eastus"}`), 201)
	f.must(f.do(uaa, "PUT", raPath+"/"+guid1+raV, body), 201)
}

func TestAPIVersions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.group()
	// What the official clients send is accepted.
	f.must(f.do(adminOID, "PUT", miPath+"/mi1?api-version=2024-11-30", `{"location":"eastus"}`), 201)
	f.must(f.do(adminOID, "GET", miPath+"/mi1?api-version=2023-01-31", nil), 200)
	f.must(f.do(adminOID, "GET", rgPath+"?api-version=2021-04-01", nil), 200)
	f.must(f.do(adminOID, "GET", raPath+"?api-version=2022-04-01", nil), 200)
	f.must(f.do(adminOID, "GET", saPath+"?api-version=2023-05-01", nil), 200)
	f.wantErr(f.do(adminOID, "GET", miPath+"/mi1", nil), 400, "MissingApiVersionParameter")
	f.wantErr(f.do(adminOID, "GET", miPath+"/mi1?api-version=2099-01-01", nil), 400, "NoRegisteredProviderFound")
	f.wantErr(f.do(adminOID, "GET", rgPath+"?api-version=2099-01-01", nil), 400, "InvalidApiVersionParameter")
	f.wantErr(f.do(adminOID, "GET", raPath+"?api-version=2024-11-30", nil), 400, "NoRegisteredProviderFound")
	r := f.do(adminOID, "GET", miPath+"/mi1?api-version=2099-01-01", nil)
	if e := r.json(t)["error"].(map[string]any); e["target"] != "api-version" || !strings.Contains(e["message"].(string), "2024-11-30") {
		t.Fatalf("error %v", e)
	}
}

func TestIfMatch(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.group()
	f.must(f.do(adminOID, "PUT", miPath+"/mi1"+miV, `{"location":"eastus"}`), 201)
	f.wantErr(f.do(adminOID, "PUT", miPath+"/mi1"+miV, `{"location":"eastus"}`, "If-Match", `"stale"`), 412, "PreconditionFailed")
	f.wantErr(f.do(adminOID, "PUT", miPath+"/mi1"+miV, `{"location":"eastus"}`, "If-None-Match", "*"), 412, "PreconditionFailed")
	f.wantErr(f.do(adminOID, "PUT", miPath+"/mi2"+miV, `{"location":"eastus"}`, "If-Match", "*"), 412, "PreconditionFailed")
	f.wantErr(f.do(adminOID, "DELETE", miPath+"/mi1"+miV, nil, "If-Match", `W/"0x77"`), 412, "PreconditionFailed")
	f.wantErr(f.do(adminOID, "PATCH", rgPath+rgV, `{"tags":{}}`, "If-Match", `W/"0x77"`), 412, "PreconditionFailed")
	f.must(f.do(adminOID, "PUT", miPath+"/mi1"+miV, `{"location":"eastus"}`, "If-Match", "*"), 200)
	f.must(f.do(adminOID, "PUT", miPath+"/mi3"+miV, `{"location":"eastus"}`, "If-None-Match", "*"), 201)
}

func TestIdentityLifecycle(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.wantErr(f.do(adminOID, "PUT", miPath+"/mi1"+miV, `{"location":"eastus"}`), 404, "ResourceGroupNotFound")
	f.group()
	r := f.must(f.do(adminOID, "PUT", miPath+"/mi1"+miV, `{"location":"eastus","tags":{"a":"b"}}`), 201)
	m := r.json(t)
	props := m["properties"].(map[string]any)
	oid := props["principalId"].(string)
	if props["tenantId"] != testTenant || props["clientId"] == "" || m["type"] != typeIdentity || m["name"] != "mi1" {
		t.Fatalf("identity %v", m)
	}
	p, err := f.s.PrincipalGet(context.Background(), oid)
	if err != nil || p.ResourceID != miPath+"/mi1" || p.ClientID != props["clientId"] {
		t.Fatalf("principal %+v, %v", p, err)
	}
	// PUT again: 200, same principal; case-insensitive path.
	r = f.must(f.do(adminOID, "PUT", strings.ToUpper(miPath)+"/MI1"+miV, `{"location":"eastus","tags":{"c":"d"}}`), 200)
	if r.json(t)["properties"].(map[string]any)["principalId"] != oid {
		t.Fatal("the principal changed on update")
	}
	got, err := f.srv.LookupIdentity(context.Background(), strings.ToLower(miPath+"/mi1"))
	if err != nil || got.ObjectID != oid || got.Kind != cobalt.KindManagedIdentity {
		t.Fatalf("LookupIdentity = %+v, %v", got, err)
	}
	r = f.must(f.do(adminOID, "PATCH", miPath+"/mi1"+miV, `{"tags":{"e":"f"}}`), 200)
	if tags := r.json(t)["tags"].(map[string]any); tags["e"] != "f" || len(tags) != 1 {
		t.Fatalf("tags %v", tags)
	}
	f.wantErr(f.do(adminOID, "PUT", miPath+"/a"+miV, `{"location":"eastus"}`), 400, "InvalidResourceName")
	f.wantErr(f.do(adminOID, "PUT", miPath+"/mi2"+miV, `{"tags":{}}`), 400, "LocationRequired")
	f.must(f.do(adminOID, "DELETE", miPath+"/mi1"+miV, nil), 200)
	f.must(f.do(adminOID, "DELETE", miPath+"/mi1"+miV, nil), 204)
	f.wantErr(f.do(adminOID, "GET", miPath+"/mi1"+miV, nil), 404, "ResourceNotFound")
	for _, kind := range []string{"identity.created", "identity.deleted", "identity.principal.deleted"} {
		if recs, _, _ := f.s.AuditList(context.Background(), kind, store.Page{}); len(recs) != 1 {
			t.Errorf("audit %s: %+v", kind, recs)
		}
	}
	if _, err := f.s.PrincipalGet(context.Background(), oid); !cobalt.IsCode(err, cobalt.ENotFound) {
		t.Fatalf("the principal outlived its identity: %v", err)
	}
	if _, err := f.srv.LookupIdentity(context.Background(), miPath+"/mi1"); !cobalt.IsCode(err, cobalt.ENotFound) {
		t.Fatalf("LookupIdentity after delete: %v", err)
	}
}

func TestListPaging(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.group()
	for _, n := range []string{"mi1", "mi2", "mi3"} {
		f.must(f.do(adminOID, "PUT", miPath+"/"+n+miV, `{"location":"eastus"}`), 201)
	}
	seen := 0
	path := miPath + miV + "&$top=2"
	for pages := 0; path != ""; pages++ {
		m := f.must(f.do(adminOID, "GET", path, nil), 200).json(t)
		seen += len(m["value"].([]any))
		next, _ := m["nextLink"].(string)
		path = strings.TrimPrefix(next, "https://127.0.0.1:4443")
		if pages > 3 {
			t.Fatal("too many pages")
		}
	}
	if seen != 3 {
		t.Fatalf("listed %d identities, want 3", seen)
	}
	m := f.must(f.do(adminOID, "GET", subPath+"/providers/Microsoft.ManagedIdentity/userAssignedIdentities"+miV, nil), 200).json(t)
	if len(m["value"].([]any)) != 3 {
		t.Fatalf("subscription list %v", m)
	}
	f.wantErr(f.do(adminOID, "GET", miPath+miV+"&$top=x", nil), 400, "InvalidQueryParameterValue")
}

func TestRoleAssignments(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.group()
	const target = "d0000000-0000-0000-0000-000000000006"
	f.principal(target)
	def := subPath + "/providers/Microsoft.Authorization/roleDefinitions/" + rbac.RoleStorageBlobDataReader
	body := map[string]any{"properties": map[string]any{"roleDefinitionId": def, "principalId": target}}
	r := f.must(f.do(adminOID, "PUT", raPath+"/"+guid1+raV, body), 201).json(t)
	props := r["properties"].(map[string]any)
	if props["principalType"] != "User" || props["scope"] != rgPath || props["roleDefinitionId"] != def {
		t.Fatalf("assignment %v", r)
	}
	// Idempotent PUT.
	f.must(f.do(adminOID, "PUT", raPath+"/"+guid1+raV, body), 200)
	// Same role, principal and scope under another name.
	r2 := f.do(adminOID, "PUT", raPath+"/"+guid2+raV, body)
	f.wantErr(r2, 409, "RoleAssignmentExists")
	if !strings.Contains(string(r2.Body), strings.ReplaceAll(guid1, "-", "")) {
		t.Fatalf("RoleAssignmentExists does not name the existing one: %s", r2.Body)
	}
	// principalType honoured.
	sp := map[string]any{"properties": map[string]any{"roleDefinitionId": rbac.RoleReader, "principalId": target, "principalType": "ServicePrincipal"}}
	if got := f.must(f.do(adminOID, "PUT", raPath+"/"+guid2+raV, sp), 201).json(t)["properties"].(map[string]any)["principalType"]; got != "ServicePrincipal" {
		t.Fatalf("principalType %v", got)
	}
	unknown := map[string]any{"properties": map[string]any{"roleDefinitionId": rbac.RoleReader, "principalId": "e0000000-0000-0000-0000-000000000007"}}
	f.wantErr(f.do(adminOID, "PUT", raPath+"/31111111-2222-3333-4444-555555555555"+raV, unknown), 400, "PrincipalNotFound")
	f.wantErr(f.do(adminOID, "PUT", raPath+"/not-a-guid"+raV, body), 400, "InvalidRoleAssignmentId")
	badRole := map[string]any{"properties": map[string]any{"roleDefinitionId": guid2, "principalId": target}}
	f.wantErr(f.do(adminOID, "PUT", raPath+"/41111111-2222-3333-4444-555555555555"+raV, badRole), 400, "RoleDefinitionDoesNotExist")
	f.wantErr(f.do(adminOID, "PUT", raPath+"/41111111-2222-3333-4444-555555555555"+raV, `{}`), 400, "InvalidRequestContent")
	// The assignment grants the data action below the resource group.
	acct, _ := cobalt.ParseResourceID(saPath + "/acct")
	if ok, _ := f.az.AllowedData(context.Background(), target, acct, "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"); !ok {
		t.Fatal("the assignment does not grant its data action")
	}
	count := func(path string) int {
		return len(f.must(f.do(adminOID, "GET", path, nil), 200).json(t)["value"].([]any))
	}
	// At the subscription: the admin's Owner assignment; below it, two more.
	if n := count(subPath + "/providers/Microsoft.Authorization/roleAssignments" + raV + "&$filter=atScope()"); n != 1 {
		t.Errorf("atScope() at the subscription: %d", n)
	}
	if n := count(subPath + "/providers/Microsoft.Authorization/roleAssignments" + raV); n != 3 {
		t.Errorf("at, above and below the subscription: %d", n)
	}
	if n := count(raPath + raV + "&$filter=" + "principalId%20eq%20'" + target + "'"); n != 2 {
		t.Errorf("principalId filter: %d", n)
	}
	if n := count(saPath + "/acct/providers/Microsoft.Authorization/roleAssignments" + raV + "&$filter=atScope()"); n != 3 {
		t.Errorf("atScope() at a resource below: %d", n)
	}
	f.wantErr(f.do(adminOID, "GET", raPath+raV+"&$filter=nonsense", nil), 400, "InvalidFilterInQueryString")
	f.must(f.do(adminOID, "GET", raPath+"/"+guid1+raV, nil), 200)
	f.must(f.do(adminOID, "DELETE", raPath+"/"+guid1+raV, nil), 200)
	f.must(f.do(adminOID, "DELETE", raPath+"/"+guid1+raV, nil), 204)
	f.wantErr(f.do(adminOID, "GET", raPath+"/"+guid1+raV, nil), 404, "RoleAssignmentNotFound")
	recs, _, _ := f.s.AuditList(context.Background(), "role.deleted", store.Page{})
	if len(recs) != 1 || recs[0].Actor != adminOID {
		t.Fatalf("audit %+v", recs)
	}
}

func TestRoleDefinitions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.must(f.do(adminOID, "GET", "/providers/Microsoft.Authorization/roleDefinitions/"+rbac.RoleUserAccessAdministrator+raV, nil), 200).json(t)
	if m["properties"].(map[string]any)["roleName"] != "User Access Administrator" {
		t.Fatalf("definition %v", m)
	}
	m = f.must(f.do(adminOID, "GET", subPath+"/providers/Microsoft.Authorization/roleDefinitions"+raV+"&$filter=roleName%20eq%20'Managed%20Identity%20Operator'", nil), 200).json(t)
	v := m["value"].([]any)
	if len(v) != 1 || v[0].(map[string]any)["name"] != rbac.RoleManagedIdentityOperator {
		t.Fatalf("filtered list %v", m)
	}
	f.wantErr(f.do(adminOID, "GET", subPath+"/providers/Microsoft.Authorization/roleDefinitions/"+guid1+raV, nil), 404, "RoleDefinitionDoesNotExist")
}

func TestStorageAccounts(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.group()
	body := `{"sku":{"name":"Standard_LRS"},"kind":"StorageV2","location":"eastus"}`
	f.wantErr(f.do(adminOID, "PUT", saPath+"/Bad-Name"+saV, body), 400, "AccountNameInvalid")
	f.wantErr(f.do(adminOID, "PUT", saPath+"/ab"+saV, body), 400, "AccountNameInvalid")
	f.wantErr(f.do(adminOID, "PUT", saPath+"/acct1"+saV, `{"kind":"StorageV2","location":"eastus"}`), 400, "MissingRequiredProperty")
	m := f.must(f.do(adminOID, "PUT", saPath+"/acct1"+saV, body), 200).json(t)
	if ep := m["properties"].(map[string]any)["primaryEndpoints"].(map[string]any)["blob"]; ep != "https://127.0.0.1:10000/acct1/" {
		t.Fatalf("blob endpoint %v", ep)
	}
	if strings.Contains(string(f.do(adminOID, "GET", saPath+"/acct1"+saV, nil).Body), `"keys"`) {
		t.Fatal("GET returns the keys")
	}
	// PATCH replaces the tags under the ETag precondition and keeps the keys.
	f.wantErr(f.do(adminOID, "PATCH", saPath+"/acct1"+saV, `{"tags":{"a":"b"}}`, "If-Match", `W/"0x77"`), 412, "PreconditionFailed")
	pm := f.must(f.do(adminOID, "PATCH", saPath+"/acct1"+saV, `{"tags":{"a":"b"}}`), 200).json(t)
	if tags, _ := pm["tags"].(map[string]any); tags["a"] != "b" || strings.Contains(fmt.Sprint(pm), "keys") {
		t.Fatalf("PATCH returned %v", pm)
	}
	f.wantErr(f.do(adminOID, "PATCH", saPath+"/nope1"+saV, `{"tags":{}}`), 404, "ResourceNotFound")
	f.must(f.do(adminOID, "PUT", "/subscriptions/"+testSub+"/resourceGroups/rg2"+rgV, `{"location":"eastus"}`), 201)
	f.wantErr(f.do(adminOID, "PUT", subPath+"/resourceGroups/rg2/providers/Microsoft.Storage/storageAccounts/acct1"+saV, body), 409, "StorageAccountAlreadyTaken")
	keys := func(r resp) []string {
		var out []string
		for _, k := range r.json(t)["keys"].([]any) {
			out = append(out, k.(map[string]any)["value"].(string))
		}
		return out
	}
	k1 := keys(f.must(f.do(adminOID, "POST", saPath+"/acct1/listKeys"+saV, nil), 200))
	if len(k1) != 2 || k1[0] == k1[1] {
		t.Fatalf("keys %v", k1)
	}
	if raw, err := base64.StdEncoding.DecodeString(k1[0]); err != nil || len(raw) != 64 {
		t.Fatalf("key %q is not 64 random bytes in base64", k1[0])
	}
	if lk, err := f.srv.LookupStorageAccount(context.Background(), "ACCT1"); err != nil || lk.Keys[0] != k1[0] || !lk.SharedKeyAccess {
		t.Fatalf("LookupStorageAccount before regeneration = %v, %v", lk, err)
	}
	k2 := keys(f.must(f.do(adminOID, "POST", saPath+"/acct1/regenerateKey"+saV, `{"keyName":"key1"}`), 200))
	if k2[0] == k1[0] || k2[1] != k1[1] {
		t.Fatalf("regenerate key1: %v -> %v", k1, k2)
	}
	f.wantErr(f.do(adminOID, "POST", saPath+"/acct1/regenerateKey"+saV, `{"keyName":"key3"}`), 400, "InvalidValuesForRequestParameters")
	lk, err := f.srv.LookupStorageAccount(context.Background(), "acct1")
	if err != nil || lk.Keys[0] != k2[0] || !strings.EqualFold(lk.ID.String(), saPath+"/acct1") {
		t.Fatalf("LookupStorageAccount = %v %v", lk, err)
	}
	// A Reader sees the account but not its keys.
	f.assign(subPath, rbac.RoleReader, readerID)
	f.must(f.do(readerID, "GET", saPath+"/acct1"+saV, nil), 200)
	f.wantErr(f.do(readerID, "POST", saPath+"/acct1/listKeys"+saV, nil), 403, "AuthorizationFailed")
	f.must(f.do(adminOID, "DELETE", saPath+"/acct1"+saV, nil), 200)
	if _, err := f.srv.LookupStorageAccount(context.Background(), "acct1"); !cobalt.IsCode(err, cobalt.ENotFound) {
		t.Fatalf("LookupStorageAccount after delete: %v", err)
	}
}

func TestResourceGroupDeleteCascades(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.group()
	oid := f.must(f.do(adminOID, "PUT", miPath+"/mi1"+miV, `{"location":"eastus"}`), 201).json(t)["properties"].(map[string]any)["principalId"].(string)
	f.must(f.do(adminOID, "PUT", saPath+"/acct1"+saV, `{"sku":{"name":"Standard_LRS"},"kind":"StorageV2","location":"eastus"}`), 200)
	f.assign(saPath+"/acct1", rbac.RoleStorageBlobDataReader, oid)
	f.assign(rgPath, rbac.RoleReader, readerID)
	r := f.must(f.do(adminOID, "DELETE", rgPath+rgV, nil), 202)
	if loc := r.Header.Get("Location"); !strings.Contains(loc, "/operationresults/") || !strings.Contains(loc, "api-version=2021-04-01") {
		t.Fatalf("Location %q", loc)
	}
	if fin := f.waitOp(adminOID, r.Header.Get("Location")); fin.Code != 204 {
		t.Fatalf("result %d %s", fin.Code, fin.Body)
	}
	f.wantErr(f.do(adminOID, "GET", rgPath+rgV, nil), 404, "ResourceGroupNotFound")
	rs, _, _ := f.s.ResourceList(context.Background(), store.ResourceListParams{WithinKey: strings.ToLower(rgPath)})
	if len(rs) != 0 {
		t.Fatalf("%d resources left in the deleted group", len(rs))
	}
	if _, err := f.s.PrincipalGet(context.Background(), oid); !cobalt.IsCode(err, cobalt.ENotFound) {
		t.Fatalf("the identity's principal survived: %v", err)
	}
	as, _, _ := f.s.RoleAssignmentList(context.Background(), store.RoleAssignmentListParams{})
	if len(as) != 1 { // only the admin's Owner on the subscription
		t.Fatalf("assignments left: %+v", as)
	}
	f.wantErr(f.do(adminOID, "DELETE", rgPath+rgV, nil), 404, "ResourceGroupNotFound")
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.group()
	for _, c := range []struct {
		name, body, code, target string
	}{
		{"malformed", `{"location":`, "InvalidRequestContent", ""},
		{"wrong type", `{"location":5}`, "InvalidRequestContent", "location"},
		{"wrong nested type", `{"location":"eastus","tags":{"a":1}}`, "InvalidRequestContent", "tags"},
		{"empty", ``, "InvalidRequestContent", ""},
		{"trailing", `{"location":"eastus"} {}`, "InvalidRequestContent", ""},
		{"oversized", `{"location":"eastus","tags":{"a":"` + strings.Repeat("x", 70<<10) + `"}}`, "RequestContentTooLarge", "body"},
		{"bad tag", `{"location":"eastus","tags":{"a/b":"c"}}`, "InvalidTagName", "tags"},
	} {
		r := f.do(adminOID, "PUT", miPath+"/mi1"+miV, c.body)
		if r.Code != 400 {
			t.Errorf("%s: status %d: %s", c.name, r.Code, r.Body)
			continue
		}
		e := r.json(t)["error"].(map[string]any)
		if e["code"] != c.code || (c.target != "" && e["target"] != c.target) {
			t.Errorf("%s: error %v, want code %s target %q", c.name, e, c.code, c.target)
		}
	}
	f.wantErr(f.do(adminOID, "PUT", subPath+"/resourceGroups/bad*name"+rgV, `{"location":"eastus"}`), 400, "InvalidResourceGroupName")
	// 90 characters (letters of any script count once each) is the limit.
	long := strings.Repeat("é", 89)
	if r := f.do(adminOID, "PUT", subPath+"/resourceGroups/"+url.PathEscape(long+"x")+rgV, `{"location":"eastus"}`); r.Code != 201 {
		t.Errorf("a 90-character name: status %d: %s", r.Code, r.Body)
	}
	f.wantErr(f.do(adminOID, "PUT", subPath+"/resourceGroups/"+url.PathEscape(long+"xy")+rgV, `{"location":"eastus"}`), 400, "InvalidResourceGroupName")
	f.wantErr(f.do(adminOID, "GET", "/subscriptions/99999999-0000-0000-0000-000000000000/resourceGroups/rg1"+rgV, nil), 404, "SubscriptionNotFound")
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.do("", "GET", subPath+rgV, nil)
	f.wantErr(r, 401, "AuthenticationFailed")
	if h := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Bearer authorization_uri=") || !strings.Contains(h, `error="invalid_token"`) {
		t.Fatalf("WWW-Authenticate %q", h)
	}
	req := f.do("", "GET", subPath+rgV, nil, "Authorization", "Bearer forged")
	f.wantErr(req, 401, "InvalidAuthenticationToken")
	f.wantErr(f.do("", "GET", subPath+rgV, nil, "Authorization", "Basic abc"), 401, "AuthenticationFailed")
	// Correlation IDs are echoed.
	r = f.do(adminOID, "GET", subPath+rgV, nil, "x-ms-correlation-request-id", "corr-1")
	if r.Header.Get("x-ms-correlation-request-id") != "corr-1" || r.Header.Get("x-ms-request-id") == "" {
		t.Fatalf("headers %v", r.Header)
	}
}

func TestSubscriptions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if m := f.must(f.do(adminOID, "GET", "/tenants?api-version=2022-12-01", nil), 200).json(t); m["value"].([]any)[0].(map[string]any)["tenantId"] != testTenant {
		t.Fatalf("tenants %v", m)
	}
	m := f.must(f.do(adminOID, "GET", "/subscriptions"+rgV, nil), 200).json(t)
	if v := m["value"].([]any); len(v) != 1 || v[0].(map[string]any)["subscriptionId"] != testSub {
		t.Fatalf("list %v", m)
	}
	if m := f.must(f.do("x0000000-0000-0000-0000-000000000009", "GET", "/subscriptions"+rgV, nil), 200).json(t); len(m["value"].([]any)) != 0 {
		t.Fatalf("a stranger sees the subscription: %v", m)
	}
	f.must(f.do(adminOID, "GET", subPath+rgV, nil), 200)
	f.must(f.do(adminOID, "HEAD", rgPath+rgV, nil), 404)
	f.group()
	f.must(f.do(adminOID, "HEAD", rgPath+rgV, nil), 204)
	if r := f.do(adminOID, "PUT", rgPath+rgV, `{"location":"westus"}`); r.Code != http.StatusConflict {
		t.Fatalf("moving a group: %d %s", r.Code, r.Body)
	}
}

func TestStorageCheckNameAvailability(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.group()
	f.must(f.do(adminOID, "PUT", saPath+"/taken1"+saV, `{"sku":{"name":"Standard_LRS"},"kind":"StorageV2","location":"eastus"}`), 200)
	path := subPath + "/providers/Microsoft.Storage/checkNameAvailability" + saV
	for name, want := range map[string]string{"free1": "", "taken1": "AlreadyExists", "Bad_Name": "AccountNameInvalid"} {
		m := f.must(f.do(adminOID, "POST", path, map[string]string{"name": name, "type": "Microsoft.Storage/storageAccounts"}), 200).json(t)
		if (want == "") != (m["nameAvailable"] == true) || (want != "" && m["reason"] != want) {
			t.Errorf("%s: %v", name, m)
		}
	}
}

func TestOperationsCollected(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.group()
	r := f.must(f.do(adminOID, "DELETE", rgPath+rgV, nil), 202)
	f.waitOp(adminOID, r.Header.Get("Location"))
	if err := f.srv.ops.collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.must(f.do(adminOID, "GET", strings.TrimPrefix(r.Header.Get("Location"), "https://127.0.0.1:4443"), nil), 204)
	f.srv.cfg.Now = func() time.Time { return time.Now().Add(2 * operationRetention) }
	if err := f.srv.ops.collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.wantErr(f.do(adminOID, "GET", strings.TrimPrefix(r.Header.Get("Location"), "https://127.0.0.1:4443"), nil), 404, "OperationNotFound")
}

func TestInterruptedOperationsFail(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if f.s.Dialect() != "sqlite" {
		t.Skip("only a SQLite store has one owning process")
	}
	// An operation a previous process left in progress.
	id := operationID(testSub, guid1)
	body := []byte(`{"status":"InProgress","startTime":"2020-01-01T00:00:00Z","caller":"` + adminOID + `"}`)
	if _, err := f.s.ResourceCreate(context.Background(), NewResource(id, body)); err != nil {
		t.Fatal(err)
	}
	srv, err := New(f.srv.cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = srv.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	h := srv.Handler()
	for range 500 {
		req := httptest.NewRequest("GET", "https://127.0.0.1:4443/subscriptions/"+testSub+"/operationresults/"+guid1, nil)
		req.Header.Set("Authorization", "Bearer tok-"+adminOID)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 202 {
			if !strings.Contains(w.Body.String(), "OperationInterrupted") {
				t.Fatalf("interrupted operation: %d %s", w.Code, w.Body)
			}
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("the interrupted operation stayed in progress")
}

func TestProviderRegistrations(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.must(f.do(adminOID, "GET", subPath+"/providers"+rgV, nil), 200).json(t)
	names := map[string]bool{}
	for _, v := range m["value"].([]any) {
		names[v.(map[string]any)["namespace"].(string)] = true
	}
	for _, ns := range []string{"Microsoft.ManagedIdentity", "Microsoft.Authorization", "Microsoft.Storage"} {
		if !names[ns] {
			t.Errorf("%s missing from %v", ns, names)
		}
	}
	info := f.must(f.do(adminOID, "GET", subPath+"/providers/microsoft.managedidentity"+rgV, nil), 200).json(t)
	var types []string
	for _, x := range info["resourceTypes"].([]any) {
		types = append(types, x.(map[string]any)["resourceType"].(string))
	}
	// As Azure lists them: the identities, their federated credentials and the operations list.
	if want := "operations,userAssignedIdentities,userAssignedIdentities/federatedIdentityCredentials"; info["registrationState"] != "Registered" || strings.Join(types, ",") != want {
		t.Fatalf("provider %v, want types %s", info, want)
	}
	f.must(f.do(adminOID, "POST", subPath+"/providers/Microsoft.Storage/register"+rgV, nil), 200)
	f.wantErr(f.do(adminOID, "GET", subPath+"/providers/Nope.Nope"+rgV, nil), 404, "InvalidResourceNamespace")
	f.assign(subPath, rbac.RoleReader, readerID)
	f.wantErr(f.do(readerID, "POST", subPath+"/providers/Microsoft.Storage/register"+rgV, nil), 403, "AuthorizationFailed")
}

// TestStorageSharedKeyAccessReachesBlob checks that allowSharedKeyAccess,
// set at creation or changed by a later PUT, is what the blob service sees
// at once.
func TestStorageSharedKeyAccessReachesBlob(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.group()
	ctx := context.Background()
	put := func(allow string) {
		t.Helper()
		f.must(f.do(adminOID, "PUT", saPath+"/acct2"+saV,
			`{"sku":{"name":"Standard_LRS"},"kind":"StorageV2","location":"eastus","properties":{"allowSharedKeyAccess":`+allow+`}}`), 200)
	}
	put("false")
	if a, err := f.srv.LookupStorageAccount(ctx, "acct2"); err != nil || a.SharedKeyAccess {
		t.Fatalf("after creation with allowSharedKeyAccess false: %+v %v", a.SharedKeyAccess, err)
	}
	put("true")
	if a, err := f.srv.LookupStorageAccount(ctx, "acct2"); err != nil || !a.SharedKeyAccess {
		t.Fatalf("after allowSharedKeyAccess true: %+v %v", a.SharedKeyAccess, err)
	}
	put("false")
	if a, err := f.srv.LookupStorageAccount(ctx, "acct2"); err != nil || a.SharedKeyAccess {
		t.Fatalf("after allowSharedKeyAccess false again: %+v %v", a.SharedKeyAccess, err)
	}
}

// TestStorageDeleteDropsBlobData checks that deleting a storage account,
// directly or with its resource group, deletes its containers and blobs: an
// account created later with the same name sees nothing of the old one.
func TestStorageDeleteDropsBlobData(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.group()
	ctx := context.Background()
	body := `{"sku":{"name":"Standard_LRS"},"kind":"StorageV2","location":"eastus"}`
	fill := func() {
		t.Helper()
		if _, err := f.s.BlobContainerCreate(ctx, store.BlobContainer{Account: "acct1", Name: "data", ETag: "0x1"}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.s.BlobPut(ctx, "acct1", "data", "secret.txt", func(*store.BlobRecord, []store.BlobBlock) (store.BlobRecord, error) {
			return store.BlobRecord{ETag: "0x2", Extents: []store.BlobExtent{{File: "f1", Size: 1}}}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	empty := func(when string) {
		t.Helper()
		if cs, err := f.s.BlobContainerList(ctx, "acct1", "", "", 10); err != nil || len(cs) != 0 {
			t.Fatalf("%s: containers %+v %v", when, cs, err)
		}
		if _, err := f.s.BlobGet(ctx, "acct1", "data", "secret.txt"); !cobalt.IsCode(err, cobalt.ENotFound) {
			t.Fatalf("%s: blob survived: %v", when, err)
		}
	}
	f.must(f.do(adminOID, "PUT", saPath+"/acct1"+saV, body), 200)
	fill()
	f.must(f.do(adminOID, "DELETE", saPath+"/acct1"+saV, nil), 200)
	empty("after deleting the account")

	f.must(f.do(adminOID, "PUT", saPath+"/acct1"+saV, body), 200)
	empty("in the new account of the same name")
	fill()
	r := f.must(f.do(adminOID, "DELETE", rgPath+rgV, nil), 202)
	if fin := f.waitOp(adminOID, r.Header.Get("Location")); fin.Code != 204 {
		t.Fatalf("delete the group: %d %s", fin.Code, fin.Body)
	}
	empty("after deleting the resource group")
}
