package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/cobaltbatch/cobalt/internal/sandbox"
)

// helperBinary copies the test binary where a non-admin task can run it.
func helperBinary(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		_ = os.Chmod(d, 0o755)
	}
	p := filepath.Join(dir, "azidentity-helper")
	if err := os.WriteFile(p, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// stageInNodes copies src into the shared directory of every node of the
// installation (under its data directory, or under its node directory in
// the system's temporary directory, named for its subscription) and
// returns its path as tasks see it.
func stageInNodes(t *testing.T, data, subscription, src string) string {
	t.Helper()
	stageUnder(t, data, src)
	if len(subscription) >= 8 {
		stageUnder(t, filepath.Join(os.TempDir(), "cobalt-nodes-"+subscription[:8]), src)
	}
	return sandbox.NodeRoot + "/shared/" + filepath.Base(src)
}

// stageUnder copies src into the shared directory of every node under root.
func stageUnder(t *testing.T, root, src string) {
	t.Helper()
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() || d.Name() != "shared" {
			return nil
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(p), "workitems")); err != nil {
			return nil
		}
		if out, err := exec.Command("cp", "-a", src, filepath.Join(p, filepath.Base(src))).CombinedOutput(); err != nil {
			t.Fatalf("stage %s: %v %s", src, err, out)
		}
		return filepath.SkipDir
	})
}
