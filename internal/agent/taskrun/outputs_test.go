package taskrun

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// outputTree makes a node root with a task's working directory holding
// files, a hidden file, a subdirectory and a link that leads out of the node.
func outputTree(t testing.TB) (nodeRoot, wd string) {
	t.Helper()
	nodeRoot = t.TempDir()
	wd = "workitems/j/job-1/t/wd"
	outside := filepath.Join(t.TempDir(), "secret.txt")
	for name, content := range map[string]string{
		"a.txt": "a", "b.log": "b", ".hidden.txt": "h", "out/c.txt": "c", "out/deep/d.txt": "d", "out/deep/e.csv": "e",
		"[x].txt": "x", "../stdout.txt": "so", "../stderr.txt": "se",
	} {
		p := filepath.Join(nodeRoot, wd, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(outside, []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(nodeRoot, wd, "link.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Dir(outside), filepath.Join(nodeRoot, wd, "linkdir")); err != nil {
		t.Fatal(err)
	}
	return nodeRoot, wd
}

func TestMatchOutputs(t *testing.T) {
	t.Parallel()
	nodeRoot, wd := outputTree(t)
	root, err := os.OpenRoot(nodeRoot)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	for _, c := range []struct {
		pattern, dst string
		blobs        []string // the blob names the matched files get
	}{
		{"*.txt", "", []string{"[x].txt", "a.txt"}}, // no hidden file, no link
		{"**/*.txt", "logs", []string{"logs/[x].txt", "logs/a.txt", "logs/out/c.txt", "logs/out/deep/d.txt"}},
		{".*.txt", "", []string{".hidden.txt"}},
		{"out/**/*", "", []string{"c.txt", "deep/d.txt", "deep/e.csv"}},
		{"out/deep/?.csv", "csv", []string{"csv/e.csv"}},
		{"[!ab]*.txt", "", []string{"[x].txt"}},
		{"abc[*]", "", nil},
		{"a.txt", "renamed/result.txt", []string{"renamed/result.txt"}}, // a literal pattern: path is the blob
		{"a.txt", "", []string{"a.txt"}},
		{"../std*.txt", "", []string{"stderr.txt", "stdout.txt"}},
		{"missing.txt", "", nil},
		{"link.txt", "", nil},                                                // a link out of the node is never read
		{"linkdir/*", "", nil},                                               // nor a directory through one
		{"nodir/*.txt", "", nil},                                             // a base that does not exist
		{filepath.Join(nodeRoot, wd, "out", "*.txt"), "", []string{"c.txt"}}, // absolute, inside the node
	} {
		files, base, err := matchOutputs(root, nodeRoot, wd, c.pattern)
		if err != nil {
			t.Errorf("%s: %v", c.pattern, err)
			continue
		}
		var blobs []string
		for _, f := range files {
			blobs = append(blobs, blobName(c.dst, f, base, !hasWildcard(c.pattern)))
		}
		if !slices.Equal(blobs, c.blobs) {
			t.Errorf("%s (path %q): blobs %q, want %q", c.pattern, c.dst, blobs, c.blobs)
		}
	}
	for _, bad := range []string{"/etc/passwd", "../../../../../../etc/*", "", "[", filepath.Dir(nodeRoot) + "/*"} {
		if files, _, err := matchOutputs(root, nodeRoot, wd, bad); err == nil && len(files) > 0 {
			t.Errorf("%q matched %q: a pattern outside the node must match nothing", bad, files)
		}
	}
}

func TestExpandEnv(t *testing.T) {
	t.Parallel()
	env := []string{"AZ_BATCH_TASK_DIR=/mnt/batch/tasks/workitems/j/job-1/t", "X=1", "X=2"}
	if got := expandEnv("$AZ_BATCH_TASK_DIR/*.txt-${X}-$NOPE", env); got != "/mnt/batch/tasks/workitems/j/job-1/t/*.txt-2-" {
		t.Errorf("expandEnv = %q", got)
	}
}

func FuzzMatchOutputs(f *testing.F) {
	for _, p := range []string{"*.txt", "**/*", "../std*.txt", "[!a]*", "a/**/b/**/c", "/x", "..", "[", "**/.*"} {
		f.Add(p)
	}
	nodeRoot, wd := outputTree(f)
	root, err := os.OpenRoot(nodeRoot)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, pattern string) {
		files, _, err := matchOutputs(root, nodeRoot, wd, pattern)
		if err != nil {
			return
		}
		for _, file := range files {
			b, err := root.ReadFile(file)
			if err != nil {
				t.Fatalf("%q matched %q, which cannot be read in the node: %v", pattern, file, err)
			}
			if string(b) == "secret" {
				t.Fatalf("%q matched %q: a file outside the node", pattern, file)
			}
		}
	})
}
