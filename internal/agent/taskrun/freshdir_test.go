package taskrun

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// TestFreshDir: a task's directory is created with its missing parents,
// emptied when an earlier attempt left it, and a link planted in its place
// is removed, never followed.
func TestFreshDir(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "workitems", "j", "job-1", "t")
	empty := func() {
		t.Helper()
		fi, err := os.Lstat(dir)
		if err != nil || !fi.IsDir() {
			t.Fatalf("%s: %v, %v", dir, fi, err)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Fatalf("%s is not empty: %v", dir, ents)
		}
	}
	// First attempt: no parents yet.
	if err := freshDir(root, dir); err != nil {
		t.Fatal(err)
	}
	empty()
	// An earlier attempt's files, and a link to outside the node in them.
	if err := os.WriteFile(filepath.Join(dir, "stdout.txt"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "wd")); err != nil {
		t.Fatal(err)
	}
	if err := freshDir(root, dir); err != nil {
		t.Fatal(err)
	}
	empty()
	// The directory itself replaced by a link to outside the node.
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, dir); err != nil {
		t.Fatal(err)
	}
	if err := freshDir(root, dir); err != nil {
		t.Fatal(err)
	}
	empty()
	if _, err := os.Stat(secret); err != nil {
		t.Fatalf("a file outside the node was removed: %v", err)
	}
}

// TestTaskUserOwnsItsDirectory: a non-admin task's directory, wd,
// stdout.txt and stderr.txt belong to its user, with and without resource
// files (the walk and the walk-free path), and the task can write in wd.
func TestTaskUserOwnsItsDirectory(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files away")
	}
	d := dirs(t)
	blob := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "data") }))
	defer blob.Close()
	const uid = 54321
	cfg := Config{HTTPClient: blob.Client(), Credential: func(nodeproto.UserIdentity) (*syscall.Credential, error) {
		return &syscall.Credential{Uid: uid, Gid: uid, NoSetGroups: true}, nil
	}}
	for _, files := range [][]nodeproto.ResourceFile{nil, {{HTTPURL: blob.URL + "/f", FilePath: "sub/f"}}} {
		id := fmt.Sprintf("t%d", len(files))
		r := RunTask(t.Context(), cfg, d, nodeproto.TaskLease{JobID: "j", TaskID: id, CommandLine: "/bin/sh -c 'id -u > mine'",
			ResourceFiles: files})
		if r.Failure != nil {
			t.Fatalf("%s: %+v", id, r.Failure)
		}
		dir := TaskDir(d, "j", id)
		paths := []string{dir, filepath.Join(dir, "wd"), filepath.Join(dir, "stdout.txt"), filepath.Join(dir, "stderr.txt"),
			filepath.Join(dir, "wd", "mine")}
		if files != nil {
			paths = append(paths, filepath.Join(dir, "wd", "sub"), filepath.Join(dir, "wd", "sub", "f"))
		}
		for _, p := range paths {
			var st syscall.Stat_t
			if err := syscall.Lstat(p, &st); err != nil || st.Uid != uid || st.Gid != uid {
				t.Errorf("%s: owner %d:%d, %v", p, st.Uid, st.Gid, err)
			}
		}
	}
}
