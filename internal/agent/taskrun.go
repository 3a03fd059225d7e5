package agent

import (
	"context"

	"github.com/cobaltbatch/cobalt/internal/agent/taskrun"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// defaultRunner is the TaskRunner used when Config.Runner is nil: package
// taskrun, on the host.
func defaultRunner() TaskRunner { return taskrunRunner{} }

// taskrunRunner runs tasks with package taskrun.
type taskrunRunner struct{}

func (taskrunRunner) RunStartTask(ctx context.Context, cfg taskrun.Config, d taskrun.Dirs, st nodeproto.StartTask, attempt int) nodeproto.StartTaskInfo {
	return taskrun.RunStartTask(ctx, cfg, d, st, attempt)
}

func (taskrunRunner) RunTask(ctx context.Context, cfg taskrun.Config, d taskrun.Dirs, l nodeproto.TaskLease) nodeproto.ReportRequest {
	return taskrun.RunTask(ctx, cfg, d, l)
}

// TaskDir is where a task's stdout.txt, stderr.txt and wd live on this node.
func TaskDir(d taskrun.Dirs, jobID, taskID string) string { return taskrun.TaskDir(d, jobID, taskID) }
