//go:build linux

package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/cobaltbatch/cobalt/internal/agent/taskrun"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// The init's inherited descriptors.
const (
	ctrlFD    = 3 // the control socket
	nodeDirFD = 4 // a detached mount of the node's directory, moved to NodeRoot
)

// An init executed from the host's open node init binary
// (/proc/self/fd/N, N >= initExeFD) shows in ps and top under the descriptor's
// number: it takes its own name while its package inits still run on the
// main thread, whose name is the process's. (One run from /proc/self/exe
// keeps "exe".)
func init() {
	if os.Getenv(envInit) != "1" {
		return
	}
	comm, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		return
	}
	if fd, err := strconv.Atoi(strings.TrimSpace(string(comm))); err != nil || fd < initExeFD {
		return
	}
	if name, err := unix.BytePtrFromString(InitName); err == nil {
		_ = unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(name)), 0, 0, 0)
	}
}

// systemDirs are bound read-only from the host into every node's root.
var systemDirs = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc"}

// devices are bound from the host's /dev into the node's.
var devices = []string{"null", "zero", "full", "random", "urandom", "tty"}

// initState is the running init.
type initState struct {
	cfg   InitConfig
	ctrl  *os.File
	rd    *bufio.Reader // ctrl's reader
	httpc *http.Client

	sendMu sync.Mutex

	// startMu orders task starts before the reaper: a start holds it (read)
	// from its fork until its pid is in pids, the reaper (write) while it
	// decides, so a task that exits at once is never reaped before its own
	// Wait (which then failed with ECHILD).
	startMu sync.RWMutex

	mu       sync.Mutex
	tasks    map[uint64]context.CancelFunc
	pids     map[int]uint64 // task processes: the reaper leaves them to their Wait
	seen     map[int]bool   // zombie session leaders seen once
	nextTask int
	taskUIDs map[uint32]bool // task-scope uids that own a task directory
	wg       sync.WaitGroup

	containers *containers // nil: the node runs no containers

	login loginState // the node's login users and SSH server
}

func runInit() int {
	// As PID 1 of the node the init gets only the signals it handles; the
	// Go runtime would exit on these, so a task (even node root) that sends
	// them does not bring the node down. Handled, not ignored: children
	// start with the default dispositions.
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2)
	go func() {
		for range sigs {
		}
	}()
	syscall.CloseOnExec(ctrlFD)
	// Non-blocking, so that reads wait in the netpoller: a read blocked in
	// the kernel holds a P that sysmon then retakes, restarting its 20 µs
	// polling. Buffered, so a message is one read, not a header and a body.
	_ = syscall.SetNonblock(ctrlFD, true)
	ctrl := os.NewFile(ctrlFD, "control")
	rd := bufio.NewReader(ctrl)
	m, err := readMessage(rd)
	if err != nil || m.Op != opConfig || m.Config == nil {
		return 2
	}
	in := &initState{cfg: *m.Config, ctrl: ctrl, rd: rd, tasks: map[uint64]context.CancelFunc{}, pids: map[int]uint64{},
		seen: map[int]bool{}}
	if err := in.setup(); err != nil {
		_ = in.send(&message{Op: opFailed, Error: err.Error()})
		return 3
	}
	go in.reap()
	// A node without SSH still runs its tasks; remote login then refuses.
	_ = in.startSSH()
	if err := in.send(&message{Op: opReady}); err != nil {
		return 4
	}
	in.serve()
	return 0
}

func (in *initState) send(m *message) error {
	in.sendMu.Lock()
	defer in.sendMu.Unlock()
	return writeMessage(in.ctrl, m)
}

// serve runs the host's requests until the control channel closes; then
// every task is ended (the node's PID namespace ends with its init).
func (in *initState) serve() {
	for {
		m, err := readMessage(in.rd)
		if err != nil {
			break
		}
		switch m.Op {
		case opRun:
			if m.Task == nil {
				continue
			}
			ctx, cancel := context.WithCancel(context.Background())
			in.mu.Lock()
			if _, dup := in.tasks[m.ID]; dup {
				in.mu.Unlock()
				cancel()
				continue
			}
			in.tasks[m.ID] = cancel
			in.wg.Add(1)
			in.mu.Unlock()
			go in.run(ctx, m.ID, *m.Task)
		case opKill:
			in.mu.Lock()
			if cancel := in.tasks[m.ID]; cancel != nil {
				cancel()
			}
			in.mu.Unlock()
		}
	}
	in.mu.Lock()
	for _, cancel := range in.tasks {
		cancel()
	}
	in.mu.Unlock()
	in.wg.Wait()
}

// run runs one task and reports its outcome.
func (in *initState) run(ctx context.Context, id uint64, t Task) {
	defer in.wg.Done()
	defer func() {
		in.mu.Lock()
		if cancel := in.tasks[id]; cancel != nil {
			cancel()
		}
		delete(in.tasks, id)
		for pid, owner := range in.pids {
			if owner == id {
				delete(in.pids, pid)
			}
		}
		in.mu.Unlock()
	}()
	cfg := taskrun.Config{
		Token: in.token, HTTPClient: in.httpc, BaseEnv: t.Env, Credential: in.credential,
		Started: func(pid int) {
			in.mu.Lock()
			in.pids[pid] = id
			in.mu.Unlock()
			// The process leads a session of its own: the host attributes
			// IMDS requests by session.
			_ = in.send(&message{Op: opStarted, ID: id, Pid: pid})
		},
		Start: func(cmd *exec.Cmd) error {
			in.startMu.RLock()
			defer in.startMu.RUnlock()
			if err := startWithOwnKeyring(cmd); err != nil {
				return err
			}
			in.mu.Lock()
			in.pids[cmd.Process.Pid] = id
			in.mu.Unlock()
			return nil
		},
	}
	if in.containers != nil {
		cfg.Container = in.containers.prepare
	}
	d := taskrun.Dirs{NodeRoot: NodeRoot, Shared: NodeRoot + "/shared", Startup: NodeRoot + "/startup"}
	var res Result
	switch {
	case t.PullImages:
		res.PullErrors = in.containers.pullPool(ctx)
	case t.SetUsers:
		if err := in.setLoginUsers(t.Users); err != nil {
			res.Error = err.Error()
		}
	case t.Reimage:
		if err := in.reimage(id); err != nil {
			res.Error = err.Error()
		}

	case t.StartTask != nil:
		info := taskrun.RunStartTask(ctx, cfg, d, *t.StartTask, t.Attempt)
		res.StartTask = &info
	case t.Lease != nil:
		rep := taskrun.RunTask(ctx, cfg, d, *t.Lease)
		res.Report = &rep
	default:
		return
	}
	_ = in.send(&message{Op: opDone, ID: id, Result: &res})
}

// startWithOwnKeyring starts cmd from the init's start thread, which first
// joins a new anonymous session keyring, so that tasks of one node share no
// session keyring with each other or with the init (runc does the same per
// container). Where the node's root has used up its key quota the task
// keeps the init's keyring, which is the node's own, never an earlier
// task's.
func startWithOwnKeyring(cmd *exec.Cmd) error {
	startOnce.Do(func() { go startLoop() })
	r := startReq{cmd: cmd, errc: make(chan error, 1)}
	startReqs <- r
	return <-r.errc
}

type startReq struct {
	cmd  *exec.Cmd
	errc chan error
}

var (
	startOnce sync.Once
	startReqs = make(chan startReq)
)

// startLoop serves startWithOwnKeyring from one OS thread, locked to its
// goroutine for good: it runs nothing else, and the runtime makes its other
// threads from its template thread, never by cloning a locked one, so the
// keyring this thread joins reaches only the process it starts next. One
// reused thread rather than a new one per task: a thread per start cost a
// clone, the runtime's setup of the thread and its exit for every task.
// When a join fails with EDQUOT after this thread joined an earlier
// task's keyring, it must not start the task with that keyring: a new
// thread (the init's keyring) takes over and this one ends.
func startLoop() {
	runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
	joined := false
	for r := range startReqs {
		_, _, errno := unix.Syscall(unix.SYS_KEYCTL, unix.KEYCTL_JOIN_SESSION_KEYRING, 0, 0)
		switch {
		case errno == 0:
			joined = true
		case errno == unix.EDQUOT && joined:
			go startLoop()
			r.errc <- startFresh(r.cmd)
			return
		case errno != unix.ENOSYS && errno != unix.EDQUOT:
			r.errc <- fmt.Errorf("a session keyring for the task: %w", errno)
			continue
		}
		r.errc <- r.cmd.Start()
	}
}

// startFresh starts cmd from a new thread that ends after it, with the
// init's session keyring (or a new one if the quota allows it again).
func startFresh(cmd *exec.Cmd) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends here
		if _, _, errno := unix.Syscall(unix.SYS_KEYCTL, unix.KEYCTL_JOIN_SESSION_KEYRING, 0, 0); errno != 0 &&
			errno != unix.ENOSYS && errno != unix.EDQUOT {
			errc <- fmt.Errorf("a session keyring for the task: %w", errno)
			return
		}
		errc <- cmd.Start()
	}()
	return <-errc
}

// credential maps a task's userIdentity to a user of this node: admin auto
// users are node root, the non-admin pool auto user is PoolUser, a
// non-admin task auto user gets a uid of its own, and named users come only
// from the pool's user accounts.
func (in *initState) credential(u nodeproto.UserIdentity) (*syscall.Credential, error) {
	if u.UserName != "" {
		for i, usr := range in.cfg.Users {
			if usr.Name != u.UserName || !validUserName(usr.Name) {
				continue
			}
			if usr.Admin {
				return nil, nil
			}
			uid := uint32(firstNamedUID + i)
			return &syscall.Credential{Uid: uid, Gid: uid, NoSetGroups: true}, nil
		}
		return nil, &taskrun.UserError{Code: CodeUserNotFound,
			Message: "The user identity " + strconv.Quote(u.UserName) + " is not a user account of the pool."}
	}
	if strings.EqualFold(u.AutoUserElevation, "admin") {
		return nil, nil
	}
	if strings.EqualFold(u.AutoUserScope, "task") {
		in.mu.Lock()
		uid := in.taskUID()
		in.mu.Unlock()
		return &syscall.Credential{Uid: uid, Gid: uid, NoSetGroups: true}, nil
	}
	return &syscall.Credential{Uid: PoolUID, Gid: PoolUID, NoSetGroups: true}, nil
}

// taskUID picks a task-scope uid that owns no task directory of the node
// (in.mu held): the node's directory outlives its init, so a counter alone
// would hand a new task an earlier task's uid, and its files. When every
// uid has been handed out the directories are scanned again; only when all
// of them still own one is a uid reused.
func (in *initState) taskUID() uint32 {
	const n = lastTaskUID - firstTaskUID
	if in.taskUIDs == nil || len(in.taskUIDs) >= n {
		in.taskUIDs = usedTaskUIDs()
	}
	for range n {
		uid := uint32(firstTaskUID + in.nextTask%n)
		in.nextTask++
		if !in.taskUIDs[uid] {
			in.taskUIDs[uid] = true
			return uid
		}
	}
	uid := uint32(firstTaskUID + in.nextTask%n)
	in.nextTask++
	return uid
}

// usedTaskUIDs are the task-scope uids that own a task directory
// (workitems/JOB/job-N/TASK) of the node.
func usedTaskUIDs() map[uint32]bool {
	used := map[uint32]bool{}
	dirs, _ := filepath.Glob(NodeRoot + "/workitems/*/*/*")
	for _, d := range dirs {
		var st unix.Stat_t
		if unix.Lstat(d, &st) == nil && st.Uid >= firstTaskUID && st.Uid < lastTaskUID {
			used[st.Uid] = true
		}
	}
	return used
}

// token gets a token for one of the node's identities from the node's IMDS,
// as any task would.
func (in *initState) token(ctx context.Context, identityResourceID, resource string) (string, error) {
	q := url.Values{"api-version": {"2018-02-01"}, "resource": {resource}}
	if identityResourceID != "" {
		q.Set("msi_res_id", identityResourceID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://169.254.169.254/metadata/identity/oauth2/token?"+q.Encode(), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Metadata", "true")
	resp, err := in.httpc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("IMDS: %s", resp.Status)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		return "", errors.New("IMDS: no access token in the response")
	}
	return tr.AccessToken, nil
}

// validUserName reports whether name can be a named user of the node: a
// POSIX-style name (it goes into /etc/passwd) that is none of the node's
// own users.
func validUserName(name string) bool {
	if name == "" || len(name) > 32 || name == "root" || name == PoolUser || name == "nobody" {
		return false
	}
	for i, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '_':
		case (r >= '0' && r <= '9') || r == '-' || r == '.':
			if i == 0 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// setup builds the node's root filesystem, pivots into it and prepares the
// Batch layout.
func (in *initState) setup() error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / private: %w", err)
	}
	// Every tmpfs has a size: without one the kernel allows half the host's
	// memory to each. The root and /dev hold only mount points, links and
	// a few generated files.
	size := in.cfg.TmpfsBytes
	if size <= 0 {
		size = DefaultTmpfsBytes
	}
	small := "size=4m,nr_inodes=4096"
	sized := fmt.Sprintf("size=%d,nr_inodes=%d", size, max(size/4096, 4096))
	nr := "/tmp"
	if err := unix.Mount("tmpfs", nr, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755,"+small); err != nil {
		return fmt.Errorf("root tmpfs: %w", err)
	}
	for _, d := range systemDirs {
		fi, err := os.Lstat(d)
		if err != nil {
			continue
		}
		dst := nr + d
		if fi.Mode()&os.ModeSymlink != 0 {
			target, err := os.Readlink(d)
			if err != nil {
				return err
			}
			if err := os.Symlink(target, dst); err != nil {
				return err
			}
			continue
		}
		if !fi.IsDir() {
			continue
		}
		if err := os.Mkdir(dst, 0o755); err != nil {
			return err
		}
		if err := bindReadOnly(d, dst, unix.MS_REC); err != nil {
			return err
		}
	}
	if err := in.etcFiles(nr); err != nil {
		return err
	}
	mounts := []struct {
		dir, fstype, data string
		flags             uintptr
		mode              os.FileMode
	}{
		{"/proc", "proc", "", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, 0o555},
		{"/sys", "sysfs", "", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_RDONLY, 0o555},
		{"/dev", "tmpfs", "mode=0755," + small, unix.MS_NOSUID | unix.MS_NOEXEC, 0o755},
		{"/tmp", "tmpfs", "mode=1777," + sized, unix.MS_NOSUID | unix.MS_NODEV, 0o755},
		{"/home", "tmpfs", "mode=0755," + sized, unix.MS_NOSUID | unix.MS_NODEV, 0o755},
		{"/run", "tmpfs", "mode=0755," + sized, unix.MS_NOSUID | unix.MS_NODEV, 0o755},
		{"/var", "tmpfs", "mode=0755," + sized, unix.MS_NOSUID | unix.MS_NODEV, 0o755},
	}
	for _, m := range mounts {
		if err := os.Mkdir(nr+m.dir, m.mode); err != nil {
			return err
		}
		if err := unix.Mount(m.fstype, nr+m.dir, m.fstype, m.flags, m.data); err != nil {
			return fmt.Errorf("mount %s on %s: %w", m.fstype, m.dir, err)
		}
	}
	if err := os.Mkdir(nr+"/var/tmp", 0o1777); err != nil {
		return err
	}
	_ = os.Chmod(nr+"/var/tmp", 0o1777)
	if err := makeDev(nr+"/dev", sized); err != nil {
		return err
	}
	if err := os.MkdirAll(nr+NodeRoot, 0o755); err != nil {
		return err
	}
	if err := unix.MoveMount(nodeDirFD, "", unix.AT_FDCWD, nr+NodeRoot, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("bind the node directory: %w", err)
	}
	if err := remount(nr+NodeRoot, unix.MS_NOSUID|unix.MS_NODEV); err != nil {
		return err
	}
	unix.Close(nodeDirFD)
	if err := pivot(nr); err != nil {
		return err
	}
	if err := remount("/", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV); err != nil {
		return err
	}
	if err := unix.Sethostname([]byte(in.cfg.Hostname)); err != nil {
		return fmt.Errorf("hostname: %w", err)
	}
	os.Clearenv()
	_ = os.Setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	return in.batchLayout()
}

// etcFiles binds generated passwd, group, hostname and hosts over the
// host's, in the node's root nr.
func (in *initState) etcFiles(nr string) error {
	passwd, group := in.passwdGroup()
	files := map[string]string{
		"passwd":   passwd,
		"group":    group,
		"hostname": in.cfg.Hostname + "\n",
		"hosts":    "127.0.0.1\tlocalhost" + publicAlias(in.cfg.PublicName) + "\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t" + in.cfg.Hostname + "\n",
		// The node's own resolver: the agent answers Azure's public
		// hostnames there (internal/azurenames), and nothing else.
		"resolv.conf": "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
	}
	gen := nr + "/.node"
	if err := os.Mkdir(gen, 0o755); err != nil {
		return err
	}
	for name, content := range files {
		src := filepath.Join(gen, name)
		if err := os.WriteFile(src, []byte(content), 0o644); err != nil {
			return err
		}
		dst := nr + "/etc/" + name
		if _, err := os.Stat(dst); err != nil {
			continue // the host has no such file to cover
		}
		if err := bindReadOnly(src, dst, 0); err != nil {
			return err
		}
	}
	return nil
}

// passwdGroup returns the node's /etc/passwd and /etc/group: root, the pool
// auto user, the pool's named users and the node's login users.
func (in *initState) passwdGroup() (string, string) {
	var passwd, group bytes.Buffer
	passwd.WriteString("root:x:0:0:root:/root:/bin/sh\n")
	group.WriteString("root:x:0:\n")
	fmt.Fprintf(&passwd, "%s:x:%d:%d::/home/%s:/bin/sh\n", PoolUser, PoolUID, PoolUID, PoolUser)
	fmt.Fprintf(&group, "%s:x:%d:\n", PoolUser, PoolUID)
	for i, u := range in.cfg.Users {
		if !validUserName(u.Name) {
			continue
		}
		uid := firstNamedUID + i
		if u.Admin {
			uid = 0
		}
		fmt.Fprintf(&passwd, "%s:x:%d:%d::/home/%s:/bin/sh\n", u.Name, uid, uid, u.Name)
		if !u.Admin {
			fmt.Fprintf(&group, "%s:x:%d:\n", u.Name, uid)
		}
	}
	for _, u := range in.loginUserList() {
		fmt.Fprintf(&passwd, "%s:x:%d:%d::/home/%s:/bin/sh\n", u.Name, u.uid, u.uid, u.Name)
		if u.uid != 0 {
			fmt.Fprintf(&group, "%s:x:%d:\n", u.Name, u.uid)
		}
	}
	passwd.WriteString("nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
	group.WriteString("nogroup:x:65534:\n")
	return passwd.String(), group.String()
}

// makeDev fills the node's /dev.
func makeDev(dev, shmOptions string) error {
	for _, d := range devices {
		if _, err := os.Stat("/dev/" + d); err != nil {
			continue
		}
		if err := os.WriteFile(dev+"/"+d, nil, 0o666); err != nil {
			return err
		}
		if err := unix.Mount("/dev/"+d, dev+"/"+d, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind /dev/%s: %w", d, err)
		}
	}
	for _, d := range []string{"pts", "shm"} {
		if err := os.Mkdir(dev+"/"+d, 0o755); err != nil {
			return err
		}
	}
	if err := unix.Mount("devpts", dev+"/pts", "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"); err != nil {
		return fmt.Errorf("mount devpts: %w", err)
	}
	if err := unix.Mount("shm", dev+"/shm", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777,"+shmOptions); err != nil {
		return fmt.Errorf("mount /dev/shm: %w", err)
	}
	for name, target := range map[string]string{"ptmx": "pts/ptmx", "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
		"stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		if err := os.Symlink(target, dev+"/"+name); err != nil {
			return err
		}
	}
	return nil
}

// bindReadOnly binds src on dst read-only, keeping the flags the mount
// already has (a user namespace may not clear them).
func bindReadOnly(src, dst string, extra uintptr) error {
	if err := unix.Mount(src, dst, "", unix.MS_BIND|extra, ""); err != nil {
		return fmt.Errorf("bind %s: %w", src, err)
	}
	return remount(dst, unix.MS_RDONLY)
}

// remount remounts the bind mount at dst with flags added to its own.
func remount(dst string, flags uintptr) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dst, &st); err != nil {
		return err
	}
	keep := uintptr(0)
	for _, f := range []struct{ st, ms uintptr }{
		{unix.ST_RDONLY, unix.MS_RDONLY}, {unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NODEV, unix.MS_NODEV},
		{unix.ST_NOEXEC, unix.MS_NOEXEC}, {unix.ST_NOATIME, unix.MS_NOATIME}, {unix.ST_NODIRATIME, unix.MS_NODIRATIME},
		{unix.ST_RELATIME, unix.MS_RELATIME},
	} {
		if uintptr(st.Flags)&f.st != 0 {
			keep |= f.ms
		}
	}
	if err := unix.Mount("", dst, "", unix.MS_BIND|unix.MS_REMOUNT|keep|flags, ""); err != nil {
		return fmt.Errorf("remount %s: %w", dst, err)
	}
	return nil
}

// pivot makes nr the root and detaches the old one.
func pivot(nr string) error {
	if err := unix.Chdir(nr); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach the old root: %w", err)
	}
	return unix.Chdir("/")
}

// batchLayout creates the node's Batch directories and CA bundle and the
// HTTP client of resource file downloads.
func (in *initState) batchLayout() error {
	r, err := os.OpenRoot(NodeRoot)
	if err != nil {
		return err
	}
	defer r.Close()
	for _, d := range []string{"shared", "startup", "workitems", "applications", "fsmounts", "volatile"} {
		if err := r.Mkdir(d, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	if err := r.Chmod("shared", 0o1777); err != nil {
		return err
	}
	if len(in.cfg.CA) > 0 {
		var bundle bytes.Buffer
		for _, f := range []string{"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"} {
			if b, err := os.ReadFile(f); err == nil {
				bundle.Write(b)
				if len(b) > 0 && b[len(b)-1] != '\n' {
					bundle.WriteByte('\n')
				}
				break
			}
		}
		bundle.Write(in.cfg.CA)
		if err := r.RemoveAll("certs"); err != nil {
			return err
		}
		if err := r.Mkdir("certs", 0o755); err != nil {
			return err
		}
		if err := r.WriteFile("certs/ca-bundle.pem", bundle.Bytes(), 0o644); err != nil {
			return err
		}
		if err := r.WriteFile("certs/cobalt-ca.pem", in.cfg.CA, 0o644); err != nil {
			return err
		}
	}
	// Parsing the system roots takes tens of milliseconds: only tasks with
	// resource files need the client, so it is built on first use.
	tr := &lazyTransport{ca: in.cfg.CA}
	in.httpc = &http.Client{Transport: tr}
	if in.cfg.Containers != nil {
		c, err := newContainers(in.cfg.Containers, tr, in.token)
		if err != nil {
			return err
		}
		in.containers = c
	}
	return nil
}

// lazyTransport builds the download transport (the system roots and the
// installation CA, no proxy) on its first request.
type lazyTransport struct {
	ca   []byte
	once sync.Once
	rt   http.RoundTripper
}

func (l *lazyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	l.once.Do(func() {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		pool.AppendCertsFromPEM(l.ca)
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = nil
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		l.rt = tr
	})
	return l.rt.RoundTrip(r)
}

// reap waits for the children the node's processes leave to the init (PID
// 1 of the node): every zombie child except the task processes, which their
// own Wait collects. A zombie session leader not (yet) known as a task
// process is reaped only when seen a second time.
func (in *initState) reap() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGCHLD)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-sig:
		case <-tick.C:
		}
		if pid := exitedChild(); pid == 0 || in.isTask(pid) {
			// Nothing to reap: most SIGCHLDs are a task's exit, which its
			// own Wait has collected or is about to. Another zombie behind
			// a task's is found at the next SIGCHLD or tick.
			continue
		}
		procs, _ := filepath.Glob("/proc/[0-9]*/stat")
		for _, p := range procs {
			b, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			i := bytes.LastIndexByte(b, ')')
			if i < 0 {
				continue
			}
			f := strings.Fields(string(b[i+1:]))
			if len(f) < 4 || f[0] != "Z" || f[1] != "1" {
				continue
			}
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			sid, _ := strconv.Atoi(f[3])
			in.startMu.Lock()
			in.mu.Lock()
			_, task := in.pids[pid]
			wait := !task
			if wait && pid == sid && !in.seen[pid] {
				in.seen[pid] = true
				wait = false
			}
			if wait {
				delete(in.seen, pid)
			}
			in.mu.Unlock()
			if wait {
				var ws unix.WaitStatus
				_, _ = unix.Wait4(pid, &ws, unix.WNOHANG, nil)
			}
			in.startMu.Unlock()
		}
	}
}

// exitedChild returns the pid of a child of the init that has exited and
// not been waited for, or 0, without waiting for it (WNOWAIT): the reaper's
// /proc scan (a read of every process's stat) is needed only then.
func exitedChild() int {
	var info [128]byte // siginfo_t
	err := unix.Waitid(unix.P_ALL, 0, (*unix.Siginfo)(unsafe.Pointer(&info)),
		unix.WEXITED|unix.WNOHANG|unix.WNOWAIT|unix.WALL, nil)
	if err != nil || int32(binary.NativeEndian.Uint32(info[0:])) != int32(unix.SIGCHLD) {
		return 0
	}
	// si_pid follows si_signo, si_errno and si_code, at the union's
	// pointer-aligned offset.
	off := (12 + unsafe.Sizeof(uintptr(0)) - 1) &^ (unsafe.Sizeof(uintptr(0)) - 1)
	return int(int32(binary.NativeEndian.Uint32(info[off:])))
}

// isTask reports whether pid is a task process, which its own Wait reaps.
func (in *initState) isTask(pid int) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	_, ok := in.pids[pid]
	return ok
}

// publicAlias is " NAME" when name is a DNS name fit for /etc/hosts, else "".
func publicAlias(name string) string {
	if name == "" || strings.ContainsAny(name, " \t\r\n#") {
		return ""
	}
	return " " + name
}
