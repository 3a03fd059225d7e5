//go:build linux

package sandbox

import (
	"strconv"
	"strings"
	"testing"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// TestTmpfsMountsHaveASize: every writable tmpfs of a node has a size, so a
// task filling /tmp (or /dev/shm) gets ENOSPC instead of taking half the
// host's memory, which an unsized tmpfs allows.
func TestTmpfsMountsHaveASize(t *testing.T) {
	const size = 8 << 20
	n, dir := startNode(t, InitConfig{TmpfsBytes: size})
	out, rep := runTask(t, n, dir, `/bin/sh -c 'for d in /tmp /home /run /var /dev/shm; do `+
		`if head -c 9437184 /dev/zero > $d/fill 2>/dev/null; then echo "$d UNBOUNDED"; else echo "$d full"; fi; rm -f $d/fill; done; `+
		`grep " - tmpfs " /proc/self/mountinfo'`,
		nodeproto.UserIdentity{AutoUserElevation: "admin"})
	if rep.Failure != nil {
		t.Fatalf("failure %+v", rep.Failure)
	}
	t.Logf("%s", out)
	for _, d := range []string{"/tmp", "/home", "/run", "/var", "/dev/shm"} {
		if !strings.Contains(out, d+" full\n") {
			t.Errorf("%s took more than its %d bytes:\n%s", d, size, out)
		}
	}
	want := "size=" + strconv.Itoa(size>>10) + "k"
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(l)
		if !strings.Contains(l, " - tmpfs ") || len(f) < 5 {
			continue
		}
		mnt, opts := f[4], f[len(f)-1]
		if !strings.Contains(opts, "size=") {
			t.Errorf("tmpfs %s has no size: %s", mnt, opts)
		}
		if mnt == "/tmp" && !strings.Contains(opts, want) {
			t.Errorf("/tmp: %s, want %s", opts, want)
		}
	}
}

// TestTmpfsSizeFollowsTheNodesMemory: without an explicit size, each tmpfs
// is half the node's memory, or DefaultTmpfsBytes when it is unknown.
func TestTmpfsSizeFollowsTheNodesMemory(t *testing.T) {
	if got := tmpfsBytes(Limits{MemoryBytes: 8 << 30}); got != 4<<30 {
		t.Errorf("8 GiB node: %d", got)
	}
	if got := tmpfsBytes(Limits{}); got != DefaultTmpfsBytes {
		t.Errorf("unknown memory: %d", got)
	}
}
