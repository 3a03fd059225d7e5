package batchapi

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/batch"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// dpPoolBody is a data-plane pool add with enums, secrets and pass-through
// objects in the data plane's spelling.
const dpPoolBody = `{"id":"p1","vmSize":"standard_d2s_v3",
	"virtualMachineConfiguration":{"imageReference":{"publisher":"canonical","offer":"0001-com-ubuntu-server-jammy","sku":"22_04-lts"},
		"nodeAgentSKUId":"batch.node.ubuntu 22.04","containerConfiguration":{"type":"dockerCompatible",
		"containerRegistries":[{"registryServer":"r.io","username":"u","password":"secret"}]}},
	"targetDedicatedNodes":2,"taskSlotsPerNode":2,"taskSchedulingPolicy":{"nodeFillType":"pack"},
	"startTask":{"commandLine":"/bin/sh -c true","waitForSuccess":false,"maxTaskRetryCount":2,
		"userIdentity":{"autoUser":{"scope":"pool","elevationLevel":"admin"}},
		"resourceFiles":[{"httpUrl":"https://127.0.0.1/x","filePath":"x"}]},
	"metadata":[{"name":"k","value":"v"}],
	"userAccounts":[{"name":"u","password":"secret","elevationLevel":"admin","linuxUserConfiguration":{"uid":1000}}],
	"networkConfiguration":{"endpointConfiguration":{"inboundNATPools":[{"name":"ssh","protocol":"tcp","backendPort":22,
		"frontendPortRangeStart":15000,"frontendPortRangeEnd":15100}]}},
	"applicationPackageReferences":[{"applicationId":"app1","version":"1.0"}]}`

func TestRenderPoolDataPlane(t *testing.T) {
	t.Parallel()
	spec, err := DecodeDataPlanePool([]byte(dpPoolBody), DPAdd)
	if err != nil {
		t.Fatal(err)
	}
	p := batch.NewPool(spec.Pool.ID, spec, time.Unix(0, 0).UTC())
	if err := batch.Validate(p, false); err != nil {
		t.Fatal(err)
	}
	dp, err := json.Marshal(renderPoolDP(&p.Pool, "https://h/pools/p1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"nodeFillType":"pack"`, `"elevationLevel":"admin"`, `"inboundNATPools"`, `"protocol":"tcp"`, `"nodeAgentSKUId"`,
		`"applicationId":"app1"`, `"allocationState":"steady"`, `"type":"dockerCompatible"`, `"targetDedicatedNodes":2`, `"resizeTimeout":"PT15M"`,
		`"currentNodeCommunicationMode":"simplified"`, `"userAccounts":[{"name":"u","elevationLevel":"admin","linuxUserConfiguration":{"uid":1000}}]`, `"metadata":[{"name":"k","value":"v"}]`, `"url":"https://h/pools/p1"`} {
		if !strings.Contains(string(dp), want) {
			t.Errorf("data-plane rendering lacks %s: %s", want, dp)
		}
	}
	for _, bad := range []string{"secret", `"autoScaleFormula"`, `"resizeErrors"`} {
		if strings.Contains(string(dp), bad) {
			t.Errorf("data-plane rendering has %s: %s", bad, dp)
		}
	}
}

// TestRenderPoolDataPlaneStatus: resize errors show while the pool is
// steady; an autoscale pool shows its formula and run instead of targets;
// zero times are left out.
func TestRenderPoolDataPlaneStatus(t *testing.T) {
	t.Parallel()
	ts := time.Date(2026, 11, 29, 18, 0, 0, 0, time.UTC)
	p := &cobalt.Pool{ID: "p", VMSize: "STANDARD_D2S_V3", State: cobalt.PoolActive, AllocationState: cobalt.AllocSteady, TaskSlotsPerNode: 1,
		Resize: cobalt.ResizeStatus{StartTime: ts, Errors: []cobalt.ResizeError{{Code: "AccountCoreQuotaReached", Message: "m"}}}}
	b, _ := json.Marshal(renderPoolDP(p, "u"))
	if want := `"resizeErrors":[{"code":"AccountCoreQuotaReached","message":"m"}]`; !strings.Contains(string(b), want) {
		t.Errorf("steady pool lacks %s: %s", want, b)
	}
	if strings.Contains(string(b), `Time"`) || strings.Contains(string(b), `"lastModified"`) {
		t.Errorf("zero times rendered: %s", b)
	}
	p.EnableAutoScale, p.AutoScaleFormula, p.AutoScaleEvaluationInterval = true, "$TargetDedicatedNodes=2", 5*time.Minute
	p.AutoScaleRun = &cobalt.AutoScaleRun{Timestamp: ts, Results: "r"}
	b, _ = json.Marshal(renderPoolDP(p, "u"))
	for _, want := range []string{`"autoScaleFormula":"$TargetDedicatedNodes=2"`, `"autoScaleEvaluationInterval":"PT5M"`,
		`"autoScaleRun":{"timestamp":"2026-11-29T18:00:00.0000000Z","results":"r"}`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("autoscale pool lacks %s: %s", want, b)
		}
	}
	if strings.Contains(string(b), `"targetDedicatedNodes"`) {
		t.Errorf("autoscale pool shows targets: %s", b)
	}
}

func TestRenderNodeDataPlane(t *testing.T) {
	t.Parallel()
	end := time.Date(2026, 11, 29, 18, 1, 0, 0, time.UTC)
	code := 0
	n := &batch.Node{Node: cobalt.Node{ID: "tvm-1", PoolID: "p1", State: cobalt.NodeIdle, IsDedicated: true, VMSize: "STANDARD_D2S_V3",
		Identities: []cobalt.UserAssignedIdentity{{ResourceID: "/x/id1", ClientID: "cid-id1", PrincipalID: "oid-id1"}}},
		StartTaskInfo: &nodeproto.StartTaskInfo{State: "completed", StartTime: end.Add(-time.Second), EndTime: &end, ExitCode: &code, Result: "success"}}
	b, _ := json.Marshal(renderNodeDP(n, "https://h/pools/p1/nodes/tvm-1"))
	for _, want := range []string{`"state":"idle"`, `"isDedicated":true`, `"vmSize":"standard_d2s_v3"`, `"schedulingState":"enabled"`,
		`"identities":[{"resourceId":"/x/id1","clientId":"cid-id1","principalId":"oid-id1"}]`, `"exitCode":0`, `"result":"success"`,
		`"endTime":"2026-11-29T18:01:00.0000000Z"`, `"nodeAgentInfo":{"version":"cobalt"}`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("node rendering lacks %s: %s", want, b)
		}
	}
	if strings.Contains(string(b), `"lastBootTime"`) || strings.Contains(string(b), `"errors"`) {
		t.Errorf("node rendering has absent facts: %s", b)
	}
	n.SchedulingState = "disabled"
	if b, _ := json.Marshal(renderNodeDP(n, "u")); !strings.Contains(string(b), `"schedulingState":"disabled"`) {
		t.Errorf("disabled node: %s", b)
	}
}

// FuzzRenderPoolDataPlane: whatever a client sends through the data plane,
// the pool it makes renders.
func FuzzRenderPoolDataPlane(f *testing.F) {
	f.Add([]byte(dpPoolBody), 0)
	f.Add([]byte(`{"id":"a","vmSize":"x","enableAutoScale":true,"autoScaleFormula":"x"}`), 0)
	f.Add([]byte(`{"virtualMachineConfiguration":{"imageReference":{},"nodeAgentSKUId":"x","dataDisks":[{"caching":"readonly"}]}}`), 1)
	f.Fuzz(func(t *testing.T, body []byte, mode int) {
		spec, err := DecodeDataPlanePool(body, DPMode(((mode%3)+3)%3))
		if err != nil {
			return
		}
		p := batch.NewPool("p", spec, time.Unix(0, 0))
		if _, err := json.Marshal(renderPoolDP(&p.Pool, "u")); err != nil {
			t.Fatalf("render: %v", err)
		}
	})
}
