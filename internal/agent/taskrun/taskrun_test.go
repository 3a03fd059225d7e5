package taskrun

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
	"github.com/cobaltbatch/cobalt/internal/testenv"
)

func dirs(t *testing.T) Dirs {
	// Non-admin tasks run as an unprivileged user when the test runs as root:
	// the node root must be traversable, as a real node root is (t.TempDir's
	// parent is not).
	root, err := os.MkdirTemp("", "taskrun")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	d := Dirs{NodeRoot: root, Shared: filepath.Join(root, "shared"), Startup: filepath.Join(root, "startup")}
	for _, p := range []string{d.Shared, d.Startup} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRunTaskExitCodes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		cmd      string
		code     int
		failCode string
	}{
		{"/bin/true", 0, ""},
		{"exit 3", 3, CodeFailureExitCode},
		{"echo out; echo err >&2; exit 0", 0, ""},
		{"kill -TERM $$", 128 + 15, CodeFailureExitCode},
		{"/nonexistent/program", 127, CodeFailureExitCode},
	}
	for i, c := range cases {
		t.Run(c.cmd, func(t *testing.T) {
			t.Parallel()
			d := dirs(t)
			r := RunTask(t.Context(), Config{}, d, nodeproto.TaskLease{LeaseID: "L", JobID: "job", TaskID: fmt.Sprintf("t%d", i), CommandLine: c.cmd})
			if r.Event != "completed" || r.LeaseID != "L" || r.ExitCode == nil || *r.ExitCode != c.code {
				t.Fatalf("report %+v exit %v, want exit %d", r, r.ExitCode, c.code)
			}
			if c.failCode == "" && r.Failure != nil || c.failCode != "" && (r.Failure == nil || r.Failure.Code != c.failCode || r.Failure.Category != "usererror") {
				t.Fatalf("failure %+v, want %q", r.Failure, c.failCode)
			}
			if r.EndTime == nil || r.EndTime.Before(r.StartTime) {
				t.Fatalf("times %v %v", r.StartTime, r.EndTime)
			}
		})
	}
	d := dirs(t)
	RunTask(t.Context(), Config{}, d, nodeproto.TaskLease{JobID: "j", TaskID: "io", CommandLine: "echo out; echo err >&2; echo f > file.txt"})
	dir := TaskDir(d, "j", "io")
	if read(t, filepath.Join(dir, "stdout.txt")) != "out\n" || read(t, filepath.Join(dir, "stderr.txt")) != "err\n" || read(t, filepath.Join(dir, "wd", "file.txt")) != "f\n" {
		t.Fatal("stdout.txt, stderr.txt or wd/file.txt has the wrong content")
	}
}

func TestRunTaskEnvironment(t *testing.T) {
	t.Parallel()
	d := dirs(t)
	cfg := Config{BaseEnv: []string{"AZ_BATCH_POOL_ID=p1", "AZ_BATCH_NODE_ID=n1"}}
	r := RunTask(t.Context(), cfg, d, nodeproto.TaskLease{JobID: "myjob", TaskID: "mytask", CommandLine: "env; id -u; pwd",
		Environment:  []nodeproto.EnvironmentSetting{{Name: "FOO", Value: "bar baz"}},
		UserIdentity: nodeproto.UserIdentity{AutoUserScope: "pool", AutoUserElevation: "nonadmin"}})
	if r.Failure != nil {
		t.Fatalf("failure %+v", r.Failure)
	}
	dir := TaskDir(d, "myjob", "mytask")
	out := read(t, filepath.Join(dir, "stdout.txt"))
	for _, want := range []string{"FOO=bar baz", "AZ_BATCH_TASK_ID=mytask", "AZ_BATCH_JOB_ID=myjob", "AZ_BATCH_TASK_DIR=" + dir,
		"AZ_BATCH_TASK_WORKING_DIR=" + filepath.Join(dir, "wd"), "AZ_BATCH_TASK_USER_IDENTITY=PoolNonAdmin", "AZ_BATCH_POOL_ID=p1",
		"AZ_BATCH_NODE_ID=n1", "AZ_BATCH_NODE_ROOT_DIR=" + d.NodeRoot, "AZ_BATCH_NODE_SHARED_DIR=" + d.Shared,
		"\n" + filepath.Join(dir, "wd") + "\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if os.Geteuid() == 0 && strings.Contains(out, "\n0\n") {
		t.Errorf("a non-admin task ran as root:\n%s", out)
	}
	r = RunTask(t.Context(), cfg, d, nodeproto.TaskLease{JobID: "myjob", TaskID: "admin", CommandLine: "id -u",
		UserIdentity: nodeproto.UserIdentity{AutoUserScope: "task", AutoUserElevation: "admin"}})
	if got := strings.TrimSpace(read(t, filepath.Join(TaskDir(d, "myjob", "admin"), "stdout.txt"))); r.Failure != nil || got != fmt.Sprint(os.Geteuid()) {
		t.Fatalf("admin task ran as %q (%+v)", got, r.Failure)
	}
}

func TestRunTaskWallClockKillsProcessGroup(t *testing.T) {
	t.Parallel()
	d := dirs(t)
	marker := filepath.Join(d.NodeRoot, "child.pid")
	// The shell starts a background child; both must die.
	r := RunTask(t.Context(), Config{}, d, nodeproto.TaskLease{JobID: "j", TaskID: "slow", MaxWallClockSeconds: 1,
		UserIdentity: nodeproto.UserIdentity{AutoUserElevation: "admin"},
		CommandLine:  "sleep 300 & echo $! > " + marker + "; wait"})
	if r.Failure == nil || r.Failure.Code != CodeTaskEnded || !strings.Contains(r.Failure.Message, "wall clock") {
		t.Fatalf("failure %+v", r.Failure)
	}
	pid := strings.TrimSpace(read(t, marker))
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil || strings.Contains(string(b), ") Z ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the background child %s survived the wall clock kill", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRunTaskCancelled(t *testing.T) {
	t.Parallel()
	d := dirs(t)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(200*time.Millisecond, cancel)
	r := RunTask(ctx, Config{}, d, nodeproto.TaskLease{JobID: "j", TaskID: "c", CommandLine: "sleep 300"})
	if r.Failure == nil || r.Failure.Code != CodeTaskEnded {
		t.Fatalf("failure %+v", r.Failure)
	}
}

// blobServer serves a container "c" with blobs, requiring a bearer token
// "good" for /c and answering 403 for /denied.
func blobServer(t *testing.T) *httptest.Server {
	blobs := map[string]string{"in/a.txt": "A", "in/sub/b.txt": "B", "other.txt": "O"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("x-ms-version") == "" {
			http.Error(w, "no version", 400)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/denied") {
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `<?xml version="1.0"?><Error><Code>AuthorizationPermissionMismatch</Code></Error>`)
			return
		}
		if r.URL.Path == "/sas/c" || strings.HasPrefix(r.URL.Path, "/sas/c/") {
			if r.URL.Query().Get("sig") != "secret" {
				w.WriteHeader(http.StatusForbidden)
				return
			}
		} else if r.Header.Get("Authorization") != "Bearer good" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		name := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/sas"), "/c")
		if name == "" && r.URL.Query().Get("comp") == "list" {
			prefix := r.URL.Query().Get("prefix")
			var b strings.Builder
			b.WriteString(`<?xml version="1.0" encoding="utf-8"?><EnumerationResults><Blobs>`)
			for _, n := range []string{"in/a.txt", "in/sub/b.txt", "other.txt"} {
				if strings.HasPrefix(n, prefix) {
					fmt.Fprintf(&b, "<Blob><Name>%s</Name><Properties/></Blob>", n)
				}
			}
			b.WriteString(`</Blobs><NextMarker/></EnumerationResults>`)
			w.Write([]byte(b.String()))
			return
		}
		v, ok := blobs[strings.TrimPrefix(name, "/")]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Write([]byte(v))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestResourceFiles(t *testing.T) {
	t.Parallel()
	srv := blobServer(t)
	d := dirs(t)
	var asked []string
	cfg := Config{HTTPClient: srv.Client(), Token: func(_ context.Context, id, resource string) (string, error) {
		asked = append(asked, id+" "+resource)
		return "good", nil
	}}
	r := RunTask(t.Context(), cfg, d, nodeproto.TaskLease{JobID: "j", TaskID: "rf", CommandLine: "cat in/a.txt in/sub/b.txt data/x.txt sas/other.txt; stat -c %a data/x.txt",
		UserIdentity: nodeproto.UserIdentity{AutoUserElevation: "admin"},
		ResourceFiles: []nodeproto.ResourceFile{
			{StorageContainerURL: srv.URL + "/c", BlobPrefix: "in/", IdentityResourceID: "/id/1"},
			{HTTPURL: srv.URL + "/c/other.txt", FilePath: "data/x.txt", FileMode: "0640", IdentityResourceID: "/id/1"},
			{StorageContainerURL: srv.URL + "/sas/c?sv=2021&sig=secret", BlobPrefix: "other", FilePath: "sas"},
		}})
	if r.Failure != nil {
		t.Fatalf("failure %+v", r.Failure)
	}
	if got := read(t, filepath.Join(TaskDir(d, "j", "rf"), "stdout.txt")); got != "ABOO640\n" {
		t.Fatalf("stdout %q", got)
	}
	if len(asked) != 2 || asked[0] != "/id/1 "+StorageResource {
		t.Fatalf("token requests %v", asked)
	}
}

func TestResourceFileDenied(t *testing.T) {
	t.Parallel()
	srv := blobServer(t)
	cases := []struct {
		rf     nodeproto.ResourceFile
		code   string
		status string
	}{
		{nodeproto.ResourceFile{HTTPURL: srv.URL + "/denied/x?sig=topsecret", FilePath: "x"}, CodeBlobAccessDenied, "403"},
		{nodeproto.ResourceFile{StorageContainerURL: srv.URL + "/denied"}, CodeBlobAccessDenied, "403"},
		{nodeproto.ResourceFile{StorageContainerURL: srv.URL + "/c"}, CodeBlobAccessDenied, "401"},
		{nodeproto.ResourceFile{HTTPURL: srv.URL + "/c/missing", FilePath: "m", IdentityResourceID: "/id"}, CodeBlobMiscError, "404"},
		{nodeproto.ResourceFile{HTTPURL: srv.URL + "/c/other.txt", FilePath: "../escape", IdentityResourceID: "/id"}, CodeBlobMiscError, ""},
	}
	for i, c := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			d := dirs(t)
			cfg := Config{HTTPClient: srv.Client(), Token: func(context.Context, string, string) (string, error) { return "good", nil }}
			r := RunTask(t.Context(), cfg, d, nodeproto.TaskLease{JobID: "j", TaskID: "t", CommandLine: "touch ran", ResourceFiles: []nodeproto.ResourceFile{c.rf}})
			f := r.Failure
			if f == nil || f.Category != "usererror" || f.Code != c.code || r.ExitCode != nil {
				t.Fatalf("report %+v failure %+v, want %s", r, f, c.code)
			}
			if c.status != "" && (!strings.Contains(f.Message, c.status) || !strings.Contains(f.Message, srv.URL)) {
				t.Fatalf("message %q does not name the URL and status %s", f.Message, c.status)
			}
			if strings.Contains(fmt.Sprint(f), "topsecret") {
				t.Fatalf("the SAS leaked into the failure info: %+v", f)
			}
			if _, err := os.Stat(filepath.Join(TaskDir(d, "j", "t"), "wd", "ran")); err == nil {
				t.Fatal("the command ran although a resource file failed")
			}
		})
	}
}

func TestResourceFileTimeout(t *testing.T) {
	t.Parallel()
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(30 * time.Second):
		}
	}))
	defer hang.Close()
	d := dirs(t)
	cfg := Config{HTTPClient: hang.Client(), DownloadTimeout: 300 * time.Millisecond}
	r := RunTask(t.Context(), cfg, d, nodeproto.TaskLease{JobID: "j", TaskID: "t", CommandLine: "true",
		ResourceFiles: []nodeproto.ResourceFile{{HTTPURL: hang.URL + "/x", FilePath: "x"}}})
	if r.Failure == nil || r.Failure.Code != CodeBlobTimedOut {
		t.Fatalf("failure %+v", r.Failure)
	}
}

func TestRunStartTask(t *testing.T) {
	t.Parallel()
	d := dirs(t)
	info := RunStartTask(t.Context(), Config{}, d, nodeproto.StartTask{CommandLine: "echo $AZ_BATCH_TASK_WORKING_DIR; exit 2",
		UserIdentity: nodeproto.UserIdentity{AutoUserScope: "pool", AutoUserElevation: "admin"}}, 1)
	if info.State != "completed" || info.Result != "failure" || info.RetryCount != 1 || info.ExitCode == nil || *info.ExitCode != 2 ||
		info.Failure == nil || info.Failure.Code != CodeFailureExitCode {
		t.Fatalf("info %+v", info)
	}
	if got := read(t, filepath.Join(d.Startup, "stdout.txt")); got != filepath.Join(d.Startup, "wd")+"\n" {
		t.Fatalf("stdout %q", got)
	}
	info = RunStartTask(t.Context(), Config{}, d, nodeproto.StartTask{CommandLine: "true"}, 0)
	if info.Result != "success" || info.Failure != nil {
		t.Fatalf("info %+v", info)
	}
}

func FuzzParseBlobList(f *testing.F) {
	f.Add([]byte(`<?xml version="1.0"?><EnumerationResults><Blobs><Blob><Name>a/b</Name></Blob></Blobs><NextMarker>m</NextMarker></EnumerationResults>`))
	f.Add([]byte(`<EnumerationResults/>`))
	f.Add([]byte(`not xml`))
	f.Fuzz(func(t *testing.T, b []byte) {
		names, _, err := ParseBlobList(b)
		if err != nil && names != nil {
			t.Fatal("names with an error")
		}
	})
}

func FuzzTarget(f *testing.F) {
	for _, s := range []string{"a", "../x", "a/../../b", `..\..\x`, "/etc/passwd", "", ".", "a/./b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rel string) {
		p, err := target("/base/wd", rel)
		if err == nil && !strings.HasPrefix(p, "/base/wd/") {
			t.Fatalf("%q escaped to %q", rel, p)
		}
	})
}

func TestClosedNodeRootFallsBackToAgentUser(t *testing.T) {
	t.Parallel()
	root := t.TempDir() // its parent is 0700: closed to other users
	d := Dirs{NodeRoot: root, Shared: filepath.Join(root, "shared"), Startup: filepath.Join(root, "startup")}
	r := RunTask(t.Context(), Config{}, d, nodeproto.TaskLease{JobID: "j", TaskID: "t", CommandLine: "echo ok"})
	if r.Failure != nil || read(t, filepath.Join(TaskDir(d, "j", "t"), "stdout.txt")) != "ok\n" {
		t.Fatalf("report %+v failure %+v", r, r.Failure)
	}
}

func TestDirectArgv(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"/bin/true":                   "[/bin/true]",
		"  /bin/echo  a   b=c --x=1 ": "[/bin/echo a b=c --x=1]",
		"./run.sh arg":                "[./run.sh arg]",
		"true":                        "[]",
		"exit 3":                      "[]",
		"A=1 /bin/env":                "[]",
		"/bin/echo $HOME":             "[]",
		"/bin/echo 'a b'":             "[]",
		"/bin/ls *":                   "[]",
		"/bin/true; /bin/false":       "[]",
		"/bin/echo a > f":             "[]",
		"/bin/echo ~":                 "[]",
		"/bin/echo a # c":             "[]",
		"/bin/echo a\\ b":             "[]",
		"/bin/echo a\nb":              "[]",
		"":                            "[]",
	}
	for in, want := range cases {
		if got := fmt.Sprint(directArgv(in)); got != want {
			t.Errorf("%q: %s, want %s", in, got, want)
		}
	}
}

func TestDirectExecFallsBackToShell(t *testing.T) {
	t.Parallel()
	d := dirs(t)
	script := filepath.Join(d.NodeRoot, "noshebang.sh")
	if err := os.WriteFile(script, []byte("echo from-script\nexit 4\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := RunTask(t.Context(), Config{}, d, nodeproto.TaskLease{JobID: "j", TaskID: "s", CommandLine: script,
		UserIdentity: nodeproto.UserIdentity{AutoUserElevation: "admin"}})
	if r.ExitCode == nil || *r.ExitCode != 4 || read(t, filepath.Join(TaskDir(d, "j", "s"), "stdout.txt")) != "from-script\n" {
		t.Fatalf("report %+v exit %v", r, r.ExitCode)
	}
	r = RunTask(t.Context(), Config{}, d, nodeproto.TaskLease{JobID: "j", TaskID: "m", CommandLine: "/no/such/program"})
	if r.ExitCode == nil || *r.ExitCode != 127 {
		t.Fatalf("missing program: exit %v failure %+v", r.ExitCode, r.Failure)
	}
}

func FuzzDirectArgv(f *testing.F) {
	for _, s := range []string{"/bin/true", "/bin/echo a b", "echo $x", "/bin/a 'b c'", "./x\ty"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		argv := directArgv(s)
		if argv == nil {
			return
		}
		if strings.Join(argv, " ") != strings.Join(strings.Fields(s), " ") || !strings.Contains(argv[0], "/") {
			t.Fatalf("%q -> %q", s, argv)
		}
		if strings.ContainsAny(s, "$'\"`\\;&|<>(){}*?[]~#!\n") {
			t.Fatalf("%q has shell syntax but was split to %q", s, argv)
		}
	})
}

func TestWrapSeesTheTaskUserOnEveryAttempt(t *testing.T) {
	t.Parallel()
	testenv.Require(t, testenv.Root)
	d := dirs(t)
	script := filepath.Join(d.NodeRoot, "noshebang.sh")
	if err := os.WriteFile(script, []byte("id -u\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	var creds []bool
	cfg := Config{Wrap: func(c *exec.Cmd) {
		creds = append(creds, c.SysProcAttr != nil && c.SysProcAttr.Credential != nil)
	}}
	r := RunTask(t.Context(), cfg, d, nodeproto.TaskLease{JobID: "j", TaskID: "w", CommandLine: script})
	if r.Failure != nil || fmt.Sprint(creds) != "[true true]" {
		t.Fatalf("failure %+v, wrap saw credentials %v", r.Failure, creds)
	}
	if got := strings.TrimSpace(read(t, filepath.Join(TaskDir(d, "j", "w"), "stdout.txt"))); got == "0" {
		t.Fatal("the shell fallback ran as root")
	}
}

// TestRemoveTaskDirFollowsNoLink: a task that replaced its job's directory
// with a symlink to a directory outside the node (where a job-1/<task> tree
// exists, say another node's) cannot make the removal of its task files
// delete anything there; the node's own task directory is removed.
func TestRemoveTaskDirFollowsNoLink(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "node")
	victim := filepath.Join(base, "other", "job-1", "t")
	for _, d := range []string{victim, filepath.Join(root, "workitems", "own", "job-1", "t", "wd")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(victim, "keep"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(base, "other"), filepath.Join(root, "workitems", "evil")); err != nil {
		t.Fatal(err)
	}
	d := Dirs{NodeRoot: root}
	if err := RemoveTaskDir(d, "evil", "t"); err == nil {
		t.Error("the removal went through the planted link without an error")
	}
	if _, err := os.Stat(filepath.Join(victim, "keep")); err != nil {
		t.Fatalf("a file outside the node was removed: %v", err)
	}
	if err := RemoveTaskDir(d, "../..", "t"); err == nil {
		t.Error("a job ID with .. was accepted")
	}
	if err := RemoveTaskDir(d, "own", "t"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(TaskDir(d, "own", "t")); !os.IsNotExist(err) {
		t.Errorf("the task directory survives: %v", err)
	}
	if err := RemoveTaskDir(d, "own", "gone"); err != nil {
		t.Errorf("removing a missing task directory: %v", err)
	}
}
