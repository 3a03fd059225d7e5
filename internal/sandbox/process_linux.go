//go:build linux

package sandbox

import (
	"io"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// initProcess is a started node init as the host holds it.
type initProcess interface {
	pid() int
	kill() error
	// done is closed when the init exited.
	done() <-chan struct{}
}

// initCommand is the node init's command: the executable exe as InitName,
// in new user, mount, PID, UTS, IPC, network and cgroup namespaces, node
// root mapped to the host uid range at base, ctrl and tree as fds 3 and 4.
func initCommand(exe string, base int, ctrl, tree *os.File) *exec.Cmd {
	return &exec.Cmd{
		Path: exe,
		// A test binary that forgot to call Main runs no test and exits.
		Args:       []string{InitName, "-test.run=^$"},
		Env:        []string{envInit + "=1"},
		Dir:        "/",
		ExtraFiles: []*os.File{ctrl, tree}, // fds 3 and 4
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS |
				syscall.CLONE_NEWIPC | syscall.CLONE_NEWNET | syscall.CLONE_NEWCGROUP,
			UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: base, Size: RangeSize}},
			GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: base, Size: RangeSize}},
			GidMappingsEnableSetgroups: true,
			// Become the node's root: host root is not mapped in the node.
			Credential: &syscall.Credential{Uid: 0, Gid: 0},
			Setsid:     true,
			Pdeathsig:  syscall.SIGKILL,
		},
	}
}

// cmdProcess is an init this process forked itself.
type cmdProcess struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// startInitProcess forks the init from this process (startInCgroup).
func startInitProcess(base int, ctrl, tree *os.File, cg *cgroup, stderr io.Writer) (initProcess, error) {
	cmd := initCommand("/proc/self/exe", base, ctrl, tree)
	cmd.Stderr = stderr
	if d := cg.dir2(); d != "" {
		f, err := os.Open(d)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, int(f.Fd())
	}
	p := &cmdProcess{cmd: cmd, exited: make(chan struct{})}
	if err := startInCgroup(cmd, cg, p.exited); err != nil {
		return nil, err
	}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	return p, nil
}

func (p *cmdProcess) pid() int              { return p.cmd.Process.Pid }
func (p *cmdProcess) kill() error           { return p.cmd.Process.Kill() }
func (p *cmdProcess) done() <-chan struct{} { return p.exited }

// pidfdProcess is an init the spawner forked: this process is not its
// parent and knows it by its pidfd, which cannot name a recycled pid.
type pidfdProcess struct {
	pidNum int
	fd     *os.File
	exited chan struct{}
}

// spawnInitProcess has sp start the init; its stderr reaches stderr
// through a pipe, which the returned channel says is drained.
func spawnInitProcess(sp *Spawner, base uint32, ctrl, tree *os.File, cg *cgroup, stderr io.Writer) (initProcess, <-chan struct{}, error) {
	var cgs []*os.File
	defer func() {
		for _, f := range cgs {
			f.Close()
		}
	}()
	if cg != nil {
		for _, d := range cg.dirs {
			f, err := os.Open(d)
			if err != nil {
				return nil, nil, err
			}
			cgs = append(cgs, f)
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	pid, pidfd, err := sp.launch(base, ctrl, tree, w, cgs, cg != nil && cg.v2)
	w.Close()
	if err != nil {
		r.Close()
		return nil, nil, err
	}
	drained := make(chan struct{})
	go func() {
		_, _ = io.Copy(stderr, r)
		r.Close()
		close(drained)
	}()
	// Non-blocking, so that the poller watches it for the init's exit.
	_ = unix.SetNonblock(pidfd, true)
	p := &pidfdProcess{pidNum: pid, fd: os.NewFile(uintptr(pidfd), "pidfd"), exited: make(chan struct{})}
	go p.wait()
	return p, drained, nil
}

// wait closes p.exited when the init exited (its pidfd turns readable),
// then closes the pidfd.
func (p *pidfdProcess) wait() {
	defer close(p.exited)
	exited := func(fd uintptr) bool {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(pfd, 0)
		return n > 0 || err != nil && err != unix.EINTR
	}
	rc, err := p.fd.SyscallConn()
	if err == nil {
		err = rc.Read(exited)
	}
	if err != nil {
		// Not in the poller: wait on the descriptor itself.
		_ = rc.Control(func(fd uintptr) {
			for {
				pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
				if n, err := unix.Poll(pfd, -1); n > 0 || err != nil && err != unix.EINTR {
					return
				}
			}
		})
	}
	p.fd.Close()
}

func (p *pidfdProcess) pid() int { return p.pidNum }

func (p *pidfdProcess) kill() error {
	rc, err := p.fd.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.PidfdSendSignal(int(fd), unix.SIGKILL, nil, 0) }); err != nil {
		return err
	}
	return serr
}

func (p *pidfdProcess) done() <-chan struct{} { return p.exited }
