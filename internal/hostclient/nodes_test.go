package hostclient

import (
	"path/filepath"
	"testing"

	"github.com/cobaltbatch/cobalt/internal/nodefiles"
)

// FuzzValidNodeID: a node ID from the control plane's heartbeat answer that
// passes the check names a directory directly under the host's nodes
// directory, never elsewhere.
func FuzzValidNodeID(f *testing.F) {
	for _, s := range []string{"tvm-1_2-20261205t000000z", "..", "../x", "a/b", ".", "", "a\x00b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if !nodefiles.ValidNodeID(id) {
			return
		}
		dir := "/data/nodes"
		if p := filepath.Join(dir, id); filepath.Dir(p) != dir || filepath.Base(p) != id {
			t.Fatalf("node ID %q escapes: %s", id, p)
		}
	})
}

func TestValidNodeIDRefusesPaths(t *testing.T) {
	for _, id := range []string{"..", "../etc", "a/b", ".", "", `a\b`} {
		if nodefiles.ValidNodeID(id) {
			t.Errorf("ValidNodeID(%q) = true", id)
		}
	}
	if !nodefiles.ValidNodeID("tvm-1_2-20261205t000000z") {
		t.Error("a real node ID refused")
	}
}

// TestOwnedByKeepsEveryFileOfALiveNode: the files a running node keeps
// beside its credential (its SSH host key among them) are its own, not
// stale credentials of a gone node; a gone node's are not.
func TestOwnedByKeepsEveryFileOfALiveNode(t *testing.T) {
	want := map[string]bool{"tvm-1": true}
	for _, name := range []string{"tvm-1", "tvm-1.imds", "tvm-1.sandbox", "tvm-1.lock", "tvm-1.sandbox.ssh_host_ed25519_key", "tvm-2.sandbox.ssh_host_ed25519_key"} {
		if !ownedBy(name, want, []string{"tvm-2"}) {
			t.Errorf("%s taken for a gone node's", name)
		}
	}
	for _, name := range []string{"tvm-3", "tvm-3.sandbox.ssh_host_ed25519_key", "tvm-10"} {
		if ownedBy(name, want, []string{"tvm-2"}) {
			t.Errorf("%s kept", name)
		}
	}
}
