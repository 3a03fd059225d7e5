package batch

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// The fixtures in testdata/*-v1.json were written by the previous release
// (json.Marshal of its tagged batch.Pool, of a node's body and of a node's
// identity snapshot). Rows it wrote must decode, and re-encode to the same
// JSON.

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sameJSON(t *testing.T, what string, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("%s re-encoded differently:\n got %s\nwant %s", what, got, want)
	}
}

func TestPoolRecordDecodesPreviousRelease(t *testing.T) {
	t.Parallel()
	body := readFixture(t, "pool-v1.json")
	p, err := decodePool(store.PoolRecord{ID: "p1", AccountKey: "acct", Version: 3, State: "active", AllocationState: "resizing", Body: body})
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 11, 29, 18, 0, 0, 0, time.UTC)
	st := p.StartTask
	vc := p.VirtualMachineConfiguration
	switch {
	case p.ID != "p1" || p.VMSize != "STANDARD_D2S_V3" || p.ETag != ETagOf(3) || p.AccountKey != "acct":
		t.Fatalf("identity fields: %+v", p.Pool)
	case vc == nil || vc.ImageReference.Offer != "o" || vc.ContainerConfiguration.ContainerRegistries[0].Password != "pw" ||
		vc.ContainerConfiguration.ContainerRegistries[1].IdentityReference.ResourceID != "/x/uami" || string(vc.Extra["osDisk"]) != `{"caching":"ReadWrite"}`:
		t.Fatalf("vm configuration: %+v", vc)
	case st == nil || st.ResourceFiles[0].AutoStorageContainerName != "in" || st.ResourceFiles[1].IdentityReference.ResourceID != "/x/uami" ||
		st.UserIdentity.AutoUser.Scope != cobalt.AutoUserScopePool || st.UserIdentity.AutoUser.ElevationLevel != cobalt.ElevationAdmin ||
		st.MaxTaskRetryCount != 3 || string(st.ContainerSettings) != `{"imageName":"busybox"}`:
		t.Fatalf("start task: %+v", st)
	case p.AutoScaleRun == nil || p.AutoScaleRun.Error.Values[0].Value != "v" || p.AutoScaleEvaluationInterval != 5*time.Minute:
		t.Fatalf("autoscale: %+v", p.AutoScaleRun)
	case p.Resize.StartTime != ts || p.Resize.Errors[0].Values[0].Value != "16" || p.NodePrefix != 7 || p.NodeSeq != 9 || p.AllocatorOwner != "replica-1":
		t.Fatalf("resize and bookkeeping: %+v", p.Resize)
	case p.Identity.Identities[0].ClientID != "c" || p.TaskSchedulingPolicy.NodeFillType != FillPack || string(p.Extra["unknownProp"]) != `{"a":1}`:
		t.Fatalf("identity and policy: %+v", p.Identity)
	}
	var r store.PoolRecord
	if err := encodePool(p, &r); err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "pool", r.Body, body)
}

func TestNodeRecordDecodesPreviousRelease(t *testing.T) {
	t.Parallel()
	body, ids := readFixture(t, "node-v1.json"), readFixture(t, "node-identities-v1.json")
	n, err := decodeNode(store.NodeRecord{ID: "tvm-1", AccountKey: "acct", State: "idle", Body: body, Identities: ids})
	if err != nil {
		t.Fatal(err)
	}
	if n.PoolID != "p1" || len(n.Errors) != 1 || n.Errors[0].Code != "NodeStartFailed" || len(n.Identities) != 1 ||
		n.Identities[0] != (cobalt.UserAssignedIdentity{ResourceID: "/x/uami", ClientID: "c", PrincipalID: "p"}) {
		t.Fatalf("node: %+v", n)
	}
	var r store.NodeRecord
	if err := encodeNodeBody(n, &r); err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "node", r.Body, body)
	snap, err := json.Marshal(identityRecords(n.Identities))
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "node identities", snap, ids)
}

func TestUserAccountsTyped(t *testing.T) {
	t.Parallel()
	// The previous release's row: ARM spelling, password kept.
	p, err := decodePool(store.PoolRecord{ID: "p1", Body: readFixture(t, "pool-v1.json")})
	if err != nil {
		t.Fatal(err)
	}
	if want := []cobalt.UserAccount{{Name: "u1", Password: "p", ElevationLevel: cobalt.ElevationAdmin}}; !reflect.DeepEqual(p.UserAccounts, want) {
		t.Fatalf("user accounts %+v, want %+v", p.UserAccounts, want)
	}
	// A row whose user accounts an earlier release kept unchecked still reads.
	p, err = decodePool(store.PoolRecord{ID: "p1", Body: []byte(`{"id":"p1","userAccounts":[{"name":1}]}`)})
	if err != nil || p.UserAccounts != nil {
		t.Errorf("unreadable user accounts: %+v, %v", p, err)
	}
}
