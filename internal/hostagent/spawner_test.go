//go:build linux

package hostagent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for range 500 {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", mine[0])); err != nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Error("the spawner outlived the closed provider")
}
