package benchrun

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cobaltbatch/cobalt/internal/sandbox"
)

// Rows are the bench's rows, in the order they run and print.
var Rows = []string{"tasks", "list", "arm", "imds", "tokens", "pool10", "pool100", "memory"}

// Options configure a bench run. Zero sizes take issue 17's.
type Options struct {
	// Exe is the cobalt executable the child runs (os.Executable()).
	Exe string
	// Runs is how many times the whole bench runs, each on a fresh child.
	Runs int
	// Only lists the rows to run (Rows names); empty runs them all.
	Only []string
	// Keep keeps each run's directory (data, up.log, profiles).
	Keep bool
	// Tasks is the task count of the tasks and list rows (10,000).
	Tasks int
	// Duration is the length of each load row and of its baseline (10 s).
	Duration time.Duration
	// Profile writes the child's CPU profile of each load row to the run's
	// directory (the child serves pprof on its metrics listener).
	Profile bool
	// ChildLogLevel is the child's --log-level (warn); its log is up.log
	// in the run's directory.
	ChildLogLevel string
	// Out receives the table; Log the progress lines.
	Out, Log io.Writer
}

// Result is one row of the table.
type Result struct {
	Run      int
	Row      string
	Work     string
	Figure   string
	Baseline string
	Ratio    string
	Target   string
	OK       bool
	Err      error
}

// Run runs the bench opts.Runs times and prints the table. It returns the
// results and an error when a run could not start at all.
func Run(ctx context.Context, opts Options) ([]Result, error) {
	if opts.Runs <= 0 {
		opts.Runs = 1
	}
	if opts.Tasks <= 0 {
		opts.Tasks = 10000
	}
	opts.Tasks = max(100, opts.Tasks/100*100)
	if opts.Duration <= 0 {
		opts.Duration = 10 * time.Second
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	for _, o := range opts.Only {
		if !slices.Contains(Rows, o) {
			return nil, fmt.Errorf("--only %s: no such row (rows: %s)", o, strings.Join(Rows, ", "))
		}
	}
	var all []Result
	for run := 1; run <= opts.Runs; run++ {
		res, err := runOnce(ctx, opts, run)
		all = append(all, res...)
		if err != nil {
			printTable(opts.Out, all)
			return all, err
		}
	}
	printTable(opts.Out, all)
	return all, nil
}

// runOnce starts a fresh child and runs the selected rows against it.
func runOnce(ctx context.Context, opts Options, run int) (res []Result, err error) {
	dir, err := os.MkdirTemp("", "cobalt-bench-")
	if err != nil {
		return nil, err
	}
	if opts.Keep {
		fmt.Fprintf(opts.Log, "run %d: keeping %s\n", run, dir)
	} else {
		defer os.RemoveAll(dir)
	}
	var env []string
	if opts.Profile {
		env = append(env, "COBALT_PPROF=1")
	}
	// IMDS's per-node rate limit (Azure's 20/s) would measure the limiter,
	// not the endpoint: the child runs with it off.
	level := opts.ChildLogLevel
	if level == "" {
		level = "warn"
	}
	args := []string{"--imds-rate-limit", "off", "--log-level", level}
	if unprivileged() {
		args = append(args, "--isolation", "process")
	}
	c, err := startChild(ctx, opts.Exe, dir, args, env)
	if err != nil {
		return nil, err
	}
	defer func() {
		if e := c.stop(); e != nil && err == nil {
			fmt.Fprintf(opts.Log, "run %d: cobalt up: %v\n", run, e)
		}
	}()
	fmt.Fprintf(opts.Log, "run %d: cobalt up (pid %d) ready in %s\n", run, c.pid(), dir)
	if os.Geteuid() == 0 { // as another user, nodes are the child's processes, without inits
		exe, why := sandbox.InitExecutable(opts.Exe)
		if why != "" {
			exe += ": " + why
		}
		fmt.Fprintf(opts.Log, "run %d: node inits run from %s\n", run, exe)
	}
	d, err := newDriver(ctx, c.ep)
	if err != nil {
		return nil, fmt.Errorf("%w\n%s", err, tail(c.log))
	}
	b := &bench{opts: opts, child: c, d: d, dir: dir, run: run}
	want := func(row string) bool { return len(opts.Only) == 0 || slices.Contains(opts.Only, row) }
	for _, g := range []struct {
		rows []string
		fn   func(context.Context) []Result
	}{
		{[]string{"tasks", "list"}, b.tasks},
		{[]string{"arm"}, b.armGet},
		{[]string{"imds"}, b.imds},
		{[]string{"tokens"}, b.tokens},
		{[]string{"pool10"}, b.pool10},
		{[]string{"pool100", "memory"}, b.pool100},
		{registryRows, b.registry},
		{containerRows, b.containers},
	} {
		if !slices.ContainsFunc(g.rows, want) {
			continue
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		for _, r := range g.fn(ctx) {
			if !want(r.Row) {
				continue
			}
			r.Run = run
			if r.Err != nil {
				fmt.Fprintf(opts.Log, "run %d: %s: %v\n", run, r.Row, r.Err)
			} else {
				fmt.Fprintf(opts.Log, "run %d: %s: %s (baseline %s)\n", run, r.Row, r.Figure, r.Baseline)
			}
			res = append(res, r)
		}
	}
	return res, nil
}

// bench is one run's state.
type bench struct {
	opts  Options
	child *child
	d     *driver
	dir   string
	run   int
}

func (b *bench) logf(format string, a ...any) {
	fmt.Fprintf(b.opts.Log, "run %d: "+format+"\n", append([]any{b.run}, a...)...)
}

// printTable writes the results as a Markdown table.
func printTable(w io.Writer, rs []Result) {
	if w == nil {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "run\twork\tCobalt\tbaseline (same run)\tratio\ttarget\tmet")
	for _, r := range rs {
		met := "✓"
		if !r.OK {
			met = "✗"
		}
		fig := r.Figure
		if r.Err != nil {
			fig, met = "error: "+oneLine(r.Err.Error()), "✗"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Run, r.Work, fig, dash(r.Baseline), dash(r.Ratio), r.Target, met)
	}
	tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func us(d time.Duration) string { return fmt.Sprintf("%.1f µs", float64(d.Nanoseconds())/1000) }
