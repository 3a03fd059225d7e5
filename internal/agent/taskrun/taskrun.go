package taskrun

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"

	"github.com/cobaltbatch/cobalt/internal/logkey"
)

// Config is what the agent passes to run a start task or task.
type Config struct {
	Logger *slog.Logger
	Now    func() time.Time
	// Token returns an access token for one of the node's identities (AGENT passes its IMDS cache).
	Token func(ctx context.Context, identityResourceID, resource string) (string, error)
	// HTTPClient trusts the installation CA; used for resource file downloads.
	HTTPClient *http.Client
	// Wrap is the agent's isolation hook: for example to run the process inside the node's netns.
	Wrap func(cmd *exec.Cmd)
	// BaseEnv holds node-level AZ_BATCH_* variables and identity endpoint variables.
	BaseEnv []string
	// DownloadTimeout bounds each resource file download (default 5 minutes).
	DownloadTimeout time.Duration
	// Credential, when set, picks the uid/gid a task runs as (nil: the
	// runner's own user) instead of the host lookup; an error fails the task
	// with that error's code when it is a *UserError. A node sandbox's init
	// sets it to the node's own users.
	Credential func(u nodeproto.UserIdentity) (*syscall.Credential, error)
	// Started, when set, is called with the pid of every task process right
	// after it started (a node init reaps every other child).
	Started func(pid int)
	// Start, when set, starts each task process instead of cmd.Start (a
	// node init gives each task a session keyring of its own).
	Start func(cmd *exec.Cmd) error
	// Container, when set, prepares the container of a task with
	// containerSettings; when nil such tasks fail with
	// ContainerNotSupported (they never run on the host instead).
	Container ContainerFunc
}

// UserError is a task user that cannot be used, in Batch's terms.
type UserError struct {
	Code, Message string
}

func (e *UserError) Error() string { return e.Message }

// Dirs is the Batch directory layout under the node root.
type Dirs struct {
	NodeRoot string
	Shared   string
	Startup  string
}

// TaskDir is where a task's stdout.txt, stderr.txt and wd live:
// <NodeRoot>/workitems/<job>/job-1/<task>.
func TaskDir(d Dirs, jobID, taskID string) string {
	return filepath.Join(d.NodeRoot, "workitems", jobID, "job-1", taskID)
}

// RemoveTaskDir removes a task's directory (TaskDir) with everything in it,
// through an os.Root at the node root: a task may have replaced any
// directory on the way (workitems/<job>, job-1) with a symlink, and none is
// followed out of the node's directory. A directory that does not exist is
// not an error.
func RemoveTaskDir(d Dirs, jobID, taskID string) error {
	rel, err := filepath.Rel(d.NodeRoot, TaskDir(d, jobID, taskID))
	if err != nil || !filepath.IsLocal(rel) {
		return fmt.Errorf("taskrun: task directory of %q/%q is outside the node", jobID, taskID)
	}
	r, err := os.OpenRoot(d.NodeRoot)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer r.Close()
	return r.RemoveAll(rel)
}

// Failure codes this package reports (Batch's TaskFailureInformationCodes).
const (
	CodeFailureExitCode  = "FailureExitCode"
	CodeBlobAccessDenied = "BlobAccessDenied"
	CodeBlobMiscError    = "BlobDownloadMiscError"
	CodeBlobTimedOut     = "BlobDownloadTimedOut"
	CodeTaskEnded        = "TaskEnded"
	CodeStartError       = "CommandProgramNotFound"
)

func (c *Config) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Config) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// RunStartTask runs one attempt of a pool's start task in d.Startup (wd/,
// stdout.txt, stderr.txt) and reports it as a completed StartTaskInfo with
// RetryCount attempt.
func RunStartTask(ctx context.Context, cfg Config, d Dirs, st nodeproto.StartTask, attempt int) nodeproto.StartTaskInfo {
	o := cfg.run(ctx, runSpec{
		dir: d.Startup, commandLine: st.CommandLine, env: st.Environment, files: st.ResourceFiles, user: st.UserIdentity,
		vars: []string{"AZ_BATCH_TASK_DIR=" + d.Startup, "AZ_BATCH_TASK_WORKING_DIR=" + filepath.Join(d.Startup, "wd")},
		dirs: d, container: st.Container, label: "startup",
	})
	info := nodeproto.StartTaskInfo{State: "completed", StartTime: o.start, EndTime: &o.end, ExitCode: o.exitCode,
		RetryCount: attempt, Failure: o.failure, Result: "success"}
	if o.failure != nil {
		info.Result = "failure"
	}
	return info
}

// RunTask runs a leased task to completion, or until ctx ends (the agent was
// told to stop it), and returns its "completed" report. NodeID is left for
// the agent to fill.
//
// After the process exits, the task's output files are uploaded (unless the
// task was stopped); a failed upload fails the task with
// FileUploadMiscError, as on Batch, keeping its exit code.
func RunTask(ctx context.Context, cfg Config, d Dirs, l nodeproto.TaskLease) nodeproto.ReportRequest {
	dir := TaskDir(d, l.JobID, l.TaskID)
	vars := []string{"AZ_BATCH_TASK_ID=" + l.TaskID, "AZ_BATCH_JOB_ID=" + l.JobID, "AZ_BATCH_TASK_DIR=" + dir,
		"AZ_BATCH_TASK_WORKING_DIR=" + filepath.Join(dir, "wd")}
	if jp := l.JobPreparation; jp != nil {
		// Batch tells a job's tasks where its preparation task ran.
		prep := TaskDir(d, l.JobID, jp.TaskID)
		vars = append(vars, "AZ_BATCH_JOB_PREP_DIR="+prep, "AZ_BATCH_JOB_PREP_WORKING_DIR="+filepath.Join(prep, "wd"))
	}
	spec := runSpec{
		dir: dir, commandLine: l.CommandLine, env: l.Environment, files: l.ResourceFiles, user: l.UserIdentity,
		wallClock: time.Duration(l.MaxWallClockSeconds) * time.Second,
		vars:      vars, dirs: d, container: l.Container, jobID: l.JobID, label: l.JobID + "_" + l.TaskID,
	}
	outputs := l.OutputFiles
	if mi := l.MultiInstance; mi != nil {
		spec.vars = append(spec.vars, MultiInstanceEnv(*mi, dir)...)
		if mi.Phase == nodeproto.PhaseCoordination {
			// Every instance: the common files in the task directory (the
			// shared directory), then the coordination command.
			spec.commandLine, spec.files, spec.rootFiles, outputs = mi.CoordinationCommandLine, nil, mi.CommonResourceFiles, nil
			spec.leftovers = true
		} else if mi.Phase == nodeproto.PhaseCleanup {
			endInstance(dir)
			now := cfg.now().UTC()
			return nodeproto.ReportRequest{LeaseID: l.LeaseID, Event: "completed", StartTime: now, EndTime: &now}
		} else {
			// The primary's application command, in the directory the
			// coordination command prepared; its output follows the
			// coordination command's in stdout.txt and stderr.txt.
			spec.keepDir = true
		}
	}
	o := cfg.run(ctx, spec)
	if len(outputs) > 0 && ctx.Err() == nil && (o.exitCode != nil || (o.failure != nil && o.failure.Code == CodeTaskEnded)) {
		env := append(append([]string{}, cfg.BaseEnv...), vars...)
		env = append(env, "AZ_BATCH_NODE_ROOT_DIR="+d.NodeRoot)
		for _, e := range l.Environment {
			env = append(env, e.Name+"="+e.Value)
		}
		if f := cfg.uploadOutputs(ctx, d.NodeRoot, dir, env, o.exitCode, outputs); f != nil && o.failure == nil {
			o.failure = f
		}
		o.end = cfg.now().UTC()
	}
	return nodeproto.ReportRequest{LeaseID: l.LeaseID, Event: "completed", StartTime: o.start, EndTime: &o.end,
		ExitCode: o.exitCode, Failure: o.failure}
}

type runSpec struct {
	dir         string
	commandLine string
	env         []nodeproto.EnvironmentSetting
	files       []nodeproto.ResourceFile
	user        nodeproto.UserIdentity
	wallClock   time.Duration
	vars        []string
	dirs        Dirs
	container   *nodeproto.ContainerSettings
	jobID       string
	label       string
	// rootFiles are downloaded into dir rather than its wd (a
	// multi-instance task's common resource files).
	rootFiles []nodeproto.ResourceFile
	// keepDir runs in dir as an earlier run left it (a multi-instance
	// task's application command after its coordination command), and
	// appends to its stdout.txt and stderr.txt.
	keepDir bool
	// leftovers keeps the process group for EndInstance (a coordination
	// command's background services).
	leftovers bool
}

type outcome struct {
	start, end time.Time
	exitCode   *int
	failure    *nodeproto.FailureInfo
}

// identityName is AZ_BATCH_TASK_USER_IDENTITY for an auto user.
func identityName(u nodeproto.UserIdentity) string {
	if u.UserName != "" {
		return u.UserName
	}
	scope, elev := "Pool", "NonAdmin"
	if u.AutoUserScope == "task" {
		scope = "Task"
	}
	if u.AutoUserElevation == "admin" {
		elev = "Admin"
	}
	return scope + elev
}

// credential returns the uid/gid a non-admin task runs as, or nil to run as
// the agent's user (admin, or an agent that is not root).
func credential(u nodeproto.UserIdentity) *syscall.Credential {
	if os.Geteuid() != 0 || u.AutoUserElevation == "admin" {
		return nil
	}
	// A named user account runs as the host user of that name when there is
	// one; otherwise, like a non-admin auto user, unprivileged.
	if u.UserName != "" {
		if c := lookupCredential(u.UserName); c != nil {
			return c
		}
	}
	return unprivileged()
}

// unprivileged is the credential of non-admin auto users: "_azbatch" if the
// host has it, else "nobody", else uid/gid 65534. It is looked up once.
var unprivileged = sync.OnceValue(func() *syscall.Credential {
	for _, name := range []string{"_azbatch", "nobody"} {
		if c := lookupCredential(name); c != nil {
			return c
		}
	}
	return &syscall.Credential{Uid: 65534, Gid: 65534, NoSetGroups: true}
})

func lookupCredential(name string) *syscall.Credential {
	usr, err := user.Lookup(name)
	if err != nil {
		return nil
	}
	uid, err1 := strconv.ParseUint(usr.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(usr.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}
}

// canTraverse reports whether uid/gid may search every directory from dir up to /.
func canTraverse(dir string, uid, gid uint32) bool {
	for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return false
		}
		perm := fi.Mode().Perm()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			switch {
			case st.Uid == uid:
				perm &= 0o100
			case st.Gid == gid:
				perm &= 0o010
			default:
				perm &= 0o001
			}
		}
		if perm == 0 {
			return false
		}
		if p == filepath.Dir(p) {
			return true
		}
	}
}

// chownTree gives the task directory root and everything in it to uid/gid,
// deepest first and root itself last, through descriptors and never
// following a link. Until the very end every directory on a walked path
// still belongs to the init's user, so a process of uid (another task of
// the same user) can neither rename nor replace anything the walk is in:
// a path-based walk that gave the top directory away first could be
// redirected by a symlink swapped in for a subdirectory.
func chownTree(root string, uid, gid int) error {
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	dir := os.NewFile(uintptr(fd), root)
	defer dir.Close()
	return errors.Join(chownContents(dir, uid, gid, 0), unix.Fchown(fd, uid, gid))
}

// chownFresh gives a fresh task directory that holds only what run created
// in it (wd, stdout.txt and stderr.txt; nothing downloaded, no earlier
// run) to uid/gid without chownTree's walk: the open files through their
// descriptors, then wd, then the directory itself last, never following a
// link. Nothing else can be in it: it still belongs to the init's user and
// no task process has run in it.
func chownFresh(dir string, uid, gid int, files ...*os.File) error {
	for _, f := range files {
		if err := f.Chown(uid, gid); err != nil {
			return err
		}
	}
	if err := unix.Fchownat(unix.AT_FDCWD, filepath.Join(dir, "wd"), uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	return unix.Fchownat(unix.AT_FDCWD, dir, uid, gid, unix.AT_SYMLINK_NOFOLLOW)
}

// maxChownDepth bounds chownTree's recursion (and its open descriptors).
const maxChownDepth = 128

// chownContents chowns every entry of dir, each directory's own contents
// before the directory.
func chownContents(dir *os.File, uid, gid, depth int) error {
	if depth > maxChownDepth {
		return errors.New("the task directory is nested too deeply")
	}
	ents, err := dir.ReadDir(-1)
	if err != nil {
		return err
	}
	dfd := int(dir.Fd())
	var errs []error
	for _, e := range ents {
		if e.IsDir() {
			sfd, err := unix.Openat(dfd, e.Name(), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			sub := os.NewFile(uintptr(sfd), e.Name())
			errs = append(errs, chownContents(sub, uid, gid, depth+1))
			sub.Close()
		}
		errs = append(errs, unix.Fchownat(dfd, e.Name(), uid, gid, unix.AT_SYMLINK_NOFOLLOW))
	}
	return errors.Join(errs...)
}

func (cfg *Config) run(ctx context.Context, s runSpec) (o outcome) {
	log := cfg.logger()
	o.start = cfg.now().UTC()
	defer func() { o.end = cfg.now().UTC() }()
	fail := func(category, code, msg string, details ...nodeproto.EnvironmentSetting) outcome {
		o.failure = &nodeproto.FailureInfo{Category: category, Code: code, Message: msg, Details: details}
		return o
	}
	wd := filepath.Join(s.dir, "wd")
	// Each attempt starts in a fresh directory: nothing an earlier attempt
	// left (a planted symlink or hard link) is followed. RemoveAll never
	// follows links, and the parents are checked not to be links.
	if s.keepDir {
		if err := os.MkdirAll(wd, 0o755); err != nil {
			return fail("servererror", CodeStartError, "The task directory could not be created: "+err.Error())
		}
	} else {
		if err := freshDir(s.dirs.NodeRoot, s.dir); err != nil {
			return fail("servererror", CodeStartError, "The task directory could not be created: "+err.Error())
		}
		if err := os.Mkdir(wd, 0o755); err != nil {
			return fail("servererror", CodeStartError, "The task directory could not be created: "+err.Error())
		}
	}
	runCtx := ctx
	if s.wallClock > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, s.wallClock)
		defer cancel()
	}
	wallClockHit := func() bool {
		return s.wallClock > 0 && ctx.Err() == nil && errors.Is(runCtx.Err(), context.DeadlineExceeded)
	}
	endedFailure := func() outcome {
		if wallClockHit() {
			return fail("usererror", CodeTaskEnded, "The task exceeded its maximum wall clock time and was ended.")
		}
		return fail("usererror", CodeTaskEnded, "The task was ended.")
	}
	for _, rf := range s.rootFiles {
		if fi := cfg.download(runCtx, s.dir, rf); fi != nil {
			if runCtx.Err() != nil {
				return endedFailure()
			}
			o.failure = fi
			return o
		}
	}
	for _, rf := range s.files {
		if fi := cfg.download(runCtx, wd, rf); fi != nil {
			if runCtx.Err() != nil {
				return endedFailure()
			}
			o.failure = fi
			return o
		}
	}
	outFlags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if s.keepDir {
		outFlags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	stdout, err := os.OpenFile(filepath.Join(s.dir, "stdout.txt"), outFlags|unix.O_NOFOLLOW, 0o644)
	if err != nil {
		return fail("servererror", CodeStartError, "stdout.txt could not be created: "+err.Error())
	}
	defer stdout.Close()
	stderr, err := os.OpenFile(filepath.Join(s.dir, "stderr.txt"), outFlags|unix.O_NOFOLLOW, 0o644)
	if err != nil {
		return fail("servererror", CodeStartError, "stderr.txt could not be created: "+err.Error())
	}
	defer stderr.Close()

	env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + wd}
	env = append(env, cfg.BaseEnv...)
	env = append(env, "AZ_BATCH_NODE_ROOT_DIR="+s.dirs.NodeRoot, "AZ_BATCH_NODE_SHARED_DIR="+s.dirs.Shared,
		"AZ_BATCH_NODE_STARTUP_DIR="+s.dirs.Startup)
	for _, e := range s.env {
		env = append(env, e.Name+"="+e.Value)
	}
	env = append(env, s.vars...)
	env = append(env, "AZ_BATCH_TASK_USER_IDENTITY="+identityName(s.user))
	cred := credential(s.user)
	if cfg.Credential != nil {
		var err error
		if cred, err = cfg.Credential(s.user); err != nil {
			var ue *UserError
			if errors.As(err, &ue) {
				return fail("usererror", ue.Code, ue.Message)
			}
			return fail("servererror", CodeStartError, "The task user could not be set up: "+err.Error())
		}
	}
	if cred != nil {
		give := func() error { return chownTree(s.dir, int(cred.Uid), int(cred.Gid)) }
		if !s.keepDir && len(s.files) == 0 && len(s.rootFiles) == 0 {
			give = func() error { return chownFresh(s.dir, int(cred.Uid), int(cred.Gid), stdout, stderr) }
		}
		if err := give(); err != nil {
			return fail("servererror", CodeStartError, "The task directory could not be given to the task user: "+err.Error())
		}
		if !canTraverse(wd, cred.Uid, cred.Gid) {
			// A directory above the node root is closed to other users (for
			// example a test's temporary directory): the unprivileged user
			// could not even enter wd, so the task runs as the agent's user.
			log.Warn("the task directory is not reachable by the unprivileged task user; running the task as the agent's user", logkey.Dir, s.dir)
			cred = nil
		}
	}
	var ctr ContainerRun
	if s.container != nil {
		if cfg.Container == nil {
			return fail("usererror", CodeContainerNotSupported, messageContainerNotSupportedYet)
		}
		var err error
		ctr, err = cfg.Container(runCtx, ContainerJob{Settings: *s.container, CommandLine: s.commandLine, Env: env, TaskDir: s.dir,
			WorkDir: wd, JobID: s.jobID, Dirs: s.dirs, Cred: cred, Label: s.label})
		if err != nil {
			if runCtx.Err() != nil {
				return endedFailure()
			}
			var ue *UserError
			if errors.As(err, &ue) {
				return fail("usererror", ue.Code, ue.Message)
			}
			return fail("servererror", CodeContainerCouldNotBeStarted, "The task's container could not be prepared: "+err.Error())
		}
		defer func() {
			if err := ctr.Remove(); err != nil {
				log.Warn("container not removed", logkey.Dir, s.dir, logkey.Err, err)
			}
		}()
		cred = nil // runc runs as the runner; the container as the task user
	}
	// build makes the command; Wrap may rewrite it (and its SysProcAttr), so
	// each attempt starts from a fresh one.
	build := func(argv ...string) *exec.Cmd {
		c := exec.Command(argv[0], argv[1:]...)
		c.Dir, c.Env, c.Stdout, c.Stderr = wd, env, stdout, stderr
		// Its own session (and so its own process group, killed as one), with
		// no controlling terminal shared with anything outside.
		c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if cred != nil {
			cr := *cred
			c.SysProcAttr.Credential = &cr
		}
		if cfg.Wrap != nil {
			cfg.Wrap(c)
		}
		return c
	}
	start := func(c *exec.Cmd) error {
		if cfg.Start != nil {
			return cfg.Start(c)
		}
		return c.Start()
	}
	var cmd *exec.Cmd
	if ctr != nil {
		cmd = build(ctr.Command()...)
		if err = start(cmd); err != nil {
			return fail("servererror", CodeContainerCouldNotBeStarted, "The container runtime could not be started: "+err.Error())
		}
	} else if argv := directArgv(s.commandLine); argv != nil {
		// What the shell would do for this command line, without the shell's
		// own fork and exec. A start failure (for example a script without
		// "#!", which the shell runs itself) falls back to the shell.
		cmd = build(argv...)
		if err = start(cmd); err != nil {
			cmd = nil
		}
	}
	if cmd == nil {
		cmd = build("/bin/sh", "-c", s.commandLine)
		err = start(cmd)
	}
	if err != nil {
		return fail("usererror", CodeStartError, "The task process could not be started: "+err.Error())
	}
	if cfg.Started != nil {
		cfg.Started(cmd.Process.Pid)
	}
	if s.leftovers {
		// What the coordination command leaves running in its process
		// group is ended with the instance (EndInstance).
		coordinationGroups.Store(s.dir, cmd.Process.Pid)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-runCtx.Done():
		// Kill the container (its processes are not the runtime's
		// children), then the whole process group: the shell and
		// everything it started.
		if ctr != nil {
			ctr.Kill()
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		err = <-done
		o.exitCode = exitCodeOf(cmd, err)
		log.Info("task process killed", logkey.Dir, s.dir, logkey.WallClock, wallClockHit())
		return endedFailure()
	}
	o.exitCode = exitCodeOf(cmd, err)
	if o.exitCode == nil {
		return fail("servererror", CodeStartError, "The task process could not be waited for: "+err.Error())
	}
	if *o.exitCode != 0 {
		return fail("usererror", CodeFailureExitCode, "The task process exited with an unexpected exit code",
			nodeproto.EnvironmentSetting{Name: "Message", Value: fmt.Sprintf("The task process exited with an unexpected exit code: %d", *o.exitCode)})
	}
	return o
}

// exitCodeOf returns the exit code of a finished process; a process killed by
// a signal reports 128+signal, as a shell does.
func exitCodeOf(cmd *exec.Cmd, err error) *int {
	ps := cmd.ProcessState
	if ps == nil {
		return nil
	}
	code := ps.ExitCode()
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		code = 128 + int(ws.Signal())
	}
	_ = err
	return &code
}

// directArgv returns the argument vector /bin/sh -c would execute for a
// command line that is one simple command naming its program by path (the
// first word contains "/") and has no character the shell treats specially
// (quotes, $, globs, ~, #, redirections, separators, backslashes, newlines):
// for such a line the shell only splits words on blanks and execs. It
// returns nil for every other command line, which then runs under the shell.
func directArgv(line string) []string {
	for _, r := range line {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("/._-+,:=@%", r), r == ' ', r == '\t':
		default:
			return nil
		}
	}
	argv := strings.Fields(line)
	if len(argv) == 0 || !strings.Contains(argv[0], "/") || strings.Contains(argv[0], "=") {
		return nil
	}
	return argv
}

// freshDir removes dir with everything in it and creates it again, empty,
// mode 0755. When dir is under nodeRoot every step goes through an os.Root
// opened at nodeRoot, so a symlink planted by a task (in dir or one of its
// parents) can never lead the removal or the creation outside the node's
// directory; RemoveAll itself never follows links.
func freshDir(nodeRoot, dir string) error {
	rel, err := filepath.Rel(nodeRoot, dir)
	if nodeRoot == "" || err != nil || rel == "." || !filepath.IsLocal(rel) {
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
		return os.MkdirAll(dir, 0o755)
	}
	r, err := os.OpenRoot(nodeRoot)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(nodeRoot, 0o755); err != nil {
			return err
		}
		r, err = os.OpenRoot(nodeRoot)
	}
	if err != nil {
		return err
	}
	defer r.Close()
	// Most attempts are a task's first, in a directory that does not exist
	// yet under parents that do: creating it is then all there is to do.
	// Anything already there (an earlier attempt's directory, a link a
	// task planted) fails the Mkdir, and so does a missing parent: then
	// the full sequence below runs.
	if r.Mkdir(rel, 0o755) == nil {
		return nil
	}
	if err := r.RemoveAll(rel); err != nil {
		return err
	}
	if parent := filepath.Dir(rel); parent != "." {
		if err := r.MkdirAll(parent, 0o755); err != nil {
			return err
		}
	}
	return r.Mkdir(rel, 0o755)
}
