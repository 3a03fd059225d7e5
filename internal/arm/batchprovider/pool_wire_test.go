package batchprovider

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/batch"
	"github.com/cobaltbatch/cobalt/internal/batchapi"
)

const wireAcctID = "/subscriptions/sub1/resourceGroups/rg1/providers/Microsoft.Batch/batchAccounts/acct1"

// dpPoolBody is a data-plane pool add with enums, secrets and pass-through
// objects in the data plane's spelling.
const dpPoolBody = `{"id":"p1","vmSize":"standard_d2s_v3",
	"virtualMachineConfiguration":{"imageReference":{"publisher":"canonical","offer":"0001-com-ubuntu-server-jammy","sku":"22_04-lts"},
		"nodeAgentSKUId":"batch.node.ubuntu 22.04"},
	"targetDedicatedNodes":2,"taskSlotsPerNode":2,"taskSchedulingPolicy":{"nodeFillType":"pack"},
	"startTask":{"commandLine":"/bin/sh -c true","waitForSuccess":false,"maxTaskRetryCount":2,
		"userIdentity":{"autoUser":{"scope":"pool","elevationLevel":"admin"}},
		"resourceFiles":[{"httpUrl":"https://127.0.0.1/x","filePath":"x"}]},
	"metadata":[{"name":"k","value":"v"}],
	"userAccounts":[{"name":"u","password":"secret","elevationLevel":"admin","linuxUserConfiguration":{"uid":1000}}],
	"networkConfiguration":{"endpointConfiguration":{"inboundNATPools":[{"name":"ssh","protocol":"tcp","backendPort":22,
		"frontendPortRangeStart":15000,"frontendPortRangeEnd":15100}]}},
	"applicationPackageReferences":[{"applicationId":"app1","version":"1.0"}],
	"futureProperty":true}`

func TestRenderPoolARMSpelling(t *testing.T) {
	t.Parallel()
	spec, err := batchapi.DecodeDataPlanePool([]byte(dpPoolBody), batchapi.DPAdd)
	if err != nil {
		t.Fatal(err)
	}
	p := batch.NewPool(spec.Pool.ID, spec, time.Unix(0, 0))
	if err := batch.Validate(p, false); err != nil {
		t.Fatal(err)
	}
	// The ARM rendering spells enums the ARM way and drops secrets.
	arm, err := json.Marshal(renderPool(&p.Pool, wireAcctID))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"nodeFillType":"Pack"`, `"elevationLevel":"Admin"`, `"inboundNatPools"`, `"protocol":"TCP"`, `"scope":"Pool"`,
		`"nodeAgentSkuId"`, `"userAccounts":[{"name":"u","elevationLevel":"Admin","linuxUserConfiguration":{"uid":1000}}]`,
		`"id":"` + wireAcctID + `/pools/p1"`, `"type":"Microsoft.Batch/batchAccounts/pools"`} {
		if !strings.Contains(string(arm), want) {
			t.Errorf("ARM rendering lacks %s: %s", want, arm)
		}
	}
	if strings.Contains(string(arm), "secret") {
		t.Errorf("ARM rendering leaks a password: %s", arm)
	}
	// ARM -> domain -> data plane is the data-plane shape again.
	var out struct {
		Properties json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(arm, &out); err != nil {
		t.Fatal(err)
	}
	spec2, err := DecodeARMPool([]byte(`{"properties":` + string(out.Properties) + `}`))
	if err != nil {
		t.Fatal(err)
	}
	p2 := batch.NewPool("p1", spec2, time.Unix(0, 0))
	st := p2.StartTask
	if p2.TaskSchedulingPolicy.NodeFillType != cobalt.FillPack || st == nil || st.UserIdentity.AutoUser.ElevationLevel != cobalt.ElevationAdmin ||
		st.UserIdentity.AutoUser.Scope != cobalt.AutoUserScopePool || string(p2.NetworkConfiguration) != string(p.NetworkConfiguration) ||
		len(p2.ApplicationPackages) != 1 || p2.ApplicationPackages[0].ApplicationID != "app1" || p2.TargetDedicatedNodes != 2 {
		t.Errorf("ARM round trip gave %+v", p2.Pool)
	}
}

// TestRenderPoolStatus: resize errors show while the pool is steady, and an
// autoscale pool shows its formula and last run.
func TestRenderPoolStatus(t *testing.T) {
	t.Parallel()
	ts := time.Date(2026, 11, 29, 18, 0, 0, 0, time.UTC)
	p := &cobalt.Pool{ID: "p", VMSize: "STANDARD_D2S_V3", AllocationState: cobalt.AllocSteady, TaskSlotsPerNode: 1,
		TaskSchedulingPolicy: cobalt.TaskSchedulingPolicy{NodeFillType: cobalt.FillSpread},
		Resize: cobalt.ResizeStatus{TargetDedicatedNodes: 3, StartTime: ts, Errors: []cobalt.ResizeError{{Code: "AccountCoreQuotaReached", Message: "m",
			Values: []cobalt.NameValue{{Name: "MaxNodes", Value: "4"}}}}}}
	b, _ := json.Marshal(renderPool(p, wireAcctID))
	if want := `"errors":[{"code":"AccountCoreQuotaReached","message":"m","details":[{"code":"MaxNodes","message":"4"}]}]`; !strings.Contains(string(b), want) {
		t.Errorf("steady pool lacks %s: %s", want, b)
	}
	if !strings.Contains(string(b), `"fixedScale":{`) {
		t.Errorf("fixed-scale pool lacks fixedScale: %s", b)
	}
	p.AllocationState = cobalt.AllocResizing
	if b, _ := json.Marshal(renderPool(p, wireAcctID)); strings.Contains(string(b), `"errors"`) {
		t.Errorf("resizing pool shows errors: %s", b)
	}
	p.EnableAutoScale, p.AutoScaleFormula, p.AutoScaleEvaluationInterval = true, "$TargetDedicatedNodes=2", 5*time.Minute
	p.AutoScaleRun = &cobalt.AutoScaleRun{Timestamp: ts, Results: "$TargetDedicatedNodes=2"}
	b, _ = json.Marshal(renderPool(p, wireAcctID))
	for _, want := range []string{`"autoScale":{"formula":"$TargetDedicatedNodes=2","evaluationInterval":"PT5M"}`, `"autoScaleRun":{"evaluationTime":`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("autoscale pool lacks %s: %s", want, b)
		}
	}
	if strings.Contains(string(b), `"fixedScale"`) {
		t.Errorf("autoscale pool shows fixedScale: %s", b)
	}
}

// FuzzRenderPool: whatever a client sends through the management plane,
// the pool it makes renders.
func FuzzRenderPool(f *testing.F) {
	f.Add([]byte(`{"properties":{"vmSize":"x","deploymentConfiguration":{"virtualMachineConfiguration":{"imageReference":{},"nodeAgentSkuId":"x","osDisk":{"caching":"ReadOnly"}}},"unknown":[1]}}`))
	f.Add([]byte(dpPoolBody))
	f.Fuzz(func(t *testing.T, body []byte) {
		spec, err := DecodeARMPool(body)
		if err != nil {
			return
		}
		p := batch.NewPool("p", spec, time.Unix(0, 0))
		if _, err := json.Marshal(renderPool(&p.Pool, wireAcctID)); err != nil {
			t.Fatalf("render: %v", err)
		}
	})
}
