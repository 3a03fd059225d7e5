package server

import (
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"

	cobalt "github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/agent/taskrun"
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

// nodeHost returns the host a node runs on ("" for a node record without
// one, which is this host's).
func (s *Server) nodeHost(ctx context.Context, nodeID string) (string, error) {
	r, err := s.store.NodeGet(ctx, nodeID)
	if err != nil {
		return "", err
	}
	return r.HostID, nil
}

// taskFileRemover removes a task's directory once its retention time has
// passed: on this host's nodes from the node directory, on a joined host's
// node through that host's file API, so that the files go where the node
// is and not only on the control plane's own machine. A node of another
// replica's local host has no file API: the removal fails and the
// retention sweep tries it again later.
func taskFileRemover(nodeRoot, localHostID string, nodeHost func(ctx context.Context, nodeID string) (string, error),
	remote batchapi.RemoteNodeFiles) func(ctx context.Context, accountKey, nodeID, jobID, taskID string) error {
	return func(ctx context.Context, _, nodeID, jobID, taskID string) error {
		if !nodefiles.ValidNodeID(nodeID) {
			return nil
		}
		hostID, err := nodeHost(ctx, nodeID)
		if err != nil && !cobalt.IsCode(err, cobalt.ENotFound) {
			return err
		}
		if err == nil && hostID != "" && hostID != localHostID {
			src, err := remote(ctx, hostID, nodeID)
			if err != nil {
				return err
			}
			err = src.Remove(ctx, path.Join("workitems", jobID, "job-1"), taskID, true)
			if errors.Is(err, nodefiles.ErrNotExist) {
				return nil
			}
			return err
		}
		return taskrun.RemoveTaskDir(taskrun.Dirs{NodeRoot: filepath.Join(nodeRoot, nodeID)}, jobID, taskID)
	}
}
