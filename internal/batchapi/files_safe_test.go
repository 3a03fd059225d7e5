package batchapi

import (
	"encoding/json"
	"github.com/cobaltbatch/cobalt/internal/nodefiles"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
)

// plantedNode is a node root with a task directory in which a task has
// planted links to a secret outside the node.
type plantedNode struct {
	root, outside string
	task          fileRoot
}

const taskRel = "workitems/job/job-1/task1"

func newPlantedNode(t *testing.T) plantedNode {
	t.Helper()
	base := t.TempDir()
	n := plantedNode{root: filepath.Join(base, "node"), outside: filepath.Join(base, "outside")}
	for _, d := range []string{filepath.Join(n.root, taskRel, "wd"), n.outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name, content string) {
		if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(n.outside, "secret"), "secret")
	write(filepath.Join(n.root, taskRel, "stdout.txt"), "fine")
	n.task = fileRoot{src: nodefiles.Local(n.root), rel: taskRel}
	return n
}

func (n plantedNode) get(t *testing.T, s *Service, dir fileRoot, file string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	rc := &reqCtx{s: s, w: w, r: httptest.NewRequest("GET", "https://127.0.0.1:1/x", nil), requestID: "r"}
	if err := rc.serveFile(dir, file, "/jobs/job/tasks/task1/files/"); err != nil {
		rc.writeError(err) // as the router does
	}
	return w
}

func (n plantedNode) list(t *testing.T, s *Service, dir fileRoot) []string {
	t.Helper()
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "https://127.0.0.1:1/x?recursive=true", nil)
	rc := &reqCtx{s: s, w: w, r: r, requestID: "r", query: map[string][]string{"recursive": {"true"}}}
	if err := rc.listFiles(dir, "/jobs/job/tasks/task1/files/"); err != nil {
		rc.writeError(err) // as the router does
	}
	if w.Code != http.StatusOK {
		t.Fatalf("list: %d %s", w.Code, w.Body)
	}
	var out struct {
		Value []fileEntry `json:"value"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatalf("list: %v %s", err, w.Body)
	}
	var names []string
	for _, e := range out.Value {
		names = append(names, e.Name)
	}
	sort.Strings(names)
	return names
}

func wantNotServed(t *testing.T, what string, w *httptest.ResponseRecorder) {
	t.Helper()
	var e struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(w.Body.Bytes(), &e)
	if w.Code != http.StatusNotFound || e.Code != "FileNotFound" || w.Body.String() == "secret" {
		t.Errorf("%s: %d %s, want 404 FileNotFound", what, w.Code, w.Body)
	}
}

// TestTaskFilesRefuseSymlinks plants symbolic links that lead outside the
// task directory, in the file's own name and in the components of the
// task's directory, and checks that none is followed.
func TestTaskFilesRefuseSymlinks(t *testing.T) {
	t.Parallel()
	s := newTestService(t, testNow)
	n := newPlantedNode(t)
	taskDir := filepath.Join(n.root, taskRel)
	if err := os.Symlink(filepath.Join(n.outside, "secret"), filepath.Join(taskDir, "wd", "link")); err != nil {
		t.Skip(err)
	}
	if err := os.Symlink("../stdout.txt", filepath.Join(taskDir, "wd", "inside")); err != nil {
		t.Fatal(err)
	}
	if w := n.get(t, s, n.task, "stdout.txt"); w.Code != 200 || w.Body.String() != "fine" {
		t.Fatalf("a plain file: %d %s", w.Code, w.Body)
	}
	wantNotServed(t, "a link to a file outside", n.get(t, s, n.task, "wd/link"))
	if w := n.get(t, s, n.task, "wd/inside"); w.Code != 200 || w.Body.String() != "fine" {
		t.Errorf("a link that stays inside: %d %s", w.Code, w.Body)
	}
	if got := n.list(t, s, n.task); len(got) != 3 || got[0] != "stdout.txt" || got[1] != "wd" || got[2] != "wd/inside" {
		t.Errorf("list = %v, want stdout.txt, wd, wd/inside", got)
	}

	// The task replaces its own directory, then its job's, by a link outside.
	for _, swap := range []string{taskRel, "workitems/job"} {
		p := filepath.Join(n.root, swap)
		if err := os.RemoveAll(p); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		target := n.outside
		if swap == "workitems/job" {
			// outside/job-1/task1/secret mirrors the task's layout.
			target = filepath.Join(n.outside, "tree")
			if err := os.MkdirAll(filepath.Join(target, "job-1", "task1"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(target, "job-1", "task1", "secret"), []byte("secret"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		wantNotServed(t, swap+" replaced by a link", n.get(t, s, n.task, "secret"))
		w := httptest.NewRecorder()
		rc := &reqCtx{s: s, w: w, r: httptest.NewRequest("GET", "https://127.0.0.1:1/x", nil), requestID: "r"}
		if err := rc.listFiles(n.task, "/jobs/job/tasks/task1/files/"); err != nil {
			rc.writeError(err) // as the router does
		}
		if w.Code == http.StatusOK && json.Valid(w.Body.Bytes()) && len(n.listBody(w)) != 0 {
			t.Errorf("%s replaced by a link: list shows %s", swap, w.Body)
		}
	}
}

func (plantedNode) listBody(w *httptest.ResponseRecorder) []fileEntry {
	var out struct {
		Value []fileEntry `json:"value"`
	}
	_ = json.Unmarshal(w.Body.Bytes(), &out)
	return out.Value
}

// TestTaskFilesRefuseHardLinksAndSpecialFiles plants a hard link to a file
// outside the task directory and a FIFO: neither is served nor listed, and
// the FIFO does not hang the request.
func TestTaskFilesRefuseHardLinksAndSpecialFiles(t *testing.T) {
	t.Parallel()
	s := newTestService(t, testNow)
	n := newPlantedNode(t)
	taskDir := filepath.Join(n.root, taskRel)
	if err := os.Link(filepath.Join(n.outside, "secret"), filepath.Join(taskDir, "wd", "hard")); err != nil {
		t.Skip(err)
	}
	wantNotServed(t, "a hard link to a file outside", n.get(t, s, n.task, "wd/hard"))
	if err := syscall.Mkfifo(filepath.Join(taskDir, "wd", "fifo"), 0o644); err != nil {
		t.Skip(err)
	}
	wantNotServed(t, "a FIFO", n.get(t, s, n.task, "wd/fifo"))
	if got := n.list(t, s, n.task); len(got) != 2 || got[0] != "stdout.txt" || got[1] != "wd" {
		t.Errorf("list = %v, want stdout.txt and wd only", got)
	}
	// The node listing refuses them too.
	node := fileRoot{src: nodefiles.Local(n.root)}
	wantNotServed(t, "a hard link through the node", n.get(t, s, node, taskRel+"/wd/hard"))
}
