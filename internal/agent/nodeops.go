package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// syncUsers makes the node's login users those the control plane sent,
// when they changed. Only a sandboxed node has users of its own; a
// process-mode node ignores them (its tasks are host processes).
func (a *Agent) syncUsers(ctx context.Context, users []nodeproto.NodeUser) {
	if a.sandbox == nil {
		return
	}
	a.mu.Lock()
	// A node that never had users has none to take away.
	same := (a.usersSet && reflect.DeepEqual(a.nodeUsers, users)) || (!a.usersSet && len(users) == 0)
	a.mu.Unlock()
	if same {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := a.sandbox.setUsers(cctx, users); err != nil {
		a.logger.Warn("set the node's users", logkey.Err, err)
		return
	}
	a.mu.Lock()
	a.nodeUsers, a.usersSet = users, true
	a.mu.Unlock()
	a.logger.Info("node users set", logkey.Count, len(users))
}

// nodeOp starts a reimage or a deallocation (cmd "reimage", "deallocate",
// either with ":aftertasks"), unless one runs or one finished after the
// heartbeat that carried cmd was sent (gen).
func (a *Agent) nodeOp(ctx context.Context, cmd string, gen uint64) {
	a.mu.Lock()
	if a.opBusy || a.opGen != gen {
		a.mu.Unlock()
		return
	}
	a.opBusy = true
	a.mu.Unlock()
	op, mode, _ := strings.Cut(cmd, ":")
	a.logger.Info("node command", logkey.Command, cmd)
	go func() {
		defer func() {
			a.mu.Lock()
			a.opBusy = false
			a.opGen++
			a.mu.Unlock()
			a.notify()
		}()
		if mode == "aftertasks" {
			// The control plane leases nothing more to the node: its
			// running tasks finish, then the start task is stopped.
			a.tasksWG.Wait()
		}
		a.stopTasks()
		a.tasksWG.Wait()
		if op == commandDeallocate {
			a.mu.Lock()
			a.phase = phaseDeallocated
			a.startInfo = nil
			a.mu.Unlock()
			return
		}
		a.reimage(ctx)
	}()
}

// reimage puts the node's file systems back to its image, then registers
// and starts again, as a reimaged VM boots.
func (a *Agent) reimage(ctx context.Context) {
	var err error
	if a.sandbox != nil {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		err = a.sandbox.reimage(cctx)
		cancel()
	} else {
		err = a.wipeProcessNode()
	}
	if err != nil {
		a.logger.Warn("reimage the node's file systems", logkey.Err, err)
	}
	a.mu.Lock()
	a.nodeUsers, a.usersSet = nil, false
	a.mu.Unlock()
	a.reboot(ctx)
}

// wipeProcessNode empties a process-mode node's Batch directories.
func (a *Agent) wipeProcessNode() error {
	var errs []error
	for _, d := range []string{"shared", "startup", "workitems", "volatile"} {
		p := filepath.Join(a.dirs.NodeRoot, d)
		errs = append(errs, os.RemoveAll(p), os.MkdirAll(p, 0o755))
	}
	return errors.Join(errs...)
}
