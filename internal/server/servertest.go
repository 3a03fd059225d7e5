package server

import (
	"context"
	"testing"
)

// StartTest starts a Cobalt on random ports in a temporary data directory and
// stops it when the test ends. Options left zero get test defaults.
func StartTest(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
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
	})
	return s
}
