package cli

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cobaltbatch/cobalt/internal/server"
)

// BenchmarkCommand measures one CLI invocation (`group show`) against a real
// in-process Cobalt, the way a script runs it: a new process state each
// time, with the token from the on-disk cache ("cached"), and the baseline in
// the same run with the cache removed first, so that every invocation signs
// in again ("uncached", what a CLI without a token cache would cost).
func BenchmarkCommand(b *testing.B) {
	dir := b.TempDir()
	s, err := server.Start(context.Background(), server.Options{DataDir: filepath.Join(dir, "data"), Isolation: "process",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	cfg := filepath.Join(dir, "cfg")
	env := map[string]string{"COBALT_DATA": filepath.Join(dir, "data"), "COBALT_CONFIG_DIR": cfg}
	run := func(tb testing.TB, args ...string) {
		var errb strings.Builder
		g := &globals{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &errb, Getenv: func(k string) string { return env[k] }}
		if code := runArgs(context.Background(), g, args); code != 0 {
			tb.Fatalf("cobalt %v: %d %s", args, code, errb.String())
		}
	}
	run(b, "login")
	run(b, "group", "create", "-n", "rg1")
	for _, mode := range []string{"cached", "uncached"} {
		b.Run(mode, func(b *testing.B) {
			for b.Loop() {
				if mode == "uncached" {
					os.RemoveAll(filepath.Join(cfg, tokenDir))
				}
				run(b, "group", "show", "-n", "rg1")
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/command")
		})
	}
}
