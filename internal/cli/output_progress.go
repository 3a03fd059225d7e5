package cli

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// progress draws one live status line on a terminal (stderr) and is silent
// otherwise, so scripts see only the final result on stdout.
type progress struct {
	w    io.Writer // nil when stderr is not a terminal
	last string
}

func newProgress(g *globals) *progress {
	if IsTerminal(g.Stderr) {
		return &progress{w: g.Stderr}
	}
	return &progress{}
}

// update replaces the status line when it changed.
func (p *progress) update(line string) {
	if p.w == nil || line == p.last {
		return
	}
	p.last = line
	fmt.Fprintf(p.w, "\r\033[K%s", line)
}

// done ends the status line.
func (p *progress) done() {
	if p.w != nil && p.last != "" {
		fmt.Fprintln(p.w)
		p.last = ""
	}
}

// countStates renders "2 idle, 1 starting" from a list of states, sorted by name.
func countStates(states []string) string {
	if len(states) == 0 {
		return "no nodes"
	}
	n := map[string]int{}
	for _, s := range states {
		n[s]++
	}
	keys := make([]string, 0, len(n))
	for k := range n {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d %s", n[k], k)
	}
	return strings.Join(parts, ", ")
}
