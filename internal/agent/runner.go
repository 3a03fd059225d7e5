package agent

import (
	"context"

	"github.com/cobaltbatch/cobalt/internal/agent/taskrun"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// TaskRunner runs start tasks and tasks on the node. Package taskrun is the
// implementation on the host (process mode); a sandboxed node runs them
// through its init (sandbox_linux.go). Both take taskrun's Config and Dirs.
type TaskRunner interface {
	// RunStartTask runs one attempt of the start task and reports it.
	RunStartTask(ctx context.Context, cfg taskrun.Config, d taskrun.Dirs, st nodeproto.StartTask, attempt int) nodeproto.StartTaskInfo
	// RunTask runs a leased task to completion (or until ctx ends) and
	// returns its "completed" report.
	RunTask(ctx context.Context, cfg taskrun.Config, d taskrun.Dirs, l nodeproto.TaskLease) nodeproto.ReportRequest
}

// imagePuller is a TaskRunner that can pull a container pool's images (the
// sandbox's): before the start task, every node of a container pool pulls
// them.
type imagePuller interface {
	PullImages(ctx context.Context, cc nodeproto.ContainerConfiguration) []nodeproto.NodeError
}

// CodeContainersNotSupported is the node error of a container pool's node
// that cannot run containers (process isolation).
const CodeContainersNotSupported = "ContainerRuntimeNotAvailable"

// CodeMountsNotSupported is the node error of a node that cannot mount
// the pool's file systems (process isolation).
const CodeMountsNotSupported = "MountNotSupported"

// CodeMountFailed is the node error of a blob container the node could not
// mount; the node is then unusable, as on Batch.
const CodeMountFailed = "MountConfigurationError"
