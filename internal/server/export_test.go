package server

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cobaltbatch/cobalt/internal/bearer"
)

// Validator returns the server's bearer-token validator, so that the external
// tests can check the tokens its login service issues.
func (s *Server) Validator() *bearer.Validator { return s.validator }

// StartTest is servertest.Start for this package's internal tests, which
// cannot import servertest (it imports this package): the same defaults and
// the same cleanup. Keep the two in step.
func StartTest(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.DataDir == "" {
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
	s, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if dir := s.OutsideNodeDir(); dir != "" {
			_ = os.RemoveAll(dir)
		}
	})
	return s
}
