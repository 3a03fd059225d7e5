package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTraversable(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	open := filepath.Join(base, "open", "data")
	closed := filepath.Join(base, "closed", "data")
	for _, d := range []string{open, closed} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(base, "closed"), 0o700); err != nil {
		t.Fatal(err)
	}
	// Open up only what this test created (t.TempDir's own 0700 parents),
	// never the system's temporary directory itself.
	for d := base; d != filepath.Dir(d) && strings.HasPrefix(d, os.TempDir()+string(filepath.Separator)); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	if !traversable(os.TempDir()) {
		t.Skip("the system's temporary directory is not traversable by others")
	}
	if !traversable(open) {
		t.Errorf("%s should be traversable", open)
	}
	if traversable(closed) {
		t.Errorf("%s sits under a 0700 directory and should not be traversable", closed)
	}
}
