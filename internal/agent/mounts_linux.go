package agent

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"

	"github.com/cobaltbatch/cobalt/internal/agent/taskrun"
	"github.com/cobaltbatch/cobalt/internal/blobfs"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
	"github.com/cobaltbatch/cobalt/internal/sandbox"
)

// mountBlobs mounts the pool's blob containers in the node's sandbox at
// $AZ_BATCH_NODE_MOUNTS_DIR/{relativeMountPath}. The agent serves each
// mount (blobfs) with tokens from the node's own token cache, the one its
// IMDS serves, for the mount's identity: the host holds the FUSE device,
// the node sees a file system. It returns an error per mount it could not
// make; a node with one is unusable.
func (a *Agent) mountBlobs(ctx context.Context, mounts []nodeproto.BlobMount) []nodeproto.NodeError {
	sr, ok := a.runner.(sandboxRunner)
	if !ok {
		return []nodeproto.NodeError{{Code: CodeMountsNotSupported, Message: "The pool has a mountConfiguration, but this node " +
			"cannot mount file systems: blob container mounts need the node sandbox (Linux, root, /dev/fuse)."}}
	}
	a.mu.Lock()
	done := a.mounted
	a.mounted = true
	a.mu.Unlock()
	if done {
		return nil // a reboot keeps the node's mounts
	}
	root, err := os.OpenRoot(a.dirs.NodeRoot)
	if err != nil {
		return []nodeproto.NodeError{{Code: CodeMountFailed, Message: "The node's directory could not be opened: " + err.Error()}}
	}
	defer root.Close()
	tmp := filepath.Join(a.dirs.NodeRoot, "..", filepath.Base(a.dirs.NodeRoot)+".blobfs")
	var errs []nodeproto.NodeError
	for _, m := range mounts {
		rel := path.Join("fsmounts", m.RelativeMountPath)
		inside := sandbox.NodeRoot + "/" + rel
		fail := func(msg string) {
			errs = append(errs, nodeproto.NodeError{Code: CodeMountFailed,
				Message: fmt.Sprintf("The blob container %s/%s could not be mounted at %s: %s", m.AccountName, m.ContainerName, inside, msg),
				Details: []nodeproto.EnvironmentSetting{{Name: "AccountName", Value: m.AccountName},
					{Name: "ContainerName", Value: m.ContainerName}, {Name: "RelativeMountPath", Value: m.RelativeMountPath}}})
		}
		if err := root.MkdirAll(rel, 0o755); err != nil {
			fail(err.Error())
			continue
		}
		if err := os.MkdirAll(tmp, 0o700); err != nil {
			fail(err.Error())
			continue
		}
		cfg := blobfs.Config{ContainerURL: m.ContainerURL, HTTPClient: a.httpc, TempDir: tmp}
		if id := m.IdentityResourceID; id != "" {
			cfg.Token = func(ctx context.Context) (string, error) { return a.tokens.taskToken(ctx, id, taskrun.StorageResource) }
		}
		if err := blobfs.Check(ctx, cfg); err != nil {
			fail(redactSAS(err.Error(), m.ContainerURL))
			continue
		}
		dev, err := sr.s.node.MountFUSE(inside, "blobfs")
		if err != nil {
			fail(err.Error())
			continue
		}
		srv, err := blobfs.Serve(context.WithoutCancel(ctx), dev, cfg)
		if err != nil {
			dev.Close()
			fail(redactSAS(err.Error(), m.ContainerURL))
			continue
		}
		// The device must outlive this call (its finalizer would close it):
		// the agent keeps it for the node's life, and the mount ends with
		// the node's mount namespace.
		a.mu.Lock()
		a.mountDevices = append(a.mountDevices, dev)
		a.mu.Unlock()
		_ = srv
		a.logger.Info("blob container mounted", logkey.Account, m.AccountName, logkey.Path, inside)
	}
	return errs
}
