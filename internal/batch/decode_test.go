package batch

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/errwire"
)

func TestDurations(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		want time.Duration
		out  string
	}{
		{"PT15M", 15 * time.Minute, "PT15M"},
		{"PT5M", 5 * time.Minute, "PT5M"},
		{"P1D", 24 * time.Hour, "P1D"},
		{"P1DT2H3M4.5S", 26*time.Hour + 3*time.Minute + 4500*time.Millisecond, "P1DT2H3M4.5S"},
		{"PT0S", 0, "PT0S"},
		{"P1W", 7 * 24 * time.Hour, "P7D"},
		{Unlimited, time.Duration(1<<63 - 1), Unlimited},
	} {
		d, err := ParseDuration(c.in)
		if err != nil || d != c.want {
			t.Errorf("ParseDuration(%q) = %v, %v", c.in, d, err)
		}
		if got := FormatDuration(d); got != c.out {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, c.out)
		}
	}
	for _, bad := range []string{"", "P", "PT", "15M", "P1M", "PT1D", "P1H", "PTxS", "P1DT", "P99999999999999999999D"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) succeeded", bad)
		}
	}
}

func reasonTarget(err error) (string, string) {
	var e *cobalt.Error
	if !asErr(err, &e) {
		return "", ""
	}
	return e.Reason, e.Target
}

func asErr(err error, e **cobalt.Error) bool {
	x, ok := err.(*cobalt.Error)
	if ok {
		*e = x
	}
	return ok
}

func dpPool(mut func(m map[string]any)) []byte {
	m := map[string]any{"id": "p1", "vmSize": "standard_d2s_v3",
		"virtualMachineConfiguration": map[string]any{
			"imageReference": map[string]any{"publisher": "canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts"},
			"nodeAgentSKUId": "batch.node.ubuntu 22.04"},
		"targetDedicatedNodes": 2, "taskSlotsPerNode": 2, "taskSchedulingPolicy": map[string]any{"nodeFillType": "pack"},
		"startTask": map[string]any{"commandLine": "/bin/sh -c true", "waitForSuccess": false, "maxTaskRetryCount": 2,
			"userIdentity":  map[string]any{"autoUser": map[string]any{"scope": "pool", "elevationLevel": "admin"}},
			"resourceFiles": []any{map[string]any{"httpUrl": "https://127.0.0.1/x", "filePath": "x"}}},
		"metadata": []any{map[string]any{"name": "k", "value": "v"}},
		"userAccounts": []any{map[string]any{"name": "u", "password": "secret", "elevationLevel": "admin",
			"linuxUserConfiguration": map[string]any{"uid": 1000}}},
		"networkConfiguration": map[string]any{"endpointConfiguration": map[string]any{"inboundNATPools": []any{map[string]any{
			"name": "ssh", "protocol": "tcp", "backendPort": 22, "frontendPortRangeStart": 15000, "frontendPortRangeEnd": 15100}}}},
		"applicationPackageReferences": []any{map[string]any{"applicationId": "app1", "version": "1.0"}},
		"futureProperty":               true,
	}
	if mut != nil {
		mut(m)
	}
	b, _ := json.Marshal(m)
	return b
}

func TestDataPlaneDecodeAndRender(t *testing.T) {
	t.Parallel()
	spec, err := DecodeDataPlanePool(dpPool(nil), DPAdd)
	if err != nil {
		t.Fatal(err)
	}
	p := NewPool(spec.Pool.ID, spec, time.Unix(0, 0))
	if err := Validate(p, false); err != nil {
		t.Fatal(err)
	}
	if p.TaskSchedulingPolicy.NodeFillType != FillPack || p.TargetDedicatedNodes != 2 || p.StartTask.WaitForSuccess ||
		p.StartTask.UserIdentity.AutoUser.ElevationLevel != "admin" || p.StartTask.MaxTaskRetryCount != 2 {
		t.Fatalf("decoded = %+v", p)
	}
	// Pass-through objects are kept in the ARM shape; the renderings
	// (internal/arm/batchprovider, internal/batchapi) convert them.
	if net := string(p.NetworkConfiguration); !strings.Contains(net, `"inboundNatPools"`) || !strings.Contains(net, `"protocol":"TCP"`) {
		t.Errorf("networkConfiguration kept as %s", net)
	}
	if len(p.ApplicationPackages) != 1 || p.ApplicationPackages[0].ApplicationID != "app1" || p.AllocationState != AllocSteady {
		t.Errorf("packages %+v, allocation state %q", p.ApplicationPackages, p.AllocationState)
	}
}

func TestDataPlaneRules(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		mut    func(m map[string]any)
		mode   DPMode
		reason string
		target string
	}{
		{"identity refused", func(m map[string]any) { m["identity"] = map[string]any{"type": "UserAssigned"} }, DPAdd, errwire.ReasonUnsupportedProperty, "identity"},
		{"cloud service", func(m map[string]any) { m["cloudServiceConfiguration"] = map[string]any{"osFamily": "6"} }, DPAdd, errwire.ReasonUnsupportedProperty, "cloudServiceConfiguration"},
		{"no id", func(m map[string]any) { delete(m, "id") }, DPAdd, errwire.ReasonMissingRequiredProperty, "id"},
		{"no vm size", func(m map[string]any) { delete(m, "vmSize") }, DPAdd, errwire.ReasonMissingRequiredProperty, "vmSize"},
		{"no agent sku", func(m map[string]any) { delete(m["virtualMachineConfiguration"].(map[string]any), "nodeAgentSKUId") }, DPAdd, errwire.ReasonMissingRequiredProperty, "virtualMachineConfiguration.nodeAgentSKUId"},
		{"wrong type", func(m map[string]any) { m["targetDedicatedNodes"] = "two" }, DPAdd, errwire.ReasonInvalidRequestBody, "targetDedicatedNodes"},
		{"bad duration", func(m map[string]any) { m["resizeTimeout"] = "15 minutes" }, DPAdd, errwire.ReasonInvalidPropertyValue, "resizeTimeout"},
		{"start task without command", func(m map[string]any) { m["startTask"] = map[string]any{"waitForSuccess": true} }, DPAdd, errwire.ReasonMissingRequiredProperty, "startTask.commandLine"},
		{"replace needs metadata", func(m map[string]any) {
			for k := range m {
				delete(m, k)
			}
			m["certificateReferences"], m["applicationPackageReferences"] = []any{}, []any{}
		}, DPReplace, errwire.ReasonMissingRequiredProperty, "metadata"},
		{"autoscale with targets", func(m map[string]any) { m["enableAutoScale"] = true; m["autoScaleFormula"] = "$TargetDedicatedNodes=1" }, DPAdd, errwire.ReasonInvalidPropertyValue, "targetDedicatedNodes"},
	} {
		_, err := DecodeDataPlanePool(dpPool(c.mut), c.mode)
		r, tg := reasonTarget(err)
		if r != c.reason || tg != c.target {
			t.Errorf("%s: %v (reason %q target %q)", c.name, err, r, tg)
		}
	}
	// Validation after decoding.
	for _, c := range []struct {
		name   string
		mut    func(m map[string]any)
		target string
	}{
		{"unknown size", func(m map[string]any) { m["vmSize"] = "standard_zz9" }, "vmSize"},
		{"fill type", func(m map[string]any) { m["taskSchedulingPolicy"] = map[string]any{"nodeFillType": "diagonal"} }, "taskSchedulingPolicy.nodeFillType"},
		{"resource file sources", func(m map[string]any) {
			m["startTask"] = map[string]any{"commandLine": "x", "resourceFiles": []any{map[string]any{"httpUrl": "https://a", "storageContainerUrl": "https://b", "filePath": "f"}}}
		}, "startTask.resourceFiles[0]"},
		{"resource file escapes", func(m map[string]any) {
			m["startTask"] = map[string]any{"commandLine": "x", "resourceFiles": []any{map[string]any{"httpUrl": "https://a", "filePath": "../../etc/passwd"}}}
		}, "startTask.resourceFiles[0].filePath"},
		{"identity reference without identities", func(m map[string]any) {
			m["startTask"] = map[string]any{"commandLine": "x", "resourceFiles": []any{map[string]any{"storageContainerUrl": "https://b",
				"identityReference": map[string]any{"resourceId": uami1}}}}
		}, "startTask.resourceFiles[0].identityReference.resourceId"},
		{"metadata name", func(m map[string]any) { m["metadata"] = []any{map[string]any{"value": "v"}} }, "metadata[0].name"},
		{"slots", func(m map[string]any) { m["taskSlotsPerNode"] = 0 }, "taskSlotsPerNode"},
		{"negative target", func(m map[string]any) { m["targetDedicatedNodes"] = -1 }, "targetDedicatedNodes"},
		{"container type", func(m map[string]any) {
			m["virtualMachineConfiguration"].(map[string]any)["containerConfiguration"] = map[string]any{"type": "podman"}
		}, "virtualMachineConfiguration.containerConfiguration.type"},
	} {
		spec, err := DecodeDataPlanePool(dpPool(c.mut), DPAdd)
		if err == nil {
			err = Validate(NewPool("p1", spec, time.Now()), false)
		}
		if _, tg := reasonTarget(err); tg != c.target {
			t.Errorf("%s: %v (target %q, want %q)", c.name, err, tg, c.target)
		}
	}
}

func TestIdentityRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	sys := &cobalt.Account{ID: testAcctID, Name: "acct1", TenantID: testTenant, Identity: &cobalt.AccountIdentity{Type: "SystemAssigned", PrincipalID: "oid-id2"}}
	for _, c := range []struct {
		name  string
		acct  *cobalt.Account
		id    cobalt.PoolIdentity
		names string
	}{
		{"system assigned", e.acct, cobalt.PoolIdentity{Type: "SystemAssigned"}, "SystemAssigned"},
		{"unknown type", e.acct, cobalt.PoolIdentity{Type: "Managed"}, "Managed"},
		{"none with ids", e.acct, cobalt.PoolIdentity{Type: "None", Identities: []cobalt.UserAssignedIdentity{{ResourceID: uami1}}}, "None"},
		{"missing", e.acct, cobalt.PoolIdentity{Type: "UserAssigned", Identities: []cobalt.UserAssignedIdentity{{ResourceID: uami1 + "x"}}}, uami1 + "x"},
		{"other tenant", e.acct, cobalt.PoolIdentity{Type: "UserAssigned", Identities: []cobalt.UserAssignedIdentity{{ResourceID: uamiOther}}}, uamiOther},
		{"account itself", e.acct, cobalt.PoolIdentity{Type: "UserAssigned", Identities: []cobalt.UserAssignedIdentity{{ResourceID: testAcctID}}}, testAcctID},
		{"account's system principal", sys, cobalt.PoolIdentity{Type: "UserAssigned", Identities: []cobalt.UserAssignedIdentity{{ResourceID: uami2}}}, "system-assigned"},
		{"malformed", e.acct, cobalt.PoolIdentity{Type: "UserAssigned", Identities: []cobalt.UserAssignedIdentity{{ResourceID: "id1"}}}, "'id1'"},
	} {
		id := c.id
		err := e.svc.ResolveIdentities(t.Context(), c.acct, &id)
		if cobalt.ErrorCode(err) != cobalt.EInvalid || !strings.Contains(cobalt.ErrorMessage(err), c.names) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	id := cobalt.PoolIdentity{Type: "userassigned", Identities: []cobalt.UserAssignedIdentity{{ResourceID: strings.ToLower(uami2)}, {ResourceID: uami1}}}
	if err := e.svc.ResolveIdentities(t.Context(), e.acct, &id); err != nil {
		t.Fatal(err)
	}
	if id.Type != "UserAssigned" || id.Identities[0].ClientID != "cid-id1" || id.Identities[1].PrincipalID != "oid-id2" {
		t.Fatalf("resolved = %+v", id)
	}
}

func FuzzDecodeARMPool(f *testing.F) {
	f.Add(armPool(2, uami1))
	f.Add([]byte(`{"properties":{"scaleSettings":{"fixedScale":{"resizeTimeout":"PT5M"}}}}`))
	f.Add([]byte(`{"identity":{"type":"UserAssigned","userAssignedIdentities":{"x":{}}},"properties":{"startTask":{}}}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"properties":{"deploymentConfiguration":{"cloudServiceConfiguration":{}}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		spec, err := DecodeARMPool(body)
		if err != nil {
			if cobalt.ErrorCode(err) != cobalt.EInvalid {
				t.Fatalf("non-400 error %v", err)
			}
			return
		}
		p := NewPool("p", spec, time.Unix(0, 0))
		if err := Validate(p, true); err != nil && cobalt.ErrorCode(err) != cobalt.EInvalid {
			t.Fatalf("validation gave a non-400 error %v", err)
		}
	})
}

func FuzzDecodeDataPlanePool(f *testing.F) {
	f.Add(dpPool(nil), 0)
	f.Add([]byte(`{"id":"a","vmSize":"x","enableAutoScale":true,"autoScaleFormula":"x"}`), 0)
	f.Add([]byte(`{"startTask":{"commandLine":"x"},"metadata":[],"certificateReferences":[],"applicationPackageReferences":[]}`), 2)
	f.Add([]byte(`{"virtualMachineConfiguration":{"imageReference":{},"nodeAgentSKUId":"x","dataDisks":[{"caching":"readonly"}]}}`), 1)
	f.Fuzz(func(t *testing.T, body []byte, mode int) {
		m := DPMode(((mode % 3) + 3) % 3)
		spec, err := DecodeDataPlanePool(body, m)
		if err != nil {
			if cobalt.ErrorCode(err) != cobalt.EInvalid {
				t.Fatalf("non-400 error %v", err)
			}
			return
		}
		p := NewPool("p", spec, time.Unix(0, 0))
		if err := Validate(p, false); err != nil && cobalt.ErrorCode(err) != cobalt.EInvalid {
			t.Fatalf("validation gave a non-400 error %v", err)
		}
	})
}

func TestCatalog(t *testing.T) {
	t.Parallel()
	if _, ok := LookupVMSize("standard_d2s_v3"); !ok {
		t.Fatal("lower-case VM size not found")
	}
	for _, ref := range []cobalt.ImageReference{
		{Publisher: "Canonical", Offer: "0001-com-ubuntu-server-jammy", Sku: "22_04-lts"},
		{Publisher: "canonical", Offer: "ubuntu-24_04-lts", Sku: "server"},
	} {
		im, ok := LookupImage(ref)
		if !ok || !strings.HasPrefix(im.NodeAgentSkuID, "batch.node.ubuntu 2") {
			t.Errorf("image %+v: %+v %v", ref, im, ok)
		}
	}
	if len(SupportedImagesJSON()) != len(Images) || len(NodeAgentSkus()) < 3 {
		t.Fatal("catalog listing")
	}
}

func FuzzDecodeResize(f *testing.F) {
	f.Add([]byte(`{"targetDedicatedNodes":2,"resizeTimeout":"PT5M","nodeDeallocationOption":"taskcompletion"}`))
	f.Add([]byte(`{"targetLowPriorityNodes":"x"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if _, err := DecodeResize(body); err != nil && cobalt.ErrorCode(err) != cobalt.EInvalid {
			t.Fatalf("non-400 error %v", err)
		}
	})
}
