package hostapi

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/batch"
	"github.com/cobaltbatch/cobalt/internal/hostproto"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// owners issues credentials only to the host a node is placed on (the
// pool service's rule, configured here): what the handler passes as the
// host is what is under test.
type owners map[string]string // node → host

func (o owners) MintHostNodeCredential(_ context.Context, hostID, nodeID string) (batch.HostNodeLaunch, error) {
	if o[nodeID] != hostID {
		return batch.HostNodeLaunch{}, cobalt.Errorf(cobalt.ENotFound, "no such node")
	}
	return batch.HostNodeLaunch{NodeID: nodeID, PoolID: "p1", Credential: nodeID + ".secret"}, nil
}

// TestNodeCredentialOnlyForItsHost: a host gets the credential of its own
// node; no credential, another host's node, a removed host are refused.
func TestNodeCredentialOnlyForItsHost(t *testing.T) {
	f := newFixture(t)
	a, b := f.join(t, "a"), f.join(t, "b")
	f.svc.cfg.Nodes = owners{"tvm-a": a.HostID, "tvm-b": b.HostID}
	code, body := f.post(t, hostproto.NodeCredentialPath, a.Credential, hostproto.NodeCredentialRequest{NodeID: "tvm-a"})
	var resp hostproto.NodeCredentialResponse
	if code != http.StatusOK || json.Unmarshal(body, &resp) != nil || resp.Credential != "tvm-a.secret" {
		t.Fatalf("own node: %d %s", code, body)
	}
	if code, body := f.post(t, hostproto.NodeCredentialPath, a.Credential, hostproto.NodeCredentialRequest{NodeID: "tvm-b"}); code != http.StatusNotFound {
		t.Fatalf("another host's node: %d %s", code, body)
	}
	if code, _ := f.post(t, hostproto.NodeCredentialPath, "", hostproto.NodeCredentialRequest{NodeID: "tvm-a"}); code != http.StatusUnauthorized {
		t.Fatalf("no credential: %d", code)
	}
	if code, _ := f.post(t, hostproto.NodeCredentialPath, a.Credential, hostproto.NodeCredentialRequest{}); code != http.StatusBadRequest {
		t.Fatalf("no node ID: %d", code)
	}
	if err := f.svc.Remove(context.Background(), a.HostID); err != nil {
		t.Fatal(err)
	}
	if code, _ := f.post(t, hostproto.NodeCredentialPath, a.Credential, hostproto.NodeCredentialRequest{NodeID: "tvm-a"}); code != http.StatusUnauthorized {
		t.Fatalf("removed host: %d", code)
	}
}

// TestSweepGivesUpNodes: a lost host's nodes lose their credentials and
// their leases end, so the allocator replaces them; other hosts' nodes keep theirs.
func TestSweepGivesUpNodes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a := f.join(t, "a")
	b := f.join(t, "b")
	far := f.now.Add(time.Hour)
	for id, host := range map[string]string{"tvm-a": a.HostID, "tvm-b": b.HostID} {
		if _, err := f.st.NodeCreate(ctx, store.NodeRecord{ID: id, AccountKey: "acct", PoolKey: "p1", State: "running", HostID: host,
			CredentialHash: hashOf("secret-" + id), LeaseExpiry: far}); err != nil {
			t.Fatal(err)
		}
	}
	f.now = f.now.Add(50 * time.Second)
	if code, _ := f.post(t, hostproto.HeartbeatPath, b.Credential, hostproto.HeartbeatRequest{}); code != http.StatusOK {
		t.Fatal("heartbeat of b refused")
	}
	f.now = f.now.Add(11 * time.Second)
	if lost, err := f.svc.Sweep(ctx); err != nil || len(lost) != 1 || lost[0].ID != a.HostID {
		t.Fatalf("lost %v %v", lost, err)
	}
	na, _ := f.st.NodeGet(ctx, "tvm-a")
	if len(na.CredentialHash) != 0 || na.LeaseExpiry.After(f.now) {
		t.Fatalf("node of the lost host: hash %x lease %v", na.CredentialHash, na.LeaseExpiry)
	}
	if nb, _ := f.st.NodeGet(ctx, "tvm-b"); !secretMatches("secret-tvm-b", nb.CredentialHash) || !nb.LeaseExpiry.Equal(far) {
		t.Fatalf("node of a live host changed: %+v", nb)
	}
}
