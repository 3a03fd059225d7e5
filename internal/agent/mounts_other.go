//go:build !linux

package agent

import (
	"context"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// mountBlobs: blob container mounts need the Linux node sandbox.
func (a *Agent) mountBlobs(context.Context, []nodeproto.BlobMount) []nodeproto.NodeError {
	return []nodeproto.NodeError{{Code: CodeMountsNotSupported, Message: "The pool has a mountConfiguration, but this node " +
		"cannot mount file systems: blob container mounts need the node sandbox (Linux, root, /dev/fuse)."}}
}
