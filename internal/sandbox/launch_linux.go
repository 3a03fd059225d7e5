//go:build linux

package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cobaltbatch/cobalt/internal/logkey"
)

// Config describes one node sandbox to start.
type Config struct {
	// Name names the node's cgroup (a node ID, or its hash).
	Name string
	// NodeDir is the node's directory on the host; it appears at NodeRoot
	// inside, and its path never does.
	NodeDir string
	// Range is the node's host uid range (AcquireRange).
	Range *UIDRange
	// Limits are the node's resource limits.
	Limits Limits
	// Init is sent to the init once Attach returned.
	Init InitConfig
	// Attach, when set, is called with the init's host pid after the init
	// started and before it sets the node up: it attaches the node's
	// network namespace (/proc/PID/ns/net) and opens listeners in it.
	Attach func(pid int) error
	Logger *slog.Logger
	// Spawner, when set, starts the init (see Spawner); nil forks it
	// from this process.
	Spawner *Spawner
	// ReadyTimeout bounds the init's setup (default 30 s).
	ReadyTimeout time.Duration
}

// Node is a running node sandbox: its init and the control channel to it.
type Node struct {
	proc   initProcess
	ctrl   *os.File
	cg     *cgroup
	logger *slog.Logger
	stderr *limitedBuffer

	sendMu sync.Mutex

	mu       sync.Mutex
	waiting  map[uint64]chan *Result
	labels   map[uint64]string // running task leases: "jobID/taskID"
	sessions map[int]uint64    // session (node pid of its leader) → running task
	closed   bool

	exited <-chan struct{} // closed when the init exited
	reader chan struct{}   // closed when the control reader stopped
}

var cgroupWarning sync.Once

// Start starts a node's init in new user, mount, PID, UTS, IPC, network and
// cgroup namespaces, waits until it has set the node up, and returns it.
func Start(cfg Config) (_ *Node, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Range == nil {
		return nil, errors.New("sandbox: no uid range")
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = 30 * time.Second
	}
	base := int(cfg.Range.Base())
	// The node's root owns its directory (unmapped host files inside it
	// would be nobody's); nothing inside is touched, and no link followed.
	dirFD, err := unix.Open(cfg.NodeDir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("sandbox: open the node directory: %w", err)
	}
	dir := os.NewFile(uintptr(dirFD), "node-dir")
	defer dir.Close()
	if err := unix.Fchown(dirFD, base, base); err != nil {
		return nil, fmt.Errorf("sandbox: node directory owner: %w", err)
	}
	if err := unix.Fchmod(dirFD, 0o755); err != nil {
		return nil, fmt.Errorf("sandbox: node directory mode: %w", err)
	}
	// A detached copy of the node directory's mount, which the init moves
	// to NodeRoot: a mount of the host's namespace could not be bound
	// there, and the directory's path (under a 0700 data directory) is
	// neither reachable nor ever visible inside.
	treeFD, err := unix.OpenTree(dirFD, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH)
	if err != nil {
		return nil, fmt.Errorf("sandbox: clone the node directory's mount: %w", err)
	}
	tree := os.NewFile(uintptr(treeFD), "node-tree")
	defer tree.Close()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("sandbox: control socket: %w", err)
	}
	// Non-blocking, so that Close wakes the reader (the poller owns it).
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, err
	}
	host, child := os.NewFile(uintptr(fds[0]), "control"), os.NewFile(uintptr(fds[1]), "control-init")
	defer child.Close()
	defer func() {
		if err != nil {
			host.Close()
		}
	}()
	cg, cgErr := newCgroup(cgroupName(cfg.Name), cfg.Limits)
	if cgErr != nil {
		cgroupWarning.Do(func() {
			cfg.Logger.Warn("node resource limits are not enforced: cgroups unavailable", logkey.Err, cgErr)
		})
		if cg != nil && len(cg.dirs) == 0 {
			cg = nil
		}
	}
	defer func() {
		if err != nil {
			_ = cg.remove()
		}
	}()
	stderr := &limitedBuffer{max: 4096}
	var proc initProcess
	var stderrDone <-chan struct{}
	if cfg.Spawner != nil {
		proc, stderrDone, err = spawnInitProcess(cfg.Spawner, cfg.Range.Base(), child, tree, cg, stderr)
	} else {
		proc, err = startInitProcess(base, child, tree, cg, stderr)
	}
	if err != nil {
		return nil, fmt.Errorf("sandbox: start the node init: %w", err)
	}
	n := &Node{proc: proc, ctrl: host, cg: cg, logger: cfg.Logger, stderr: stderr, waiting: map[uint64]chan *Result{},
		labels: map[uint64]string{}, sessions: map[int]uint64{}, exited: proc.done(), reader: make(chan struct{})}
	defer func() {
		if err != nil {
			_ = proc.kill()
			<-n.exited
			_ = cg.remove()
		}
	}()
	if cfg.Attach != nil {
		if err := cfg.Attach(proc.pid()); err != nil {
			return nil, err
		}
	}
	init := cfg.Init
	if init.TmpfsBytes <= 0 {
		init.TmpfsBytes = tmpfsBytes(cfg.Limits)
	}
	if err := n.send(&message{Op: opConfig, Config: &init}); err != nil {
		return nil, fmt.Errorf("sandbox: configure the node init: %w", err)
	}
	first := make(chan *message, 1)
	go func() {
		m, err := readMessage(host)
		if err != nil {
			m = nil
		}
		first <- m
	}()
	var m *message
	select {
	case m = <-first:
	case <-time.After(cfg.ReadyTimeout):
		return nil, errors.New("sandbox: the node init did not get ready in time")
	}
	switch {
	case m == nil:
		<-n.exited
		if stderrDone != nil {
			select {
			case <-stderrDone:
			case <-time.After(time.Second):
			}
		}
		return nil, fmt.Errorf("sandbox: the node init exited during setup (does the binary call sandbox.Main?): %s", n.stderr)
	case m.Op == opFailed:
		return nil, fmt.Errorf("sandbox: node setup: %s", clip(m.Error, 512))
	case m.Op != opReady:
		return nil, fmt.Errorf("sandbox: unexpected %q from the node init", clip(m.Op, 32))
	}
	go n.read()
	return n, nil
}

// startInCgroup starts cmd from a thread placed in cg, so that the child is
// born in the node's cgroup and its cgroup namespace is rooted there.
//
// That thread first joins a fresh anonymous session keyring, so the init
// (and every task it execs) holds none of the host process's keys and
// shares no keyring with another node. The thread then never returns to
// Go's pool: the init's Pdeathsig fires when the thread that forked it
// exits, so the goroutine stays parked on it, locked, until exited is
// closed (the init exited); only then does the thread end with it. The
// thread also gets a private mount namespace with read-only system
// directories (lockSystemDirs), which the init's namespace copies.
func startInCgroup(cmd *exec.Cmd, cg *cgroup, exited <-chan struct{}) error {
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread's keyring and (until back) cgroups
		// are the node's, and the init's Pdeathsig is tied to it.
		runtime.LockOSThread()
		if err := joinSessionKeyring(); err != nil {
			errc <- fmt.Errorf("a session keyring of its own: %w", err)
			return
		}
		if err := lockSystemDirs(); err != nil {
			errc <- err
			return
		}
		back, err := cg.enterThread(unix.Gettid())
		if err != nil {
			errc <- err
			return
		}
		err = cmd.Start()
		if berr := back(); berr != nil {
			if err == nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			}
			errc <- errors.Join(err, berr)
			return
		}
		errc <- err
		if err == nil {
			<-exited
		}
	}()
	return <-errc
}

// lockSystemDirs gives the calling thread (locked, never returned to Go's
// pool) a private mount namespace in which every system directory the init
// binds into the node is a read-only, nosuid, nodev bind of itself, submounts
// included. The init's CLONE_NEWNS copies this namespace into one owned by
// the node's user namespace, and the kernel locks the read-only, nosuid and
// nodev flags of every mount copied that way (MNT_LOCK_READONLY and
// friends), as it does for the binds the init makes of them: node root
// cannot remount them read-write. Flags set from inside the node's user
// namespace would not be locked. Nothing of this is visible on the host.
func lockSystemDirs() error {
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("a private mount namespace: %w", err)
	}
	return privateSystemDirs()
}

// privateSystemDirs makes the calling process's mount namespace, which is
// its own (lockSystemDirs, or the spawner's CLONE_NEWNS), private, with
// every system directory the init binds read-only, nosuid and nodev.
func privateSystemDirs() error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make the private mount namespace private: %w", err)
	}
	for _, d := range systemDirs {
		fi, err := os.Lstat(d)
		if err != nil || !fi.IsDir() {
			continue // absent, or a link the init copies as a link
		}
		if err := unix.Mount(d, d, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s: %w", d, err)
		}
		attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
		if err := unix.MountSetattr(unix.AT_FDCWD, d, unix.AT_RECURSIVE, &attr); err != nil {
			// Before Linux 5.12: the top mount only.
			if err := remount(d, unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV); err != nil {
				return err
			}
		}
	}
	return nil
}

// joinSessionKeyring gives the calling thread a new anonymous session
// keyring (KEYCTL_JOIN_SESSION_KEYRING with a NULL name). Where keyrings
// are not compiled in there is nothing to share, and nothing to do.
func joinSessionKeyring() error {
	_, _, errno := unix.Syscall(unix.SYS_KEYCTL, unix.KEYCTL_JOIN_SESSION_KEYRING, 0, 0)
	if errno != 0 && errno != unix.ENOSYS {
		return errno
	}
	return nil
}

// cgroupName is a cgroup directory name for a node ID.
func cgroupName(name string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, name)
}

// Pid is the init's pid on the host.
func (n *Node) Pid() int { return n.proc.pid() }

// Done is closed when the init exited.
func (n *Node) Done() <-chan struct{} { return n.exited }

func (n *Node) send(m *message) error {
	n.sendMu.Lock()
	defer n.sendMu.Unlock()
	return writeMessage(n.ctrl, m)
}

// read delivers the init's results until the channel closes. Every message
// is untrusted: unknown ids and operations are dropped.
func (n *Node) read() {
	defer close(n.reader)
	for {
		m, err := readMessage(n.ctrl)
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				n.logger.Debug("node init control channel closed", logkey.Err, err)
			}
			return
		}
		if m.Op == opStarted {
			n.mu.Lock()
			if _, ok := n.labels[m.ID]; ok && m.Pid > 0 {
				n.sessions[m.Pid] = m.ID
			}
			n.mu.Unlock()
			continue
		}
		if m.Op != opDone || m.Result == nil {
			continue
		}
		n.mu.Lock()
		ch := n.waiting[m.ID]
		delete(n.waiting, m.ID)
		n.mu.Unlock()
		if ch != nil {
			ch <- m.Result
		}
	}
}

// ErrNodeGone is Run's error when the init exited or the node was closed.
var ErrNodeGone = errors.New("sandbox: the node init is gone")

// killGrace bounds how long Run waits for the init's report after asking
// it to end a task.
const killGrace = 15 * time.Second

// Run has the init run t and returns its result. When ctx ends first, the
// init is told to end the task, and its report of the ended task is
// returned.
func (n *Node) Run(ctx context.Context, t Task) (*Result, error) {
	ch := make(chan *Result, 1)
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil, ErrNodeGone
	}
	id := n.newID()
	n.waiting[id] = ch
	if t.Lease != nil {
		n.labels[id] = t.Lease.JobID + "/" + t.Lease.TaskID
	}
	n.mu.Unlock()
	defer n.forgetTask(id)
	forget := func() {
		n.mu.Lock()
		delete(n.waiting, id)
		n.mu.Unlock()
	}
	if err := n.send(&message{Op: opRun, ID: id, Task: &t}); err != nil {
		forget()
		return nil, fmt.Errorf("sandbox: send the task: %w", err)
	}
	select {
	case r := <-ch:
		return r, nil
	case <-n.reader:
		forget()
		return nil, ErrNodeGone
	case <-ctx.Done():
	}
	_ = n.send(&message{Op: opKill, ID: id})
	select {
	case r := <-ch:
		return r, nil
	case <-n.reader:
		forget()
		return nil, ErrNodeGone
	case <-time.After(killGrace):
		forget()
		return nil, errors.New("sandbox: the node init did not report the ended task")
	}
}

// newID returns an unused, unguessable run id (n.mu held): node root can
// take over the init's end of the control channel and send results, which
// the host takes only for ids it waits on.
func (n *Node) newID() uint64 {
	for {
		var b [8]byte
		_, _ = rand.Read(b[:])
		id := binary.LittleEndian.Uint64(b[:])
		if _, used := n.waiting[id]; id != 0 && !used {
			return id
		}
	}
}

// forgetTask drops the session of run id, which ended.
func (n *Node) forgetTask(id uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.labels, id)
	for sid, owner := range n.sessions {
		if owner == id {
			delete(n.sessions, sid)
		}
	}
}

// TaskOfSession returns "jobID/taskID" of the running task whose session
// leader has pid sid in the node's PID namespace, or "" when none does.
// Every task runs in a session of its own, which it cannot hand to another
// task; a process that left its task's session (setsid) belongs to none.
// The init reports the sessions: an admin task, which is node root and can
// take the init over, could lie about them.
func (n *Node) TaskOfSession(sid int) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if id, ok := n.sessions[sid]; ok {
		return n.labels[id]
	}
	return ""
}

// OOMKills is how many processes the node's memory limit has killed.
func (n *Node) OOMKills() int64 { return n.cg.oomKills() }

// Close ends the node: the init sees its control channel close and exits,
// which ends every process of the node (its PID namespace); then the
// node's cgroup is removed.
func (n *Node) Close() error {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	n.ctrl.Close()
	select {
	case <-n.exited:
	case <-time.After(5 * time.Second):
		_ = n.proc.kill()
		<-n.exited
	}
	// The cgroup empties when the last process of the node is reaped.
	var err error
	for range 50 {
		if err = n.cg.remove(); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}

// limitedBuffer keeps the first max bytes written to it.
type limitedBuffer struct {
	mu  sync.Mutex
	b   []byte
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := l.max - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.TrimSpace(string(l.b))
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
