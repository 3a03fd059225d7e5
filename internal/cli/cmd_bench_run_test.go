package cli

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/cobaltbatch/cobalt/internal/testenv"
)

// TestBenchCommand runs `cobalt bench` end to end on its cheapest rows with
// tiny durations: a child `cobalt up` (this test binary), the SDK driver, the
// bare baselines and the table. It checks that the table is sane, never the
// timings.
func TestBenchCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cobalt up child")
	}
	if !testenv.Isolated() {
		// The bench would create its own namespace by running this test
		// binary again with the test's flags.
		testenv.Unavailable(t, "the loopback-only network namespace")
	}
	var out, errb strings.Builder
	g := &globals{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	if code := runArgs(context.Background(), g, []string{"bench", "--only", "arm,tokens", "--duration", "300ms"}); code != 0 {
		t.Fatalf("cobalt bench: exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "run ") {
		t.Fatalf("want a header and two rows, got:\n%s", out.String())
	}
	rows := map[string]*regexp.Regexp{
		"ARM GET of a pool":        regexp.MustCompile(`\d+/s, p50 [\d.]+ ms, p99 [\d.]+ ms *\|bare handler, same \d+ bytes: \d+/s.* *\|[\d.]+ \(p99 [\d.]+×\)`),
		"client-credential tokens": regexp.MustCompile(`\d+/s, p50 [\d.]+ ms, p99 [\d.]+ ms *\|RS256-2048 signing, 16 goroutines: \d+/s; bare TLS token endpoint, same clients: \d+/s \([\d.]+ of signing\) +\|[\d.]+ \(of the bare endpoint: [\d.]+\) `),
	}
	for _, line := range lines[1:] {
		cells := strings.Split(line, "|")
		if len(cells) != 7 || strings.TrimSpace(cells[0]) != "1" {
			t.Errorf("row %q: want 7 cells of run 1", line)
			continue
		}
		if m := strings.TrimSpace(cells[6]); m != "✓" && m != "✗" {
			t.Errorf("row %q: met is %q", line, m)
		}
		for work, re := range rows {
			if strings.Contains(cells[1], work) {
				if !re.MatchString(line) {
					t.Errorf("row %q does not match %s", line, re)
				}
				delete(rows, work)
			}
		}
	}
	for work := range rows {
		t.Errorf("no row for %q in:\n%s", work, out.String())
	}
}
