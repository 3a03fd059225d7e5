package batch

import (
	"context"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/errwire"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// HostNodeLaunch is what a joined host needs to start one of its nodes.
type HostNodeLaunch struct {
	NodeID      string
	PoolID      string
	AccountName string
	// Credential is the node's secret credential for the node API; the
	// control plane keeps only its hash.
	Credential string
}

// MintHostNodeCredential gives the joined host hostID the credential of
// its node nodeID, once: the node must be placed on that host, still being
// created, and without a credential yet. Every refusal is the same
// ENotFound, so a host learns nothing about other hosts' nodes.
func (s *Service) MintHostNodeCredential(ctx context.Context, hostID, nodeID string) (HostNodeLaunch, error) {
	refused := func() error {
		return cobalt.Errorf(cobalt.ENotFound, "The host has no node %s waiting for its credential.", nodeID).WithReason(errwire.ReasonNodeNotFound)
	}
	if hostID == "" || nodeID == "" {
		return HostNodeLaunch{}, refused()
	}
	var cred string
	n, err := s.updateNode(ctx, nodeID, func(x *Node, r *store.NodeRecord) error {
		if r.HostID != hostID || x.State != NodeCreating || len(r.CredentialHash) != 0 || r.LeaseExpiry.IsZero() || !r.LeaseExpiry.After(s.now()) {
			return refused()
		}
		var hash []byte
		cred, hash = newCredential(nodeID)
		r.CredentialHash = hash
		return nil
	})
	if cobalt.IsCode(err, cobalt.ENotFound) {
		return HostNodeLaunch{}, refused()
	}
	if err != nil {
		return HostNodeLaunch{}, err
	}
	s.log.Info("node credential issued to its host", logkey.Node, nodeID, logkey.Host, hostID)
	return HostNodeLaunch{NodeID: n.ID, PoolID: n.PoolID, AccountName: n.Config.AccountName, Credential: cred}, nil
}
