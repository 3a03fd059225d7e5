package server

import (
	"context"
	"fmt"

	"github.com/cobaltbatch/cobalt/internal/batchapi"
	"github.com/cobaltbatch/cobalt/internal/hostfiles"
	"github.com/cobaltbatch/cobalt/internal/nodefiles"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// remoteNodeFiles reads the files of joined hosts' nodes through their file
// API, as this replica: a client certificate of the installation's CA
// (issued at start, kept in memory), and the address each host joined with.
func (s *Server) remoteNodeFiles() (batchapi.RemoteNodeFiles, error) {
	cert, err := s.ca.IssueClient("Cobalt control plane")
	if err != nil {
		return nil, err
	}
	c := hostfiles.NewClient(cert, s.ca.CertPool(), func(ctx context.Context, hostID string) (string, error) {
		h, err := s.store.HostGet(ctx, hostID)
		if err != nil {
			return "", err
		}
		if h.Local || h.State != store.HostReady || h.Address == "" {
			return "", fmt.Errorf("host %s is %s", hostID, h.State)
		}
		return h.Address, nil
	}, 0)
	return func(_ context.Context, hostID, nodeID string) (nodefiles.Source, error) {
		return c.Source(hostID, nodeID), nil
	}, nil
}
