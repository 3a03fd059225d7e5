package registryprovider

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cobaltbatch/cobalt"
)

func TestCreateGetGolden(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.group("rg1")
	r := f.mustStatus(f.do(adminOID, "PUT", regPath, regBody("standard", false)), http.StatusCreated)
	if r.Header.Get("ETag") == "" {
		t.Error("PUT response has no ETag")
	}
	golden(t, "registry_put.json", r.Body)
	g := f.mustStatus(f.do(adminOID, "GET", regPath, nil), http.StatusOK)
	golden(t, "registry_get.json", g.Body)
	if ls := g.json(t)["properties"].(map[string]any)["loginServer"]; ls != "127.0.0.1:42401" {
		t.Fatalf("loginServer %v", ls)
	}
	// Names fold case everywhere: the lookup, and the path.
	reg, err := f.prov.Lookup().LookupRegistry(context.Background(), "MYREGISTRY1")
	if err != nil {
		t.Fatal(err)
	}
	if reg.Name != "myRegistry1" || reg.LoginServer != "127.0.0.1:42401" || reg.AdminUserEnabled || reg.Passwords != [2]string{} ||
		!strings.EqualFold(reg.ID.String(), regPath) {
		t.Fatalf("LookupRegistry = %+v", reg)
	}
	f.mustStatus(f.do(adminOID, "GET", strings.ToLower(regPath), nil), http.StatusOK)
	// PUT again updates (200), keeping the login server.
	u := f.mustStatus(f.do(adminOID, "PUT", regPath, regBody("Premium", false)), http.StatusOK).json(t)
	if u["sku"].(map[string]any)["tier"] != "Premium" || u["properties"].(map[string]any)["loginServer"] != "127.0.0.1:42401" {
		t.Fatalf("update = %v", u)
	}
	// Lists, by group and by subscription.
	for _, p := range []string{rgPath + "/providers/Microsoft.ContainerRegistry/registries", "/subscriptions/" + testSub + "/providers/Microsoft.ContainerRegistry/registries"} {
		l := f.mustStatus(f.do(readerOID, "GET", p, nil), http.StatusOK).json(t)
		if v := l["value"].([]any); len(v) != 1 || v[0].(map[string]any)["name"] != "myRegistry1" {
			t.Fatalf("list %s = %v", p, l)
		}
	}
	ops := f.mustStatus(f.do(nobodyOID, "GET", "/providers/Microsoft.ContainerRegistry/operations", nil), http.StatusOK).json(t)
	if len(ops["value"].([]any)) == 0 {
		t.Fatal("no operations listed")
	}
}

func TestRBAC(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.group("rg1")
	for _, c := range []struct {
		oid, method, path string
		body              any
	}{
		{readerOID, "PUT", regPath, regBody("Basic", true)},
		{nobodyOID, "PUT", regPath, regBody("Basic", true)},
		{nobodyOID, "GET", regPath, nil},
	} {
		r := f.do(c.oid, c.method, c.path, c.body)
		if r.Code != http.StatusForbidden || r.err(t).Code != "AuthorizationFailed" {
			t.Fatalf("%s %s as %s: %d %s", c.method, c.path, c.oid, r.Code, r.Body)
		}
	}
	f.mustStatus(f.do(adminOID, "PUT", regPath, regBody("Basic", true)), http.StatusCreated)
	f.mustStatus(f.do(readerOID, "GET", regPath, nil), http.StatusOK)
	for _, c := range []struct{ method, path string }{
		{"POST", regPath + "/listCredentials"},
		{"PATCH", regPath},
		{"DELETE", regPath},
	} {
		r := f.do(readerOID, c.method, c.path, `{"name":"password"}`)
		if r.Code != http.StatusForbidden || r.err(t).Code != "AuthorizationFailed" {
			t.Fatalf("reader %s %s: %d %s", c.method, c.path, r.Code, r.Body)
		}
	}
	r := f.do(readerOID, "POST", regPath+"/regenerateCredential", `{"name":"password"}`)
	if r.Code != http.StatusForbidden {
		t.Fatalf("reader regenerate: %d %s", r.Code, r.Body)
	}
	if r := f.do("", "GET", regPath, nil); r.Code != http.StatusUnauthorized {
		t.Fatalf("anonymous GET: %d", r.Code)
	}
}

func TestCredentials(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.group("rg1")
	f.mustStatus(f.do(adminOID, "PUT", regPath, regBody("Basic", false)), http.StatusCreated)
	for _, p := range []string{"/listCredentials", "/regenerateCredential"} {
		r := f.do(adminOID, "POST", regPath+p, `{"name":"password"}`)
		if e := r.err(t); r.Code != http.StatusBadRequest || e.Code != "UnAuthorizedForCredentialOperations" ||
			!strings.Contains(e.Message, "as admin user is disabled") {
			t.Fatalf("%s with the admin user disabled: %d %s", p, r.Code, r.Body)
		}
	}
	f.mustStatus(f.do(adminOID, "PATCH", regPath, `{"properties":{"adminUserEnabled":true}}`), http.StatusOK)
	c := f.mustStatus(f.do(adminOID, "POST", regPath+"/listCredentials", nil), http.StatusOK).json(t)
	pw := c["passwords"].([]any)
	if c["username"] != "myRegistry1" || len(pw) != 2 || pw[0].(map[string]any)["name"] != "password" || pw[1].(map[string]any)["name"] != "password2" {
		t.Fatalf("credentials %v", c)
	}
	p1, p2 := pw[0].(map[string]any)["value"].(string), pw[1].(map[string]any)["value"].(string)
	if len(p1) != 52 || p1 == p2 {
		t.Fatalf("passwords %q %q", p1, p2)
	}
	for _, path := range []string{regPath, rgPath + "/providers/Microsoft.ContainerRegistry/registries"} {
		if b := f.do(adminOID, "GET", path, nil).Body; strings.Contains(string(b), p1) || strings.Contains(string(b), p2) {
			t.Fatalf("GET %s reveals a password: %s", path, b)
		}
	}
	reg, err := f.prov.Lookup().LookupRegistry(context.Background(), "myregistry1")
	if err != nil || !reg.AdminUserEnabled || reg.Passwords != [2]string{p1, p2} {
		t.Fatalf("lookup after enabling = %+v, %v", reg, err)
	}
	n := f.mustStatus(f.do(adminOID, "POST", regPath+"/regenerateCredential", `{"name":"password2"}`), http.StatusOK).json(t)["passwords"].([]any)
	if n[0].(map[string]any)["value"] != p1 || n[1].(map[string]any)["value"] == p2 {
		t.Fatalf("regenerate password2 = %v", n)
	}
	// The registry service sees the new password at once.
	if reg, _ := f.prov.Lookup().LookupRegistry(context.Background(), "myregistry1"); reg.Passwords[1] != n[1].(map[string]any)["value"] {
		t.Fatal("the lookup still returns the old password")
	}
	if r := f.do(adminOID, "POST", regPath+"/regenerateCredential", `{"name":"password3"}`); r.Code != 400 {
		t.Fatalf("regenerate password3: %d", r.Code)
	}
	// Disabling and enabling again keeps the passwords, as ACR does.
	f.mustStatus(f.do(adminOID, "PATCH", regPath, `{"properties":{"adminUserEnabled":false}}`), http.StatusOK)
	if r := f.do(adminOID, "POST", regPath+"/listCredentials", nil); r.Code != 400 {
		t.Fatalf("listCredentials after disabling: %d", r.Code)
	}
	if reg, _ := f.prov.Lookup().LookupRegistry(context.Background(), "myregistry1"); reg.AdminUserEnabled {
		t.Fatal("the lookup still has the admin user enabled")
	}
}

func TestNamesAndValidation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.group("rg1")
	f.group("rg2")
	f.mustStatus(f.do(adminOID, "PUT", regPath, regBody("Basic", false)), http.StatusCreated)
	other := "/subscriptions/" + testSub + "/resourceGroups/rg2/providers/Microsoft.ContainerRegistry/registries/MYREGISTRY1"
	if r := f.do(adminOID, "PUT", other, regBody("Basic", false)); r.Code != http.StatusConflict || r.err(t).Code != "AlreadyInUse" {
		t.Fatalf("a taken name in another group: %d %s", r.Code, r.Body)
	}
	check := func(name string) map[string]any {
		return f.mustStatus(f.do(adminOID, "POST", "/subscriptions/"+testSub+"/providers/Microsoft.ContainerRegistry/checkNameAvailability",
			map[string]any{"name": name, "type": "Microsoft.ContainerRegistry/registries"}), 200).json(t)
	}
	if c := check("MyRegistry1"); c["nameAvailable"] != false || c["reason"] != "AlreadyExists" {
		t.Fatalf("check taken = %v", c)
	}
	if c := check("free12345"); c["nameAvailable"] != true {
		t.Fatalf("check free = %v", c)
	}
	if c := check("a-b"); c["nameAvailable"] != false || c["reason"] != "Invalid" {
		t.Fatalf("check invalid = %v", c)
	}
	base := rgPath + "/providers/Microsoft.ContainerRegistry/registries/"
	for _, c := range []struct {
		name string
		body any
		code string
	}{
		{"abcd", regBody("Basic", false), "InvalidResourceName"},
		{"has-dash1", regBody("Basic", false), "InvalidResourceName"},
		{strings.Repeat("a", 51), regBody("Basic", false), "InvalidResourceName"},
		{"goodname1", map[string]any{"location": "eastus"}, "MissingRequiredProperty"},
		{"goodname1", map[string]any{"sku": map[string]any{"name": "Basic"}}, "LocationRequired"},
		{"goodname1", regBody("Classic", false), "InvalidSku"},
		{"goodname1", map[string]any{"location": "eastus", "sku": map[string]any{"name": "Basic"}, "identity": map[string]any{"type": "SystemAssigned"}}, "IdentityNotSupported"},
		{"goodname1", map[string]any{"location": "eastus", "sku": map[string]any{"name": "Basic"}, "properties": map[string]any{"publicNetworkAccess": "Disabled"}}, "FeatureNotSupported"},
		{"goodname1", `{"location":`, "InvalidRequestContent"},
		{"goodname1", `{"location":"eastus","sku":{"name":"Basic"},"properties":{"adminUserEnabled":"yes"}}`, "InvalidRequestContent"},
	} {
		r := f.do(adminOID, "PUT", base+c.name, c.body)
		if r.Code != http.StatusBadRequest || r.err(t).Code != c.code {
			t.Errorf("PUT %s %v: %d %s, want 400 %s", c.name, c.body, r.Code, r.Body, c.code)
		}
	}
	if r := f.do(adminOID, "PUT", "/subscriptions/"+testSub+"/resourceGroups/nogroup/providers/Microsoft.ContainerRegistry/registries/goodname1", regBody("Basic", false)); r.Code != 404 || r.err(t).Code != "ResourceGroupNotFound" {
		t.Fatalf("PUT in a missing group: %d %s", r.Code, r.Body)
	}
	if r := f.do(adminOID, "PATCH", base+"missing12", `{"tags":{}}`); r.Code != 404 {
		t.Fatalf("PATCH missing: %d", r.Code)
	}
	if r := f.do(adminOID, "PUT", regPath, map[string]any{"location": "westus", "sku": map[string]any{"name": "Basic"}}); r.Code != 400 {
		t.Fatalf("location change: %d %s", r.Code, r.Body)
	}
}

// TestConcurrentCreate races creations of one name in two groups: exactly one wins.
func TestConcurrentCreate(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.group("rg1")
	f.group("rg2")
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i, g := range []string{"rg1", "rg2"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = f.do(adminOID, "PUT", "/subscriptions/"+testSub+"/resourceGroups/"+g+"/providers/Microsoft.ContainerRegistry/registries/racer123", regBody("Basic", false)).Code
		}()
	}
	wg.Wait()
	slices.Sort(codes)
	if codes[0] != http.StatusCreated || codes[1] != http.StatusConflict {
		t.Fatalf("codes %v", codes)
	}
}

func TestDeleteCascades(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.group("rg1")
	f.mustStatus(f.do(adminOID, "PUT", regPath, regBody("Basic", true)), http.StatusCreated)
	f.assign(regPath, "7f951dda-4ed3-4680-a7ca-43fe172d538d", nobodyOID)
	r := f.mustStatus(f.do(adminOID, "DELETE", regPath, nil), http.StatusAccepted)
	f.mustStatus(f.wait(adminOID, r.Header.Get("Location")), http.StatusOK, http.StatusNoContent)
	if got := f.eps.log(); !slices.Equal(got, []string{"allocate myRegistry1", "release myRegistry1", "delete-content myRegistry1"}) {
		t.Fatalf("endpoint calls %v", got)
	}
	if r := f.do(adminOID, "GET", regPath, nil); r.Code != 404 {
		t.Fatalf("GET after delete: %d", r.Code)
	}
	if _, err := f.prov.Lookup().LookupRegistry(context.Background(), "myRegistry1"); !cobalt.IsCode(err, cobalt.ENotFound) {
		t.Fatalf("lookup after delete: %v", err)
	}
	if ok, _ := f.az.Allowed(context.Background(), nobodyOID, mustID(t, regPath), "Microsoft.ContainerRegistry/registries/pull/read"); ok {
		t.Fatal("the registry's role assignment outlived it")
	}
	f.mustStatus(f.do(adminOID, "DELETE", regPath, nil), http.StatusNoContent)

	// The name is free again; deleting the group removes the new registry and its content.
	f.mustStatus(f.do(adminOID, "PUT", regPath, regBody("Basic", false)), http.StatusCreated)
	second := rgPath + "/providers/Microsoft.ContainerRegistry/registries/another12"
	f.mustStatus(f.do(adminOID, "PUT", second, regBody("Basic", false)), http.StatusCreated)
	r = f.mustStatus(f.do(adminOID, "DELETE", rgPath+"?api-version=2021-04-01", nil), http.StatusAccepted)
	f.mustStatus(f.wait(adminOID, r.Header.Get("Location")), http.StatusOK, http.StatusNoContent)
	log := f.eps.log()[3:]
	for _, want := range []string{"release myRegistry1", "delete-content myRegistry1", "release another12", "delete-content another12"} {
		if !slices.Contains(log, want) {
			t.Fatalf("group delete: endpoint calls %v lack %q", log, want)
		}
	}
	if c := f.mustStatus(f.do(adminOID, "POST", "/subscriptions/"+testSub+"/providers/Microsoft.ContainerRegistry/checkNameAvailability",
		map[string]any{"name": "myRegistry1", "type": "Microsoft.ContainerRegistry/registries"}), 200).json(t); c["nameAvailable"] != true {
		t.Fatalf("the name is still taken after the group's delete: %v", c)
	}
}

// TestAllocationFailure: a registry whose listener cannot open is not left behind.
func TestAllocationFailure(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.group("rg1")
	f.eps.failNext = true
	if r := f.do(adminOID, "PUT", regPath, regBody("Basic", false)); r.Code != http.StatusInternalServerError {
		t.Fatalf("PUT with a failing allocation: %d %s", r.Code, r.Body)
	}
	f.mustStatus(f.do(adminOID, "GET", regPath, nil), http.StatusNotFound)
	f.mustStatus(f.do(adminOID, "PUT", regPath, regBody("Basic", false)), http.StatusCreated)
}

// TestRunReopens: on start, every registry's listener opens again and a
// changed port becomes its loginServer.
func TestRunReopens(t *testing.T) {
	t.Parallel()
	st := testStore(t)
	f := newFixtureOn(t, st, newFakeEndpoints())
	f.group("rg1")
	f.mustStatus(f.do(adminOID, "PUT", regPath, regBody("Basic", false)), http.StatusCreated)

	eps := newFakeEndpoints()
	eps.next = 7 // the old port is taken: the next start hands out another
	g := newFixtureOn(t, st, eps)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.prov.Run(ctx) }()
	for range 1000 {
		if reg, err := g.prov.Lookup().LookupRegistry(context.Background(), "myregistry1"); err == nil && reg.LoginServer == "127.0.0.1:42408" {
			break
		}
		g.prov.clearCache()
		sleepBriefly()
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := eps.log(); !slices.Equal(got, []string{"allocate myRegistry1"}) {
		t.Fatalf("calls at start %v", got)
	}
	ls := g.mustStatus(g.do(adminOID, "GET", regPath, nil), 200).json(t)["properties"].(map[string]any)["loginServer"]
	if ls != "127.0.0.1:42408" {
		t.Fatalf("loginServer after restart %v", ls)
	}
}

// TestRunSurvivesAFailedReopen: a registry whose listener cannot open at
// start does not stop the start; its next update opens it.
func TestRunSurvivesAFailedReopen(t *testing.T) {
	t.Parallel()
	st := testStore(t)
	f := newFixtureOn(t, st, newFakeEndpoints())
	f.group("rg1")
	f.mustStatus(f.do(adminOID, "PUT", regPath, regBody("Basic", false)), http.StatusCreated)

	eps := newFakeEndpoints()
	eps.next, eps.failNext = 20, true
	g := newFixtureOn(t, st, eps)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.prov.Run(ctx) }()
	for range 1000 {
		if len(eps.log()) > 0 {
			break
		}
		sleepBriefly()
	}
	if got := eps.log(); !slices.Equal(got, []string{"allocate myRegistry1"}) {
		t.Fatalf("calls at start %v", got)
	}
	u := g.mustStatus(g.do(adminOID, "PATCH", regPath, `{"tags":{"k":"v"}}`), http.StatusOK).json(t)
	if ls := u["properties"].(map[string]any)["loginServer"]; ls != "127.0.0.1:42421" {
		t.Fatalf("loginServer after the update %v", ls)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}
