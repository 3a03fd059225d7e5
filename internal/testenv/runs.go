package testenv

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Run is one execution of a stamping task, read from the stdout.txt it
// wrote: lines "start N", "tick N" and "end N" with N from a clock that
// every node of the machine shares (monotonic: /proc/uptime or
// CLOCK_MONOTONIC). Tests use runs to show that no task ran twice at once.
type Run struct {
	Task, Node  string
	Start, Last int64
	Ticks       int
	Ended       bool // it wrote its end line: it ran to its end
}

// Overlaps reports whether r and o were running at the same time.
func (r Run) Overlaps(o Run) bool { return r.Start < o.Last && o.Start < r.Last }

// Runs reads the runs of the tasks whose ID starts with prefix, from their
// stdout.txt anywhere under root (…/NODE/workitems/JOB/job-1/TASK/stdout.txt).
// A file without a start line is not a run.
func Runs(root, prefix string) []Run {
	var out []Run
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "stdout.txt" {
			return nil
		}
		parts := strings.Split(p, string(filepath.Separator))
		wi := slices.Index(parts, "workitems")
		if wi < 1 || len(parts) != wi+5 || !strings.HasPrefix(parts[wi+3], prefix) {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		r := Run{Task: parts[wi+3], Node: parts[wi-1]}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			v, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				continue
			}
			switch f[0] {
			case "start":
				r.Start = v
			case "tick":
				r.Ticks++
			case "end":
				r.Ended = true
			}
			r.Last = v
		}
		if r.Start != 0 {
			out = append(out, r)
		}
		return nil
	})
	return out
}
