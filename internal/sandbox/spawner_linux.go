//go:build linux

package sandbox

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/cobaltbatch/cobalt/internal/logkey"
)

// SpawnerName is argv[0] of a spawner, and envSpawner the marker in its
// environment: Main runs the spawner when it sees either.
const (
	SpawnerName = "cobalt-spawner"
	envSpawner  = "COBALT_SPAWNER"
	// spawnFD is the spawner's end of its socketpair.
	spawnFD = 3
	// spawnInitFD is, when envSpawnerInit is set, the node init binary the
	// host checked (see initBeside); the spawner moves it to initExeFD.
	spawnInitFD    = 4
	envSpawnerInit = "COBALT_SPAWNER_INIT"
	// initExeFD is the lowest descriptor where the spawner keeps that
	// binary, close-on-exec and above every descriptor an init's fork moves
	// around, so that each init can execute /proc/self/fd/N before the
	// descriptor closes.
	initExeFD = 100
)

// Spawner is a small fork server that starts node inits for one host
// process. Forking the host process itself (a control plane of hundreds of
// MiB) copies its page tables and then pays copy-on-write faults in the
// host, with its memory map locked meanwhile, once per node; the spawner is
// the same binary re-executed once, with a few MiB of its own, and forks
// each init from that.
//
// It runs outside every node, as the host's user, in a private mount
// namespace where the system directories a node binds are read-only (see
// lockSystemDirs). Only the host process can reach it: its one channel is
// an unnamed socketpair whose other end the host holds close-on-exec; no
// node init inherits either end. It ends when the host closes the channel
// or dies (Pdeathsig), and its inits end with it (theirs).
type Spawner struct {
	fd     int
	pid    int
	logger *slog.Logger
	exited chan struct{}

	sendMu sync.Mutex

	mu      sync.Mutex
	waiting map[uint64]chan spawnResult
	nextID  uint64
	dead    error // why no launch can be answered any more
	closed  bool
	reader  chan struct{}
}

type spawnResult struct {
	pid   int
	pidfd int
	err   error
}

// StartSpawner starts a spawner (as root: it needs a mount namespace). Its
// inits run from the cobalt-node-init beside this executable when that was
// built from the same source (initBeside), else from this executable.
func StartSpawner(logger *slog.Logger) (*Spawner, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var init *os.File
	if exe, err := os.Executable(); err == nil {
		var why string
		init, why = initBeside(exe, sameBuildAsThis)
		switch {
		case init != nil:
			defer init.Close()
			logger.Info("node inits run from the node init beside this executable", logkey.Command, init.Name())
		case why != "":
			logger.Warn("node inits run from this executable", logkey.Reason, why)
		}
	}
	return startSpawnerWith(logger, init)
}

// startSpawnerWith starts a spawner whose inits run from init, or from this
// executable when init is nil.
func startSpawnerWith(logger *slog.Logger, init *os.File) (*Spawner, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("sandbox: spawner socket: %w", err)
	}
	child := os.NewFile(uintptr(fds[1]), "spawner")
	defer child.Close()
	cmd := &exec.Cmd{
		Path: "/proc/self/exe",
		// A test binary that forgot to call Main runs no test and exits.
		Args:       []string{SpawnerName, "-test.run=^$"},
		Env:        []string{envSpawner + "=1"},
		Dir:        "/",
		Stderr:     os.Stderr,
		ExtraFiles: []*os.File{child}, // fd 3
		SysProcAttr: &syscall.SysProcAttr{
			// Its own mount namespace, where it makes the system
			// directories read-only once for every init it forks.
			Cloneflags: syscall.CLONE_NEWNS,
			// Not in the host's process group: a ^C to `cobalt up` must
			// not end the nodes before the host stops them.
			Setsid:    true,
			Pdeathsig: syscall.SIGKILL,
		},
	}
	if init != nil {
		cmd.Env = append(cmd.Env, envSpawnerInit+"=1")
		cmd.ExtraFiles = append(cmd.ExtraFiles, init) // fd 4
	}
	s := &Spawner{fd: fds[0], logger: logger, exited: make(chan struct{}), waiting: map[uint64]chan spawnResult{},
		reader: make(chan struct{})}
	errc := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the thread that forked the spawner ends:
		// this one stays, locked, until the spawner exited.
		runtime.LockOSThread()
		err := cmd.Start()
		errc <- err
		if err == nil {
			_ = cmd.Wait()
		}
		close(s.exited)
	}()
	if err := <-errc; err != nil {
		unix.Close(s.fd)
		return nil, fmt.Errorf("sandbox: start the spawner: %w", err)
	}
	child.Close()
	s.pid = cmd.Process.Pid
	ready, fd, err := s.recv()
	switch {
	case err != nil:
		err = fmt.Errorf("sandbox: the spawner did not start (does the binary call sandbox.Main?): %w", err)
	case fd >= 0 || ready.ID != 0:
		unix.Close(fd)
		err = errors.New("sandbox: the spawner's first message is not its readiness")
	case ready.Error != "":
		err = fmt.Errorf("sandbox: spawner setup: %s", ready.Error)
	}
	if err != nil {
		unix.Shutdown(s.fd, unix.SHUT_RDWR)
		unix.Close(s.fd)
		<-s.exited
		return nil, err
	}
	go s.read()
	return s, nil
}

// recv reads one reply and its pidfd (-1 without one).
func (s *Spawner) recv() (spawnReply, int, error) {
	buf := make([]byte, spawnMaxPacket)
	oob := make([]byte, unix.CmsgSpace(4*(spawnFDs+spawnMaxV1)))
	for {
		n, oobn, flags, _, err := unix.Recvmsg(s.fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return spawnReply{}, -1, err
		}
		if n == 0 && oobn == 0 {
			return spawnReply{}, -1, errors.New("the spawner closed its channel")
		}
		fds := rights(oob[:oobn])
		r, err := decodeSpawnReply(buf[:n])
		if err != nil || flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 || len(fds) > 1 || (len(fds) == 1) != (r.Pid > 0) {
			closeFDs(fds)
			return spawnReply{}, -1, errSpawnPacket
		}
		if len(fds) == 1 {
			return r, fds[0], nil
		}
		return r, -1, nil
	}
}

// read delivers replies to the launches waiting on them until the channel
// ends; then every waiting launch fails.
func (s *Spawner) read() {
	defer close(s.reader)
	var err error
	for {
		var r spawnReply
		var fd int
		r, fd, err = s.recv()
		if err != nil {
			break
		}
		s.mu.Lock()
		ch := s.waiting[r.ID]
		delete(s.waiting, r.ID)
		s.mu.Unlock()
		if ch == nil {
			if fd >= 0 {
				unix.Close(fd)
			}
			continue
		}
		res := spawnResult{pid: int(r.Pid), pidfd: fd}
		if r.Error != "" {
			res.err = errors.New(r.Error)
		}
		ch <- res
	}
	s.mu.Lock()
	closed := s.closed
	if closed {
		err = errors.New("sandbox: the spawner is closed")
	}
	s.dead = fmt.Errorf("sandbox: spawner: %w", err)
	for id, ch := range s.waiting {
		ch <- spawnResult{pidfd: -1, err: s.dead}
		delete(s.waiting, id)
	}
	s.mu.Unlock()
	if !closed {
		s.logger.Warn("the node spawner ended; nodes start without it", logkey.Err, err)
	}
}

// launch has the spawner start a node init with uid base base, fds 3 and 4
// ctrl and tree, stderr to stderr, born in the cgroup directories cgroups
// (one of cgroup v2 when v2, else one per v1 controller). It returns the
// init's pid and pidfd.
func (s *Spawner) launch(base uint32, ctrl, tree, stderr *os.File, cgroups []*os.File, v2 bool) (int, int, error) {
	ch := make(chan spawnResult, 1)
	s.mu.Lock()
	if s.dead != nil || s.closed {
		err := s.dead
		if err == nil {
			err = errors.New("sandbox: the spawner is closed")
		}
		s.mu.Unlock()
		return 0, -1, err
	}
	s.nextID++
	l := spawnLaunch{ID: s.nextID, Base: base}
	s.waiting[l.ID] = ch
	s.mu.Unlock()
	fds := []int{int(ctrl.Fd()), int(tree.Fd()), int(stderr.Fd())}
	for _, f := range cgroups {
		fds = append(fds, int(f.Fd()))
	}
	switch {
	case v2 && len(cgroups) == 1:
		l.Flags = spawnCgroup2
	case !v2 && len(cgroups) <= spawnMaxV1:
		l.Flags = uint32(len(cgroups)) << spawnV1Shift
	default:
		s.forget(l.ID)
		return 0, -1, errors.New("sandbox: no launch for these cgroups")
	}
	s.sendMu.Lock()
	err := unix.Sendmsg(s.fd, l.encode(), unix.UnixRights(fds...), nil, 0)
	s.sendMu.Unlock()
	runtime.KeepAlive(ctrl)
	runtime.KeepAlive(tree)
	runtime.KeepAlive(stderr)
	runtime.KeepAlive(cgroups)
	if err != nil {
		if !s.forget(l.ID) {
			// read answered meanwhile (the channel ended).
			if r := <-ch; r.pidfd >= 0 {
				unix.Close(r.pidfd)
			}
		}
		return 0, -1, fmt.Errorf("sandbox: send to the spawner: %w", err)
	}
	r := <-ch
	return r.pid, r.pidfd, r.err
}

// Alive reports whether the spawner still takes launches: false once it
// exited (or was killed) or was closed.
func (s *Spawner) Alive() bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dead == nil && !s.closed
}

// forget drops launch id's wait; false when read already answered it.
func (s *Spawner) forget(id uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, still := s.waiting[id]
	delete(s.waiting, id)
	return still
}

// Close ends the spawner, and with it every init it started that is still
// running: close it after the nodes.
func (s *Spawner) Close() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	unix.Shutdown(s.fd, unix.SHUT_RDWR)
	<-s.reader
	<-s.exited
	return unix.Close(s.fd)
}

// rights returns the descriptors an SCM_RIGHTS control message carries.
func rights(oob []byte) []int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for _, m := range msgs {
		if f, err := unix.ParseUnixRights(&m); err == nil {
			fds = append(fds, f...)
		}
	}
	return fds
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// runSpawner is the spawner process: it sets its mount namespace up, says
// it is ready, and starts one init per launch until its channel closes.
func runSpawner() int {
	// Nothing it starts may inherit its channel.
	syscall.CloseOnExec(spawnFD)
	exe := "/proc/self/exe"
	if os.Getenv(envSpawnerInit) == "1" {
		fd, err := unix.FcntlInt(spawnInitFD, unix.F_DUPFD_CLOEXEC, initExeFD)
		if err != nil {
			fmt.Fprintf(os.Stderr, "cobalt-spawner: keep the node init binary: %v\n", err)
			return 1
		}
		unix.Close(spawnInitFD)
		exe = "/proc/self/fd/" + strconv.Itoa(fd)
	}
	var sendMu sync.Mutex
	reply := func(r spawnReply, fd int) {
		var oob []byte
		if fd >= 0 {
			oob = unix.UnixRights(fd)
		}
		sendMu.Lock()
		_ = unix.Sendmsg(spawnFD, r.encode(), oob, nil, 0)
		sendMu.Unlock()
	}
	if err := privateSystemDirs(); err != nil {
		reply(spawnReply{Error: err.Error()}, -1)
		return 1
	}
	reply(spawnReply{}, -1)
	buf := make([]byte, spawnMaxPacket)
	oob := make([]byte, unix.CmsgSpace(4*(spawnFDs+spawnMaxV1)))
	for {
		n, oobn, flags, _, err := unix.Recvmsg(spawnFD, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 && oobn == 0 {
			return 0 // the host closed the channel, or is gone
		}
		fds := rights(oob[:oobn])
		l, err := decodeSpawnLaunch(buf[:n])
		if err != nil || flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 || len(fds) != l.fds() {
			closeFDs(fds)
			if err == nil {
				reply(spawnReply{ID: l.ID, Error: "sandbox: spawner: a launch with the wrong descriptors"}, -1)
			}
			continue
		}
		go spawnInit(exe, l, fds, reply)
	}
}

// spawnInit starts one node init, the executable exe, from a thread of its
// own, which joins a fresh session keyring first and then stays, locked,
// until the init exited: the init's Pdeathsig is tied to it.
func spawnInit(exe string, l spawnLaunch, fds []int, reply func(spawnReply, int)) {
	runtime.LockOSThread() // never unlocked
	files := make([]*os.File, len(fds))
	for i, fd := range fds {
		files[i] = os.NewFile(uintptr(fd), "launch")
	}
	fail := func(err error) {
		for _, f := range files {
			f.Close()
		}
		reply(spawnReply{ID: l.ID, Error: err.Error()}, -1)
	}
	if err := joinSessionKeyring(); err != nil {
		fail(fmt.Errorf("sandbox: a session keyring of its own: %w", err))
		return
	}
	cmd := initCommand(exe, int(l.Base), files[0], files[1])
	cmd.Stderr = files[2]
	back := func() error { return nil }
	if l.Flags&spawnCgroup2 != 0 {
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, fds[spawnFDs]
	} else if l.cgroups() > 0 {
		cg, err := cgroupV1Of(fds[spawnFDs:])
		if err == nil {
			back, err = cg.enterThread(unix.Gettid())
		}
		if err != nil {
			fail(fmt.Errorf("sandbox: the node's cgroups: %w", err))
			return
		}
	}
	pidfd := -1
	cmd.SysProcAttr.PidFD = &pidfd
	err := cmd.Start()
	if berr := back(); berr != nil && err == nil {
		// A thread left in the node's cgroups would keep them alive.
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		err = berr
	}
	for _, f := range files {
		f.Close()
	}
	if err == nil && pidfd < 0 {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		err = errors.New("the kernel gave no pidfd")
	}
	if err != nil {
		reply(spawnReply{ID: l.ID, Error: fmt.Sprintf("sandbox: start the node init: %v", err)}, -1)
		return
	}
	reply(spawnReply{ID: l.ID, Pid: int32(cmd.Process.Pid)}, pidfd)
	unix.Close(pidfd)
	// Reaped by pid, not through cmd.Wait: that waits on a duplicate of
	// the pidfd, whose open file the host made non-blocking.
	var ws syscall.WaitStatus
	for {
		if _, err := syscall.Wait4(cmd.Process.Pid, &ws, 0, nil); err != syscall.EINTR {
			break
		}
	}
	_ = cmd.Process.Release()
}

// cgroupV1Of is the node's cgroup v1 directories the host sent, one per
// controller, each under cgroupRoot/CONTROLLER/cobalt.
func cgroupV1Of(fds []int) (*cgroup, error) {
	cg := &cgroup{dirs: map[string]string{}}
	for _, fd := range fds {
		dir, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
		if err != nil {
			return nil, err
		}
		rel, ok := strings.CutPrefix(dir, cgroupRoot+"/")
		c, rest, _ := strings.Cut(rel, "/")
		if !ok || !strings.HasPrefix(rest, "cobalt/") || cg.dirs[c] != "" || c == "" {
			return nil, fmt.Errorf("not a node's cgroup directory: %s", dir)
		}
		cg.dirs[c] = dir
	}
	return cg, nil
}
