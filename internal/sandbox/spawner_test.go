//go:build linux

package sandbox

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// startSpawnedNode starts a node through sp.
func startSpawnedNode(t *testing.T, sp *Spawner) (*Node, string) {
	t.Helper()
	return startNodeWith(t, InitConfig{Hostname: "tvm-spawned"}, sp)
}

func startSpawner(t *testing.T) *Spawner {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("node sandboxes need root")
	}
	sp, err := StartSpawner(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sp.Close() })
	return sp
}

// TestSpawnedNodeIsANode: an init the spawner forked is the same node as
// one forked here: the task's world, its users, the node's cgroup.
func TestSpawnedNodeIsANode(t *testing.T) {
	sp := startSpawner(t)
	n, dir := startSpawnedNode(t, sp)
	out, rep := runTask(t, n, dir, `/bin/sh -c 'id -u; hostname; pwd; cat /proc/self/cgroup'`,
		nodeproto.UserIdentity{AutoUserElevation: "admin", AutoUserScope: "pool"})
	if rep.Failure != nil {
		t.Fatalf("failure %+v", rep.Failure)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 3 || lines[0] != "0" || lines[1] != "tvm-spawned" || lines[2] != "/mnt/batch/tasks/workitems/j/job-1/t/wd" {
		t.Fatalf("output %q", out)
	}
	out, rep = runTask(t, n, dir, `/usr/bin/id -u`, nodeproto.UserIdentity{})
	if rep.Failure != nil || strings.TrimSpace(out) != "1000" {
		t.Fatalf("pool non-admin user: %q %+v", out, rep.Failure)
	}
	if n.cg != nil {
		for _, d := range n.cg.dirs {
			procs, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
			if err != nil || !slices.Contains(strings.Fields(string(procs)), fmt.Sprint(n.Pid())) {
				t.Errorf("the init is not in the node's cgroup %s: %q %v", d, procs, err)
			}
			// Only the node's processes: no thread of the spawner.
			tasks, _ := os.ReadFile(filepath.Join(d, "tasks"))
			for _, tid := range strings.Fields(string(tasks)) {
				if _, err := os.Stat(fmt.Sprintf("/proc/%d/task/%s", sp.pid, tid)); err == nil {
					t.Errorf("a spawner thread stayed in the node's cgroup %s", d)
				}
			}
		}
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d/status", n.Pid())); err == nil {
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", n.Pid())); !strings.Contains(string(b), "State:\tZ") && !strings.Contains(string(b), "PPid:\t0") {
			// The pid may be reused only by another process; ours is gone.
			if strings.Contains(string(b), InitName) {
				t.Errorf("the closed node's init still runs:\n%s", b)
			}
		}
	}
}

// TestSpawnerChannelStaysOutsideNodes (attack): node root, which can take
// its init over, finds no descriptor of the spawner's channel in the init
// or a task, and a node does not outlive the spawner that forked it.
func TestSpawnerChannelStaysOutsideNodes(t *testing.T) {
	sp := startSpawner(t)
	n, dir := startSpawnedNode(t, sp)
	chanInodes := map[string]bool{}
	for _, p := range []string{fmt.Sprintf("/proc/self/fd/%d", sp.fd), fmt.Sprintf("/proc/%d/fd/%d", sp.pid, spawnFD)} {
		l, err := os.Readlink(p)
		if err != nil {
			t.Fatal(err)
		}
		chanInodes[l] = true
	}
	// What the init holds, seen from the host.
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", n.Pid()))
	if err != nil {
		t.Fatal(err)
	}
	var held []string
	for _, e := range ents {
		l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", n.Pid(), e.Name()))
		held = append(held, l)
	}
	// And seen from node root inside.
	out, rep := runTask(t, n, dir, `/bin/sh -c 'for f in /proc/1/fd/* /proc/self/fd/*; do readlink $f; done; true'`,
		nodeproto.UserIdentity{AutoUserElevation: "admin"})
	if rep.Failure != nil {
		t.Fatalf("failure %+v", rep.Failure)
	}
	held = append(held, strings.Fields(out)...)
	for _, l := range held {
		if chanInodes[l] {
			t.Errorf("a node holds the spawner's channel: %s", l)
		}
	}
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-n.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("a node outlived its spawner")
	}
}

// TestSpawnerRefusesAfterClose: a closed spawner starts nothing.
func TestSpawnerRefusesAfterClose(t *testing.T) {
	sp := startSpawner(t)
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := AcquireRange(-1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	dir := filepath.Join(t.TempDir(), "node")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(Config{Name: "test-closed", NodeDir: dir, Range: r, Spawner: sp}); err == nil {
		t.Fatal("a closed spawner started a node")
	}
}

// TestSpawnerRunsTheInitItWasGiven: with a cobalt-node-init, every node's
// init is that binary (the descriptor the host checked, not a path that
// could change meanwhile), and the node works as one run from this binary.
func TestSpawnerRunsTheInitItWasGiven(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("node sandboxes need root")
	}
	built := buildInit(t)
	f, err := os.Open(built)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := startSpawnerWith(slog.New(slog.DiscardHandler), f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sp.Close() })
	// Replaced after the spawner took it: nodes still run what was checked.
	if err := os.Rename(built, built+".old"); err != nil {
		t.Fatal(err)
	}
	defer os.Rename(built+".old", built)
	if err := os.WriteFile(built, []byte("#!/bin/sh\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(built)
	for i := range 2 {
		n, dir := startSpawnedNode(t, sp)
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", n.Pid()))
		if err != nil || exe != built+".old" && exe != built+" (deleted)" {
			t.Fatalf("node %d: the init runs %q (%v), not %s", i, exe, err, built)
		}
		// The kernel keeps 15 bytes of a name.
		if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", n.Pid())); strings.TrimSpace(string(comm)) != InitName[:15] {
			t.Errorf("node %d: the init is named %q", i, comm)
		}
		out, rep := runTask(t, n, dir, `/bin/sh -c 'hostname; id -u'`, nodeproto.UserIdentity{})
		if rep.Failure != nil || strings.Fields(out)[0] != "tvm-spawned" || strings.Fields(out)[1] != "1000" {
			t.Fatalf("node %d: %q %+v", i, out, rep.Failure)
		}
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
