package hostclient

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cobaltbatch/cobalt/internal/batch"
	"github.com/cobaltbatch/cobalt/internal/hostagent"
	"github.com/cobaltbatch/cobalt/internal/hostproto"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/nodefiles"
)

// NodeProvider runs the host's node sandboxes: internal/hostagent's
// Provider, the code that runs the control plane's own nodes.
type NodeProvider interface {
	StartNode(ctx context.Context, n batch.NodeLaunch) error
	StopNode(ctx context.Context, nodeID string) error
	Nodes() []string
}

// nodeCreating is the state of a node the control plane has placed and not
// yet heard from: the only state in which it issues the node's credential.
const nodeCreating = "creating"

// NodesDir is where a host keeps its nodes' directories, under its data
// directory (their credentials beside them, in NodesDir/.credentials).
func NodesDir(dataDir string) string { return filepath.Join(dataDir, "nodes") }

// ControlPlaneHost is the host name of a control-plane URL: where a joined
// host's node sandboxes reach the control plane's services.
func ControlPlaneHost(u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return pu.Hostname()
}

// reconcileNodes makes the provider run exactly the listed nodes: a new one
// starts with its persisted credential or, the first time, with one the
// control plane issues for it; a running node no longer listed (removed, or
// given up when the host was lost) is stopped and its credential deleted.
func (a *Agent) reconcileNodes(ctx context.Context, listed []hostproto.Node) {
	p := a.cfg.Provider
	running := map[string]bool{}
	for _, id := range p.Nodes() {
		running[id] = true
	}
	want := map[string]bool{}
	for _, n := range listed {
		want[n.NodeID] = true
		if running[n.NodeID] || a.refused[n.NodeID] || !nodefiles.ValidNodeID(n.NodeID) {
			continue
		}
		l := batch.NodeLaunch{NodeID: n.NodeID, PoolID: n.PoolID, RootDir: filepath.Join(NodesDir(a.cfg.DataDir), n.NodeID)}
		err := p.StartNode(ctx, l)
		if errors.Is(err, hostagent.ErrNoCredential) && n.State == nodeCreating {
			var resp hostproto.NodeCredentialResponse
			if err = a.call(ctx, hostproto.NodeCredentialPath, a.id.Credential, hostproto.NodeCredentialRequest{NodeID: n.NodeID}, &resp); err == nil {
				l.Credential, l.AccountName = resp.Credential, resp.AccountName
				err = p.StartNode(ctx, l)
			} else if !errors.Is(err, ErrRevoked) {
				a.refused[n.NodeID] = true // issued once: never ask again
			}
		}
		if err != nil {
			a.log.Warn("start node failed", logkey.Node, n.NodeID, logkey.Err, err)
			continue
		}
		a.log.Info("node started", logkey.Node, n.NodeID, logkey.Pool, n.PoolID)
	}
	for id := range running {
		if want[id] {
			continue
		}
		if err := p.StopNode(ctx, id); err != nil {
			a.log.Warn("stop node failed", logkey.Node, id, logkey.Err, err)
			continue
		}
		a.log.Info("node stopped: the control plane no longer places it here", logkey.Node, id)
	}
	for id := range a.refused {
		if !want[id] {
			delete(a.refused, id)
		}
	}
	a.dropStaleCredentials(want, p.Nodes())
}

// dropStaleCredentials deletes the persisted credentials of nodes that are
// neither listed nor running: a node whose agent ended by itself (the
// control plane refused it, as after the host was given up) is no longer
// the provider's, so the stop above never deleted its credential.
func (a *Agent) dropStaleCredentials(want map[string]bool, running []string) {
	dir := filepath.Dir(hostagent.CredentialPath(filepath.Join(NodesDir(a.cfg.DataDir), "x")))
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		// Beside each credential: the node's files named after it (.imds,
		// .sandbox, .lock, .sandbox.ssh_host_ed25519_key, ...).
		id := e.Name()
		for _, suffix := range []string{".imds", ".sandbox", ".lock"} {
			id = strings.TrimSuffix(id, suffix)
		}
		if !e.Type().IsRegular() || !nodefiles.ValidNodeID(id) || ownedBy(e.Name(), want, running) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err == nil && e.Name() == id {
			a.log.Info("node credential deleted: the node is gone", logkey.Node, id)
		}
	}
}

// ownedBy reports whether name is the credential of a listed or running
// node, or one of its files beside it (the node's ID and a dot first).
func ownedBy(name string, want map[string]bool, running []string) bool {
	owner := func(id string) bool { return name == id || strings.HasPrefix(name, id+".") }
	for id := range want {
		if owner(id) {
			return true
		}
	}
	return slices.ContainsFunc(running, owner)
}
