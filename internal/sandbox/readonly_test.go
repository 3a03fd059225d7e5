//go:build linux

package sandbox

import (
	"strings"
	"testing"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// TestSystemBindsStayReadOnly: node root cannot make the host's system
// directories writable again. When the init made its binds read-only from
// inside the node's user namespace, node root could clear the flag (only
// DAC on host-owned files stopped the write that followed); the flag is now
// set before the node's namespace copies the mounts, and the kernel locks it.
func TestSystemBindsStayReadOnly(t *testing.T) {
	n, dir := startNode(t, InitConfig{})
	out, rep := runTask(t, n, dir, `/bin/sh -c 'for d in /usr /etc; do `+
		`mount -o remount,bind,rw $d && echo "$d REMOUNTED-RW"; mount -o remount,rw $d && echo "$d REMOUNTED-RW"; `+
		`grep -q " $d [^ ]* ro," /proc/self/mountinfo && echo "$d read-only"; done; true'`,
		nodeproto.UserIdentity{AutoUserElevation: "admin"})
	if rep.Failure != nil {
		t.Fatalf("failure %+v", rep.Failure)
	}
	t.Logf("%s", out)
	if strings.Contains(out, "REMOUNTED-RW") {
		t.Errorf("node root remounted a host system directory read-write:\n%s", out)
	}
	for _, want := range []string{"/usr read-only", "/etc read-only"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
