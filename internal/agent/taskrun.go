package agent

import (
	"context"

	"github.com/cobaltbatch/cobalt/internal/agent/taskrun"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// defaultRunner is the TaskRunner used when Config.Runner is nil: JOBS'
// internal/agent/taskrun.
func defaultRunner() TaskRunner { return taskrunRunner{} }

// taskrunRunner adapts package taskrun to TaskRunner.
type taskrunRunner struct{}

func toTaskrun(cfg TaskConfig, d Dirs) (taskrun.Config, taskrun.Dirs) {
	return taskrun.Config{
			Logger: cfg.Logger, Now: cfg.Now, Token: cfg.Token, HTTPClient: cfg.HTTPClient,
			Wrap: cfg.Wrap, BaseEnv: cfg.BaseEnv,
		}, taskrun.Dirs{
			NodeRoot: d.NodeRoot, Shared: d.Shared, Startup: d.Startup,
		}
}

func (taskrunRunner) RunStartTask(ctx context.Context, cfg TaskConfig, d Dirs, st nodeproto.StartTask, attempt int) nodeproto.StartTaskInfo {
	c, td := toTaskrun(cfg, d)
	return taskrun.RunStartTask(ctx, c, td, st, attempt)
}

func (taskrunRunner) RunTask(ctx context.Context, cfg TaskConfig, d Dirs, l nodeproto.TaskLease) nodeproto.ReportRequest {
	c, td := toTaskrun(cfg, d)
	return taskrun.RunTask(ctx, c, td, l)
}

// TaskDir is where a task's stdout.txt, stderr.txt and wd live on this node.
func TaskDir(d Dirs, jobID, taskID string) string {
	_, td := toTaskrun(TaskConfig{}, d)
	return taskrun.TaskDir(td, jobID, taskID)
}
