package servertest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cobaltbatch/cobalt/internal/server"
)

// Start starts a Cobalt on random ports in a temporary data directory and
// stops it when the test ends. Options left zero get test defaults: a fresh
// temporary data directory that unprivileged task users can traverse, and
// process isolation. It fails the test when the server does not start.
func Start(t testing.TB, opts server.Options) *server.Server {
	t.Helper()
	if opts.DataDir == "" {
		// t.TempDir's parents are 0700; tasks run as unprivileged users must
		// traverse them to reach their node directories, as they would on a
		// real installation's path.
		dir := t.TempDir()
		for d := dir; d != filepath.Dir(d) && strings.HasPrefix(d, os.TempDir()+string(filepath.Separator)); d = filepath.Dir(d) {
			if err := os.Chmod(d, 0o711); err != nil {
				t.Fatal(err)
			}
		}
		opts.DataDir = dir
	}
	if opts.Isolation == "" {
		opts.Isolation = "process"
	}
	s, err := server.Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		// Node directories outside the data directory (as root) outlive
		// t.TempDir; they belong to this test alone.
		if dir := s.OutsideNodeDir(); dir != "" {
			_ = os.RemoveAll(dir)
		}
	})
	return s
}
