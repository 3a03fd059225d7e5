//go:build linux

package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
	"github.com/cobaltbatch/cobalt/internal/sandbox"

	"github.com/cobaltbatch/cobalt/internal/agent/taskrun"
	"github.com/cobaltbatch/cobalt/internal/logkey"
)

// nodeSandbox is the node's sandbox as the agent holds it.
type nodeSandbox struct {
	node *sandbox.Node
	uids *sandbox.UIDRange
}

// sandboxState is the content of Config.StateFile.
type sandboxState struct {
	UIDSlot int `json:"uidSlot"`
}

// startSandbox starts the node's sandbox: its uid range (the recorded one
// when it is free), its init, and its network namespace attached under the
// node's namespace name with IMDS and the forwarded ports inside.
func (a *Agent) startSandbox(root string, h handlers) (*nodeSandbox, *netnsIsolation, error) {
	preferred := -1
	if a.cfg.StateFile != "" {
		if b, err := os.ReadFile(a.cfg.StateFile); err == nil {
			var st sandboxState
			if json.Unmarshal(b, &st) == nil {
				preferred = st.UIDSlot
			}
		}
	}
	uids, err := sandbox.AcquireRange(preferred)
	if err != nil {
		return nil, nil, err
	}
	if preferred >= 0 && uids.Slot != preferred {
		// The node's files belong to its old range: hand them to the new one
		// (the node is not running, so nothing inside changes meanwhile).
		a.logger.Warn("the node's recorded uid range is in use; moving its files to a new one", logkey.UIDSlot, preferred, logkey.NewUIDSlot, uids.Slot)
		if err := shiftOwners(root, sandbox.RangeBase(preferred), uids.Base()); err != nil {
			uids.Release()
			return nil, nil, fmt.Errorf("move the node's files to its new uid range: %w", err)
		}
	}
	if a.cfg.StateFile != "" {
		if err := writeState(a.cfg.StateFile, sandboxState{UIDSlot: uids.Slot}); err != nil {
			uids.Release()
			return nil, nil, err
		}
	}
	var limits sandbox.Limits
	if a.cfg.Limits != nil {
		limits = a.cfg.Limits(a.node.VMSize)
	}
	ca, err := readCA(a.cfg.CAFile)
	if err != nil {
		uids.Release()
		return nil, nil, err
	}
	hostKey, err := a.sshHostKey()
	if err != nil {
		uids.Release()
		return nil, nil, fmt.Errorf("ssh host key: %w", err)
	}
	var iso *netnsIsolation
	n, err := sandbox.Start(sandbox.Config{
		Name: a.cfg.NodeID, NodeDir: root, Range: uids, Limits: limits, Logger: a.logger, Spawner: a.cfg.Spawner,
		Init: sandbox.InitConfig{Hostname: hostname(a.cfg.NodeID), Users: a.users(), CA: ca, Containers: a.node.Containers,
			SSHHostKey: hostKey, PublicName: publicName(a.node.PublicAddress)},
		Attach: func(pid int) error {
			var err error
			fw := forwards{ports: a.node.ForwardPorts, azurePort: a.node.AzureNamesPort, public: a.node.PublicAddress, target: a.cfg.ForwardHost, replicas: a.replicaHosts()}
			iso, err = newNetnsIsolation(NamespaceName(os.Getpid(), a.cfg.NodeID), h, fw, a.logger, pid)
			return err
		},
	})
	if err != nil {
		if iso != nil {
			_ = iso.close()
		}
		uids.Release()
		return nil, nil, err
	}
	if a.node.InterNode {
		// The pool's nodes share a private network (enableInterNodeCommunication).
		iso.pool, err = joinPoolNetwork(iso.name, switchName(filepath.Dir(root), a.node.AccountName, a.node.PoolID), a.cfg.NodeID)
		if err != nil {
			_ = n.Close()
			_ = iso.close()
			uids.Release()
			return nil, nil, fmt.Errorf("join the pool's inter-node network: %w", err)
		}
		a.interNode = true
	}
	iso.setSessionTask(n.TaskOfSession)
	if port, err := iso.serveLogin(a.node.LoginAddress); err != nil {
		a.logger.Warn("the node has no remote login", logkey.Err, err)
	} else {
		a.loginPort = port
	}
	return &nodeSandbox{node: n, uids: uids}, iso, nil
}

// users are the node's named users: the pool's user accounts.
func (a *Agent) users() []sandbox.User {
	var users []sandbox.User
	for _, u := range a.node.UserAccounts {
		users = append(users, sandbox.User{Name: u.Name, Admin: strings.EqualFold(u.ElevationLevel, "admin")})
	}
	return users
}

// setUsers makes the node's login users users.
func (s *nodeSandbox) setUsers(ctx context.Context, users []nodeproto.NodeUser) error {
	return s.node.SetUsers(ctx, users)
}

// reimage empties the node's writable file systems and ends its processes.
func (s *nodeSandbox) reimage(ctx context.Context) error { return s.node.Reimage(ctx) }

// sandboxDone is closed when the node's init exited; nil without a sandbox.
func (a *Agent) sandboxDone() <-chan struct{} {
	if a.sandbox == nil {
		return nil
	}
	return a.sandbox.node.Done()
}

func (s *nodeSandbox) close() error {
	if s == nil {
		return nil
	}
	err := s.node.Close()
	s.uids.Release()
	return err
}

// shiftOwners gives every file under root owned by a uid or gid of the
// range at from the same id in the range at to. It follows no link
// (WalkDir and Lchown never do).
func shiftOwners(root string, from, to uint32) error {
	shift := func(id uint32) int {
		if id >= from && id-from < sandbox.RangeSize {
			return int(to + id - from)
		}
		return -1
	}
	return filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		uid, gid := shift(st.Uid), shift(st.Gid)
		if uid < 0 && gid < 0 {
			return nil
		}
		return os.Lchown(p, uid, gid)
	})
}

// hostname is the node's hostname: its ID, within the 64 bytes Linux allows.
func hostname(nodeID string) string {
	if len(nodeID) > 64 {
		return nodeID[:64]
	}
	return nodeID
}

func readCA(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the installation CA: %w", err)
	}
	return b, nil
}

// writeState writes the node's sandbox state atomically, 0600.
func writeState(path string, st sandboxState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	_, werr := f.Write(b)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(f.Name(), path)
	}
	if werr != nil {
		_ = os.Remove(f.Name())
	}
	return werr
}

// sandboxRunner runs start tasks and tasks through the node's init.
type sandboxRunner struct{ s *nodeSandbox }

func (r sandboxRunner) RunStartTask(ctx context.Context, cfg taskrun.Config, _ taskrun.Dirs, st nodeproto.StartTask, attempt int) nodeproto.StartTaskInfo {
	now := cfg.Now().UTC()
	before := r.s.node.OOMKills()
	res, err := r.s.node.Run(ctx, sandbox.Task{StartTask: &st, Attempt: attempt, Env: cfg.BaseEnv})
	if err != nil || res.StartTask == nil {
		end := cfg.Now().UTC()
		return nodeproto.StartTaskInfo{State: startTaskStateCompleted, StartTime: now, EndTime: &end, RetryCount: attempt,
			Result: "failure", Failure: nodeFailure(err)}
	}
	// The init is untrusted (node root can take it over): it reports only
	// its own start task's outcome, and the attempt is the agent's.
	info := *res.StartTask
	info.State, info.RetryCount = startTaskStateCompleted, attempt
	if f := oomFailure(info.ExitCode, before, r.s.node.OOMKills); f != nil {
		info.Failure, info.Result = f, "failure"
	}
	return info
}

func (r sandboxRunner) RunTask(ctx context.Context, cfg taskrun.Config, _ taskrun.Dirs, l nodeproto.TaskLease) nodeproto.ReportRequest {
	now := cfg.Now().UTC()
	before := r.s.node.OOMKills()
	res, err := r.s.node.Run(ctx, sandbox.Task{Lease: &l, Env: cfg.BaseEnv})
	if err != nil || res.Report == nil {
		end := cfg.Now().UTC()
		return nodeproto.ReportRequest{LeaseID: l.LeaseID, Event: reportCompleted, StartTime: now, EndTime: &end,
			Failure: nodeFailure(err)}
	}
	rep := *res.Report
	rep.LeaseID, rep.Event, rep.NodeID = l.LeaseID, reportCompleted, ""
	if f := oomFailure(rep.ExitCode, before, r.s.node.OOMKills); f != nil {
		rep.Failure = f
	}
	return rep
}

// PullImages pulls the pool's container images in the node; the errors
// are the images it could not pull. The init is untrusted: at most one
// error per image is kept, each bounded by the control plane.
func (r sandboxRunner) PullImages(ctx context.Context, cc nodeproto.ContainerConfiguration) []nodeproto.NodeError {
	res, err := r.s.node.Run(ctx, sandbox.Task{PullImages: true})
	if err != nil {
		return []nodeproto.NodeError{{Code: sandbox.CodeImagePullFailed, Message: "The node could not pull its container images: " + err.Error()}}
	}
	if len(res.PullErrors) > len(cc.ImageNames) {
		return res.PullErrors[:len(cc.ImageNames)]
	}
	return res.PullErrors
}

// CodeOutOfMemory is the failure code of a task the node's memory limit
// killed.
const CodeOutOfMemory = "TaskKilledOutOfMemory"

// oomFailure is the failure of a task that died of SIGKILL while the
// node's OOM kill count went up, or nil. It reads the count again (kills)
// only for a task that died of SIGKILL.
func oomFailure(exit *int, before int64, kills func() int64) *nodeproto.FailureInfo {
	if exit == nil || *exit != 128+int(syscall.SIGKILL) || kills() <= before {
		return nil
	}
	return &nodeproto.FailureInfo{Category: "usererror", Code: CodeOutOfMemory,
		Message: "The task was killed because the node ran out of memory: its VM size's memory limit was reached."}
}

// nodeFailure is the failure of a task the init could not run.
func nodeFailure(err error) *nodeproto.FailureInfo {
	if err == nil {
		err = errors.New("the node init sent no result")
	}
	return &nodeproto.FailureInfo{Category: "servererror", Code: "TaskEnded", Message: "The node could not run the task: " + err.Error()}
}

// publicName is the public address when it is a DNS name (the node maps it
// to its loopback), else "".
func publicName(addr string) string {
	if addr == "" || net.ParseIP(addr) != nil {
		return ""
	}
	return addr
}
