//go:build linux

package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// A pool with inter-node communication gets a private network: a switch
// namespace of its own on the host (a network namespace holding only a
// bridge, with no address and no route, named like the nodes' namespaces
// so that SweepNamespaces removes it after a crash), and a veth pair per
// node whose node end is eth0 inside the node at InterNodeAddress/16. The
// host's own network stack is never on that segment: nothing on it is
// routed anywhere, so nodes reach each other and nothing else; nodes of
// other pools (other switches) and nodes without inter-node communication
// (no eth0 at all) cannot reach them.

// poolNetMu orders joins and leaves of this process's pool switches (a
// switch is removed when its last node leaves).
var poolNetMu sync.Mutex

// poolNet is one node's place on its pool's private network.
type poolNet struct {
	switchNS string // the pool's switch namespace
	hostEnd  string // the veth end on the switch
}

// switchName is the switch namespace of a pool of the installation whose
// node directories are under nodesDir.
func switchName(nodesDir, account, pool string) string {
	return NamespaceName(os.Getpid(), "switch\x00"+nodesDir+"\x00"+strings.ToLower(account)+"\x00"+strings.ToLower(pool))
}

// vethName is a short interface name for a node's veth end (kind "s": on
// the switch, "n": the node's before it is renamed eth0).
func vethName(kind, nodeNS string) string {
	sum := sha256.Sum256([]byte(nodeNS))
	return "cb" + kind + hex.EncodeToString(sum[:5]) // 13 characters
}

// joinPoolNetwork puts the node's network namespace nodeNS on the pool's
// private network at nodeproto.InterNodeAddress(nodeID).
func joinPoolNetwork(nodeNS, switchNS, nodeID string) (*poolNet, error) {
	addr, ok := nodeproto.InterNodeAddress(nodeID)
	if !ok {
		return nil, fmt.Errorf("node %s has no address on its pool's network", nodeID)
	}
	poolNetMu.Lock()
	defer poolNetMu.Unlock()
	if _, err := os.Stat(filepath.Join(NetnsDir, switchNS)); err != nil {
		if err := runIP("netns", "add", switchNS); err != nil {
			return nil, err
		}
		if err := runSteps([][]string{
			{"-n", switchNS, "link", "add", "br0", "type", "bridge"},
			{"-n", switchNS, "link", "set", "br0", "up"},
		}); err != nil {
			_ = deleteNamespace(switchNS)
			return nil, err
		}
	}
	p := &poolNet{switchNS: switchNS, hostEnd: vethName("s", nodeNS)}
	peer := vethName("n", nodeNS)
	_ = runIP("link", "del", p.hostEnd) // left by an earlier node with this name
	if err := runSteps([][]string{
		{"link", "add", p.hostEnd, "type", "veth", "peer", "name", peer},
		{"link", "set", p.hostEnd, "netns", switchNS},
		{"link", "set", peer, "netns", nodeNS},
		{"-n", switchNS, "link", "set", p.hostEnd, "master", "br0"},
		{"-n", switchNS, "link", "set", p.hostEnd, "up"},
		{"-n", nodeNS, "link", "set", peer, "name", "eth0"},
		{"-n", nodeNS, "addr", "add", addr + "/" + strconv.Itoa(nodeproto.InterNodePrefix), "dev", "eth0"},
		{"-n", nodeNS, "link", "set", "eth0", "up"},
	}); err != nil {
		_ = runIP("link", "del", peer)
		_ = runIP("-n", switchNS, "link", "del", p.hostEnd)
		p.leaveLocked()
		return nil, err
	}
	return p, nil
}

func runSteps(steps [][]string) error {
	for _, s := range steps {
		if err := runIP(s...); err != nil {
			return err
		}
	}
	return nil
}

// leave takes the node off the network (its namespace's deletion removes
// the veth pair too) and removes the switch when no node is left on it.
func (p *poolNet) leave() {
	if p == nil {
		return
	}
	poolNetMu.Lock()
	defer poolNetMu.Unlock()
	_ = runIP("-n", p.switchNS, "link", "del", p.hostEnd)
	p.leaveLocked()
}

func (p *poolNet) leaveLocked() {
	out, err := ipOutput("-n", p.switchNS, "-o", "link", "show", "type", "veth")
	if err == nil && strings.TrimSpace(out) == "" {
		_ = deleteNamespace(p.switchNS)
	}
}

func ipOutput(args ...string) (string, error) {
	out, err := exec.Command("ip", args...).Output()
	return string(out), err
}
