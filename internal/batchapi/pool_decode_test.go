package batchapi

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/batch"
	"github.com/cobaltbatch/cobalt/internal/errwire"
)

const testUAMI = "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1"

// reasonTarget returns a *cobalt.Error's reason and target.
func reasonTarget(err error) (string, string) {
	var e *cobalt.Error
	if !errors.As(err, &e) {
		return "", ""
	}
	return e.Reason, e.Target
}

func dpPoolAddBody(mut func(m map[string]any)) []byte {
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
	spec, err := DecodeDataPlanePool(dpPoolAddBody(nil), DPAdd)
	if err != nil {
		t.Fatal(err)
	}
	p := batch.NewPool(spec.Pool.ID, spec, time.Unix(0, 0))
	if err := batch.Validate(p, false); err != nil {
		t.Fatal(err)
	}
	if p.TaskSchedulingPolicy.NodeFillType != batch.FillPack || p.TargetDedicatedNodes != 2 || p.StartTask.WaitForSuccess ||
		p.StartTask.UserIdentity.AutoUser.ElevationLevel != "admin" || p.StartTask.MaxTaskRetryCount != 2 {
		t.Fatalf("decoded = %+v", p)
	}
	// Pass-through objects are kept in the ARM shape; the renderings
	// (internal/arm/batchprovider, internal/batchapi) convert them.
	if net := string(p.NetworkConfiguration); !strings.Contains(net, `"inboundNatPools"`) || !strings.Contains(net, `"protocol":"TCP"`) {
		t.Errorf("networkConfiguration kept as %s", net)
	}
	if len(p.ApplicationPackages) != 1 || p.ApplicationPackages[0].ApplicationID != "app1" || p.AllocationState != batch.AllocSteady {
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
		_, err := DecodeDataPlanePool(dpPoolAddBody(c.mut), c.mode)
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
				"identityReference": map[string]any{"resourceId": testUAMI}}}}
		}, "startTask.resourceFiles[0].identityReference.resourceId"},
		{"metadata name", func(m map[string]any) { m["metadata"] = []any{map[string]any{"value": "v"}} }, "metadata[0].name"},
		{"slots", func(m map[string]any) { m["taskSlotsPerNode"] = 0 }, "taskSlotsPerNode"},
		{"negative target", func(m map[string]any) { m["targetDedicatedNodes"] = -1 }, "targetDedicatedNodes"},
		{"container type", func(m map[string]any) {
			m["virtualMachineConfiguration"].(map[string]any)["containerConfiguration"] = map[string]any{"type": "podman"}
		}, "virtualMachineConfiguration.containerConfiguration.type"},
	} {
		spec, err := DecodeDataPlanePool(dpPoolAddBody(c.mut), DPAdd)
		if err == nil {
			err = batch.Validate(batch.NewPool("p1", spec, time.Now()), false)
		}
		if _, tg := reasonTarget(err); tg != c.target {
			t.Errorf("%s: %v (target %q, want %q)", c.name, err, tg, c.target)
		}
	}
}

func FuzzDecodeDataPlanePool(f *testing.F) {
	f.Add(dpPoolAddBody(nil), 0)
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
		p := batch.NewPool("p", spec, time.Unix(0, 0))
		if err := batch.Validate(p, false); err != nil && cobalt.ErrorCode(err) != cobalt.EInvalid {
			t.Fatalf("validation gave a non-400 error %v", err)
		}
	})
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

func TestDataPlaneUserAccounts(t *testing.T) {
	t.Parallel()
	uid, gid := 1001, 1002
	want := []cobalt.UserAccount{{Name: "mpi", Password: "pw", ElevationLevel: cobalt.ElevationAdmin,
		LinuxUserConfiguration: &cobalt.LinuxUserConfiguration{UID: &uid, GID: &gid, SSHPrivateKey: "key"}},
		{Name: "win", WindowsUserConfiguration: &cobalt.WindowsUserConfiguration{LoginMode: "interactive"}}}
	dp, err := DecodeDataPlanePool([]byte(`{"id":"p","vmSize":"x","userAccounts":[
		{"name":"mpi","password":"pw","elevationLevel":"admin","linuxUserConfiguration":{"uid":1001,"gid":1002,"sshPrivateKey":"key"}},
		{"name":"win","windowsUserConfiguration":{"loginMode":"interactive"}}]}`), DPAdd)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(dp.Pool.UserAccounts, want) {
		t.Errorf("decoded %+v, want %+v", dp.Pool.UserAccounts, want)
	}
	// A wrong type is a 400 naming the property.
	_, err = DecodeDataPlanePool([]byte(`{"id":"p","vmSize":"x","userAccounts":[{"name":"u","linuxUserConfiguration":{"uid":"x"}}]}`), DPAdd)
	if !cobalt.IsCode(err, cobalt.EInvalid) || !strings.Contains(err.Error(), "userAccounts") {
		t.Errorf("bad uid: %v", err)
	}
}
