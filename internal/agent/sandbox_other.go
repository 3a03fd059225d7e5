//go:build !linux

package agent

import (
	"context"
	"errors"

	"github.com/cobaltbatch/cobalt/internal/agent/taskrun"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

type nodeSandbox struct{}

func (a *Agent) startSandbox(string, handlers) (*nodeSandbox, isolation, error) {
	return nil, nil, errors.New("node sandboxes need Linux")
}

func (s *nodeSandbox) close() error { return nil }

func (a *Agent) sandboxDone() <-chan struct{} { return nil }

type sandboxRunner struct{ s *nodeSandbox }

func (sandboxRunner) RunStartTask(context.Context, taskrun.Config, taskrun.Dirs, nodeproto.StartTask, int) nodeproto.StartTaskInfo {
	return nodeproto.StartTaskInfo{}
}

func (sandboxRunner) RunTask(context.Context, taskrun.Config, taskrun.Dirs, nodeproto.TaskLease) nodeproto.ReportRequest {
	return nodeproto.ReportRequest{}
}

func (s *nodeSandbox) setUsers(context.Context, []nodeproto.NodeUser) error {
	return errors.New("node users need Linux")
}

func (s *nodeSandbox) reimage(context.Context) error { return errors.New("node sandboxes need Linux") }
