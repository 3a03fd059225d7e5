package batchprovider

import (
	"strings"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/rbac"
)

func TestAccountLifecycle(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	f.setup()
	r := f.mustOK(f.do(adminOID, "GET", acctPath, nil), 200)
	m := r.json(t)
	props := m["properties"].(map[string]any)
	if props["accountEndpoint"] != "127.0.0.1:20001" || props["provisioningState"] != "Succeeded" || m["type"] != TypeAccount {
		t.Fatalf("account = %s", r.Body)
	}
	golden(t, "account.json", r.Body)
	// Names are unique across resource groups (each has its own endpoint).
	f.mustOK(f.do(adminOID, "PUT", "/subscriptions/"+testSub+"/resourceGroups/rg2?api-version=2021-04-01", map[string]any{"location": "eastus"}), 201)
	if r := f.do(adminOID, "PUT", "/subscriptions/"+testSub+"/resourceGroups/rg2/providers/Microsoft.Batch/batchAccounts/ACCT1", map[string]any{"location": "eastus"}); r.Code != 409 {
		t.Fatalf("duplicate name: %d %s", r.Code, r.Body)
	}
	// Keys.
	k1 := f.mustOK(f.do(adminOID, "POST", acctPath+"/listKeys", nil), 200).json(t)
	if k1["accountName"] != "acct1" || len(k1["primary"].(string)) != 88 {
		t.Fatalf("keys = %v", k1)
	}
	k2 := f.mustOK(f.do(adminOID, "POST", acctPath+"/regenerateKeys", map[string]any{"keyName": "Secondary"}), 200).json(t)
	if k2["primary"] != k1["primary"] || k2["secondary"] == k1["secondary"] {
		t.Fatal("regenerateKeys changed the wrong key")
	}
	if r := f.do(adminOID, "POST", acctPath+"/regenerateKeys", map[string]any{"keyName": "Tertiary"}); r.Code != 400 {
		t.Fatalf("bad key name: %d", r.Code)
	}
	// PATCH: tags and authentication modes; without SharedKey, listKeys fails.
	r = f.mustOK(f.do(adminOID, "PATCH", acctPath, map[string]any{"tags": map[string]string{"a": "b"},
		"properties": map[string]any{"allowedAuthenticationModes": []string{"AAD"}}}), 200)
	if m := r.json(t); m["tags"].(map[string]any)["a"] != "b" {
		t.Fatalf("patch: %s", r.Body)
	}
	if r := f.do(adminOID, "POST", acctPath+"/listKeys", nil); r.Code != 400 {
		t.Fatalf("listKeys without SharedKey: %d", r.Code)
	}
	// Lists.
	for _, p := range []string{rgPath + "/providers/Microsoft.Batch/batchAccounts", "/subscriptions/" + testSub + "/providers/Microsoft.Batch/batchAccounts"} {
		l := f.mustOK(f.do(adminOID, "GET", p, nil), 200).json(t)
		if v := l["value"].([]any); len(v) != 1 {
			t.Fatalf("list %s: %v", p, l)
		}
	}
	// Auto-storage must name an existing storage account.
	if r := f.do(adminOID, "PATCH", acctPath, map[string]any{"properties": map[string]any{"autoStorage": map[string]any{
		"storageAccountId": rgPath + "/providers/Microsoft.Storage/storageAccounts/nope"}}}); r.Code != 400 || r.err(t).Target != "properties.autoStorage.storageAccountId" {
		t.Fatalf("missing storage: %d %s", r.Code, r.Body)
	}
	f.mustOK(f.do(adminOID, "PUT", rgPath+"/providers/Microsoft.Storage/storageAccounts/store1?api-version=2023-01-01",
		map[string]any{"location": "eastus", "sku": map[string]any{"name": "Standard_LRS"}, "kind": "StorageV2"}), 200, 201, 202)
	r = f.mustOK(f.do(adminOID, "PATCH", acctPath, map[string]any{"properties": map[string]any{"autoStorage": map[string]any{
		"storageAccountId": rgPath + "/providers/Microsoft.Storage/storageAccounts/store1"}}}), 200)
	if as := r.json(t)["properties"].(map[string]any)["autoStorage"].(map[string]any); as["authenticationMode"] != "StorageKeys" {
		t.Fatalf("autoStorage = %v", as)
	}
	// Delete is long-running; the endpoint is released.
	r = f.mustOK(f.do(adminOID, "DELETE", acctPath, nil), 202)
	if r.Header.Get("Location") == "" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("delete headers: %v", r.Header)
	}
	f.mustOK(f.wait(adminOID, r.Header.Get("Location")), 200, 204)
	f.mustOK(f.do(adminOID, "GET", acctPath, nil), 404)
	if len(f.eps.released) != 1 || f.eps.released[0] != "acct1" {
		t.Fatalf("released = %v", f.eps.released)
	}
}

func TestAccountValidation(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	f.setup()
	for _, c := range []struct {
		name, path string
		body       any
		code       int
		target     string
	}{
		{"bad name", rgPath + "/providers/Microsoft.Batch/batchAccounts/a-b", map[string]any{"location": "eastus"}, 400, "accountName"},
		{"no location", rgPath + "/providers/Microsoft.Batch/batchAccounts/acct2", map[string]any{}, 400, "location"},
		{"bad identity type", rgPath + "/providers/Microsoft.Batch/batchAccounts/acct2", map[string]any{"location": "eastus", "identity": map[string]any{"type": "Both"}}, 400, "identity.type"},
		{"user assigned without ids", rgPath + "/providers/Microsoft.Batch/batchAccounts/acct2", map[string]any{"location": "eastus", "identity": map[string]any{"type": "UserAssigned"}}, 400, "identity.userAssignedIdentities"},
		{"bad auth mode", rgPath + "/providers/Microsoft.Batch/batchAccounts/acct2", map[string]any{"location": "eastus", "properties": map[string]any{"allowedAuthenticationModes": []string{"Magic"}}}, 400, "properties.allowedAuthenticationModes[0]"},
		{"user subscription mode", rgPath + "/providers/Microsoft.Batch/batchAccounts/acct2", map[string]any{"location": "eastus", "properties": map[string]any{"poolAllocationMode": "UserSubscription"}}, 400, "properties.poolAllocationMode"},
		{"no resource group", "/subscriptions/" + testSub + "/resourceGroups/nope/providers/Microsoft.Batch/batchAccounts/acct2", map[string]any{"location": "eastus"}, 404, ""},
		{"wrong type", rgPath + "/providers/Microsoft.Batch/batchAccounts/acct2", `{"location":5}`, 400, "location"},
	} {
		r := f.do(adminOID, "PUT", c.path, c.body)
		if r.Code != c.code {
			t.Errorf("%s: %d %s", c.name, r.Code, r.Body)
			continue
		}
		if c.target != "" && r.err(t).Target != c.target {
			t.Errorf("%s: target %q", c.name, r.err(t).Target)
		}
	}
	// User-assigned account identities are resolved and need the assign action.
	r0 := f.mustOK(f.do(adminOID, "PATCH", acctPath, map[string]any{"identity": map[string]any{"type": "UserAssigned",
		"userAssignedIdentities": map[string]any{uami("id1"): map[string]any{}}}}), 200)
	if u := r0.json(t)["identity"].(map[string]any)["userAssignedIdentities"].(map[string]any)[uami("id1")].(map[string]any); u["clientId"] == "" {
		t.Fatalf("account identity = %s", r0.Body)
	}
	f.assign(acctPath, rbac.RoleContributor, contribOID)
	if r := f.do(contribOID, "PATCH", acctPath, map[string]any{"identity": map[string]any{"type": "UserAssigned",
		"userAssignedIdentities": map[string]any{uami("id2"): map[string]any{}}}}); r.Code != 403 || r.err(t).Code != "LinkedAuthorizationFailed" {
		t.Fatalf("account identity without assign: %d %s", r.Code, r.Body)
	}
	// System-assigned identity: the principal is created; it cannot be a pool identity.
	r := f.mustOK(f.do(adminOID, "PATCH", acctPath, map[string]any{"identity": map[string]any{"type": "SystemAssigned"}}), 200)
	idn := r.json(t)["identity"].(map[string]any)
	if idn["principalId"] == "" || idn["tenantId"] != testTenant {
		t.Fatalf("system identity = %v", idn)
	}
	r = f.do(adminOID, "PUT", acctPath+"/pools/p1", poolJSON(0, acctPath))
	if r.Code != 400 || !strings.Contains(r.err(t).Message, "own system-assigned identity") {
		t.Fatalf("account identity as pool identity: %d %s", r.Code, r.Body)
	}
}

func TestPoolLifecycle(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	f.setup()
	pool := acctPath + "/pools/pool1"
	r := f.mustOK(f.do(adminOID, "PUT", pool, poolJSON(2, uami("id1"))), 200)
	m := r.json(t)
	ids := m["identity"].(map[string]any)["userAssignedIdentities"].(map[string]any)
	one := ids[uami("id1")].(map[string]any)
	if one["principalId"] == "" || one["clientId"] == "" || r.Header.Get("ETag") == "" || m["etag"] != r.Header.Get("ETag") {
		t.Fatalf("pool = %s (etag %q)", r.Body, r.Header.Get("ETag"))
	}
	golden(t, "pool.json", r.Body)
	// The allocator brings the pool to two nodes.
	deadline := time.Now().Add(10 * time.Second)
	for {
		g := f.mustOK(f.do(adminOID, "GET", pool, nil), 200).json(t)["properties"].(map[string]any)
		if g["allocationState"] == "Steady" && g["currentDedicatedNodes"] == float64(2) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pool did not reach 2 nodes: %v", g)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Conditional writes.
	etag := f.do(adminOID, "GET", pool, nil).Header.Get("ETag")
	f.mustOK(f.do(adminOID, "PUT", pool, poolJSON(2, uami("id1")), "If-Match", `W/"0x999"`), 412)
	f.mustOK(f.do(adminOID, "PUT", pool, poolJSON(2, uami("id1")), "If-None-Match", "*"), 412)
	f.mustOK(f.do(adminOID, "PATCH", pool, map[string]any{"properties": map[string]any{"metadata": []any{map[string]any{"name": "k", "value": "v"}}}}, "If-Match", etag), 200)
	f.mustOK(f.do(adminOID, "PATCH", pool, map[string]any{"properties": map[string]any{}}, "If-Match", etag), 412)
	// Changing identities of a pool with nodes: accepted, with a warning.
	r = f.mustOK(f.do(adminOID, "PATCH", pool, map[string]any{"identity": map[string]any{"type": "UserAssigned",
		"userAssignedIdentities": map[string]any{uami("id2"): map[string]any{}}}}), 200)
	if w := r.Header.Get("Warning"); !strings.HasPrefix(w, `299 - "`) || !strings.Contains(w, "scaled to zero") {
		t.Fatalf("warning header = %q", w)
	}
	if p := r.json(t)["properties"].(map[string]any); p["identityWarning"] == nil {
		t.Fatalf("no identityWarning: %s", r.Body)
	}
	// Metadata survived the identity patch; list shows the pool.
	l := f.mustOK(f.do(adminOID, "GET", acctPath+"/pools", nil), 200).json(t)["value"].([]any)
	if len(l) != 1 || l[0].(map[string]any)["properties"].(map[string]any)["metadata"] == nil {
		t.Fatalf("list = %v", l)
	}
	f.mustOK(f.do(adminOID, "POST", pool+"/stopResize", nil), 200)
	f.mustOK(f.do(adminOID, "POST", pool+"/disableAutoScale", nil), 200)
	// DELETE is long-running and removes the nodes.
	r = f.mustOK(f.do(adminOID, "DELETE", pool, nil), 202)
	f.mustOK(f.wait(adminOID, r.Header.Get("Location")), 200, 204)
	f.mustOK(f.do(adminOID, "GET", pool, nil), 404)
	if ns, _, _ := f.st.NodeList(t.Context(), storeParams(acctPath, "pool1")); len(ns) != 0 {
		t.Fatalf("%d nodes left", len(ns))
	}
}

func TestPoolRules(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	f.setup()
	pool := acctPath + "/pools/p1"
	mod := func(fn func(m map[string]any)) map[string]any {
		m := poolJSON(0, uami("id1"))
		fn(m)
		return m
	}
	props := func(m map[string]any) map[string]any { return m["properties"].(map[string]any) }
	vmc := func(m map[string]any) map[string]any {
		return props(m)["deploymentConfiguration"].(map[string]any)["virtualMachineConfiguration"].(map[string]any)
	}
	for _, c := range []struct {
		name   string
		body   any
		code   int
		reason string
		target string
		names  string
	}{
		{"system assigned", mod(func(m map[string]any) { m["identity"] = map[string]any{"type": "SystemAssigned"} }), 400, "InvalidPropertyValue", "identity.type", "SystemAssigned"},
		{"system and user", mod(func(m map[string]any) { m["identity"].(map[string]any)["type"] = "SystemAssigned, UserAssigned" }), 400, "InvalidPropertyValue", "identity.type", "SystemAssigned, UserAssigned"},
		{"missing identity", poolJSON(0, uami("nope")), 400, "InvalidUserAssignedIdentity", "", "nope"},
		{"not an identity id", poolJSON(0, rgPath+"/providers/Microsoft.Storage/storageAccounts/s"), 400, "InvalidPropertyValue", "", "storageAccounts/s"},
		{"empty user assigned", mod(func(m map[string]any) { m["identity"] = map[string]any{"type": "UserAssigned"} }), 400, "MissingIdentityIds", "identity.userAssignedIdentities", ""},
		{"cloud service", mod(func(m map[string]any) {
			props(m)["deploymentConfiguration"] = map[string]any{"cloudServiceConfiguration": map[string]any{"osFamily": "5"}}
		}), 400, "UnsupportedProperty", "properties.deploymentConfiguration.cloudServiceConfiguration", "virtualMachineConfiguration"},
		{"identity reference outside the pool", mod(func(m map[string]any) {
			props(m)["startTask"] = map[string]any{"commandLine": "true", "resourceFiles": []any{map[string]any{
				"storageContainerUrl": "https://127.0.0.1/x/c", "identityReference": map[string]any{"resourceId": uami("id2")}}}}
		}), 400, "InvalidPropertyValue", "properties.startTask.resourceFiles[0].identityReference.resourceId", "id2"},
		{"registry identity outside the pool", mod(func(m map[string]any) {
			vmc(m)["containerConfiguration"] = map[string]any{"type": "DockerCompatible", "containerRegistries": []any{map[string]any{
				"registryServer": "r.azurecr.io", "identityReference": map[string]any{"resourceId": uami("id2")}}}}
		}), 400, "InvalidPropertyValue", "properties.deploymentConfiguration.virtualMachineConfiguration.containerConfiguration.containerRegistries[0].identityReference.resourceId", "id2"},
		{"mount identity outside the pool", mod(func(m map[string]any) {
			props(m)["mountConfiguration"] = []any{map[string]any{"azureBlobFileSystemConfiguration": map[string]any{"accountName": "store1", "containerName": "c",
				"relativeMountPath": "m", "identityReference": map[string]any{"resourceId": uami("id2")}}}}
		}), 400, "InvalidPropertyValue", "properties.mountConfiguration[0].azureBlobFileSystemConfiguration.identityReference.resourceId", "id2"},
		{"mount path outside the mounts directory", mod(func(m map[string]any) {
			props(m)["mountConfiguration"] = []any{map[string]any{"azureBlobFileSystemConfiguration": map[string]any{"accountName": "store1", "containerName": "c",
				"relativeMountPath": "../etc", "sasKey": "sv=x"}}}
		}), 400, "InvalidPropertyValue", "properties.mountConfiguration[0].azureBlobFileSystemConfiguration.relativeMountPath", "../etc"},
		{"mount with an account key", mod(func(m map[string]any) {
			props(m)["mountConfiguration"] = []any{map[string]any{"azureBlobFileSystemConfiguration": map[string]any{"accountName": "store1", "containerName": "c",
				"relativeMountPath": "m", "accountKey": "a2V5"}}}
		}), 400, "InvalidPropertyValue", "properties.mountConfiguration[0].azureBlobFileSystemConfiguration.accountKey", "accountKey"},
		{"nfs mount", mod(func(m map[string]any) {
			props(m)["mountConfiguration"] = []any{map[string]any{"nfsMountConfiguration": map[string]any{"source": "x:/y", "relativeMountPath": "n"}}}
		}), 400, "InvalidPropertyValue", "properties.mountConfiguration[0]", "NFS"},
		{"unknown vm size", mod(func(m map[string]any) { props(m)["vmSize"] = "STANDARD_HUGE" }), 400, "InvalidPropertyValue", "properties.vmSize", "STANDARD_HUGE"},
		{"unknown image", mod(func(m map[string]any) { vmc(m)["imageReference"].(map[string]any)["sku"] = "99" }), 400, "InvalidPropertyValue", "properties.deploymentConfiguration.virtualMachineConfiguration.imageReference", "99"},
		{"agent mismatch", mod(func(m map[string]any) { vmc(m)["nodeAgentSkuId"] = "batch.node.ubuntu 22.04" }), 400, "InvalidPropertyValue", "properties.deploymentConfiguration.virtualMachineConfiguration.nodeAgentSkuId", "22.04"},
		{"too many slots", mod(func(m map[string]any) { props(m)["taskSlotsPerNode"] = 9 }), 400, "InvalidPropertyValue", "properties.taskSlotsPerNode", "8"},
		{"short resize timeout", mod(func(m map[string]any) {
			props(m)["scaleSettings"].(map[string]any)["fixedScale"].(map[string]any)["resizeTimeout"] = "PT1M"
		}), 400, "InvalidPropertyValue", "properties.scaleSettings.fixedScale.resizeTimeout", ""},
		{"wrong type", `{"properties":{"vmSize":5}}`, 400, "", "", ""},
		{"not json", `{"properties":`, 400, "", "", ""},
		{"bad pool name", nil, 400, "", "poolName", ""},
	} {
		path := pool
		body := c.body
		if c.name == "bad pool name" {
			path, body = acctPath+"/pools/a.b", poolJSON(0)
		}
		r := f.do(adminOID, "PUT", path, body)
		if r.Code != c.code {
			t.Errorf("%s: %d %s", c.name, r.Code, r.Body)
			continue
		}
		e := r.err(t)
		if (c.reason != "" && e.Code != c.reason) || (c.target != "" && e.Target != c.target) || !strings.Contains(e.Message, c.names) {
			t.Errorf("%s: got %+v", c.name, e)
		}
	}
	f.mustOK(f.do(adminOID, "GET", pool, nil), 404)
}

func TestPoolAuthorization(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	f.setup()
	pool := acctPath + "/pools/p1"
	f.assign(rgPath, rbac.RoleReader, readerOID)
	if r := f.do(readerOID, "PUT", pool, poolJSON(0)); r.Code != 403 || r.err(t).Code != "AuthorizationFailed" {
		t.Fatalf("reader: %d %s", r.Code, r.Body)
	}
	f.assign(acctPath, rbac.RoleContributor, contribOID)
	if r := f.do(contribOID, "PUT", pool, poolJSON(0, uami("id1"))); r.Code != 403 || r.err(t).Code != "LinkedAuthorizationFailed" {
		t.Fatalf("contributor without assign: %d %s", r.Code, r.Body)
	}
	f.mustOK(f.do(contribOID, "PUT", pool, poolJSON(0)), 200)
	f.assign(uami("id1"), rbac.RoleManagedIdentityOperator, contribOID)
	f.mustOK(f.do(contribOID, "PUT", pool, poolJSON(0, uami("id1"))), 200)
	// The reader can read it.
	f.mustOK(f.do(readerOID, "GET", pool, nil), 200)
}

func TestCascade(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	f.setup()
	f.mustOK(f.do(adminOID, "PUT", acctPath+"/pools/p1", poolJSON(1)), 200)
	r := f.mustOK(f.do(adminOID, "DELETE", rgPath+"?api-version=2021-04-01", nil), 202)
	f.mustOK(f.wait(adminOID, r.Header.Get("Location")), 200, 204)
	ps, _, err := f.st.PoolList(t.Context(), poolParams())
	if err != nil || len(ps) != 0 {
		t.Fatalf("pools after resource group delete: %v %v", ps, err)
	}
	ns, _, _ := f.st.NodeList(t.Context(), storeParams(acctPath, ""))
	if len(ns) != 0 {
		t.Fatalf("%d nodes left", len(ns))
	}
}
