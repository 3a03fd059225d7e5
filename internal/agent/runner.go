package agent

import (
	"context"
	"log/slog"
	"net/http"
	"os/exec"
	"time"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// TaskConfig is what a TaskRunner needs from the agent for one start task or
// task. It mirrors JOBS' taskrun.Config.
type TaskConfig struct {
	Logger *slog.Logger
	Now    func() time.Time
	// Token returns an access token for one of the node's identities.
	Token func(ctx context.Context, identityResourceID, resource string) (string, error)
	// HTTPClient trusts the installation CA; used for resource files.
	HTTPClient *http.Client
	// Wrap runs the process inside the node's isolation.
	Wrap func(cmd *exec.Cmd)
	// BaseEnv holds the node-level AZ_BATCH_* and identity variables.
	BaseEnv []string
}

// Dirs is the node's Batch directory layout. It mirrors taskrun.Dirs.
type Dirs struct {
	NodeRoot string
	Shared   string
	Startup  string
}

// TaskRunner runs start tasks and tasks on the node; JOBS' taskrun package
// is the implementation (see taskrun.go).
type TaskRunner interface {
	// RunStartTask runs one attempt of the start task and reports it.
	RunStartTask(ctx context.Context, cfg TaskConfig, d Dirs, st nodeproto.StartTask, attempt int) nodeproto.StartTaskInfo
	// RunTask runs a leased task to completion (or until ctx ends) and
	// returns its "completed" report.
	RunTask(ctx context.Context, cfg TaskConfig, d Dirs, l nodeproto.TaskLease) nodeproto.ReportRequest
}
