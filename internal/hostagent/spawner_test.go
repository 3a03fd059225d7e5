//go:build linux

package hostagent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/agent"
	"github.com/cobaltbatch/cobalt/internal/sandbox"
)

// children returns the pids of pid's children named name (argv[0]).
func children(pid int, name string) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c))
		if err != nil || !strings.Contains(string(st), fmt.Sprintf("\nPPid:\t%d\n", pid)) {
			continue
		}
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", c))
		if arg0, _, _ := strings.Cut(string(cmd), "\x00"); filepath.Base(arg0) == name {
			out = append(out, c)
		}
	}
	return out
}

// TestSandboxedNodesStartFromTheSpawner: a netns provider's node inits are
// the children of its one spawner, not of this process, and Close ends the
// spawner after the nodes.
func TestSandboxedNodesStartFromTheSpawner(t *testing.T) {
	if agent.DefaultIsolation() != agent.IsolationNetns {
		t.Skip("node sandboxes are not available here")
	}
	api := newNodeAPI(t)
	p := testProvider(t, api, agent.IsolationNetns)
	base := t.TempDir()
	for _, id := range []string{"sp1", "sp2"} {
		if err := p.StartNode(context.Background(), NodeLaunch{NodeID: id, Credential: "cred-" + id, RootDir: filepath.Join(base, id)}); err != nil {
			t.Fatal(err)
		}
		waitAgent(t, p, id)
	}
	// Other tests' providers may have spawners of their own meanwhile.
	var mine []int
	for _, sp := range children(os.Getpid(), sandbox.SpawnerName) {
		if len(children(sp, sandbox.InitName)) == 2 {
			mine = append(mine, sp)
		}
	}
	if len(mine) != 1 {
		t.Fatalf("%d spawners forked the two node inits", len(mine))
	}
	if inits := children(os.Getpid(), sandbox.InitName); len(inits) != 0 {
		t.Errorf("node inits %v were forked from the control plane", inits)
	}
	// A spawner killed from outside is replaced at the next node start.
	if err := syscall.Kill(mine[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for range 500 {
		if p.nodeSpawner() != nil && len(children(os.Getpid(), sandbox.SpawnerName)) > 0 && !slices.Contains(children(os.Getpid(), sandbox.SpawnerName), mine[0]) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := p.StartNode(context.Background(), NodeLaunch{NodeID: "sp3", Credential: "cred-sp3", RootDir: filepath.Join(base, "sp3")}); err != nil {
		t.Fatal(err)
	}
	waitAgent(t, p, "sp3")
	var again []int
	for _, sp := range children(os.Getpid(), sandbox.SpawnerName) {
		if len(children(sp, sandbox.InitName)) > 0 {
			again = append(again, sp)
		}
	}
	if len(again) != 1 || again[0] == mine[0] {
		t.Fatalf("after the spawner was killed, node inits come from %v", again)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for range 500 {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", again[0])); err != nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Error("the spawner outlived the closed provider")
}
