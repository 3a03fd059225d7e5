package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// globals are the flags and streams every command shares.
type globals struct {
	// DataDir is the directory of a `cobalt up` installation (--data).
	DataDir string
	// Output is json, table or tsv (--output); "" means json when stdout is
	// not a terminal and table when it is.
	Output string
	// Verbose prints each request's method, URL and status to Stderr.
	Verbose bool

	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Getenv reads the environment (tests substitute it).
	Getenv func(string) string
	// Now is the clock of the services a command opens in-process and of the
	// times it reports; nil means time.Now.
	Now func() time.Time
}

// now reads g.Now, or the wall clock when it is unset.
func (g *globals) now() time.Time {
	if g.Now == nil {
		return time.Now()
	}
	return g.Now()
}

// IsTerminal reports whether w is an interactive terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// OutputFormat returns the effective output format.
func (g *globals) OutputFormat() string {
	if g.Output != "" {
		return g.Output
	}
	if IsTerminal(g.Stdout) {
		return "table"
	}
	return "json"
}

var (
	registryMu sync.Mutex
	registry   []func(*globals) *cobra.Command
)

// register adds a top-level command. Each command file calls it from init().
func register(fn func(*globals) *cobra.Command) {
	registryMu.Lock()
	defer registryMu.Unlock()
	registry = append(registry, fn)
}

// exitError carries a process exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// newRoot builds the command tree.
func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:           "cobalt",
		Short:         "Cobalt: self-hosted Azure Batch pools with managed identities",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(g.Stdin)
	root.SetOut(g.Stdout)
	root.SetErr(g.Stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&g.DataDir, "data", defaultDataDir(g.Getenv), "the Cobalt data `directory` (state of cobalt up, endpoints.json)")
	pf.StringVarP(&g.Output, "output", "o", "", "output format: json, table or tsv (default json when not a terminal)")
	pf.BoolVar(&g.Verbose, "verbose", false, "print each request's method, URL and status")
	registryMu.Lock()
	fns := append([]func(*globals) *cobra.Command(nil), registry...)
	registryMu.Unlock()
	for _, fn := range fns {
		root.AddCommand(fn(g))
	}
	return root
}

func defaultDataDir(getenv func(string) string) string {
	if d := getenv("COBALT_DATA"); d != "" {
		return d
	}
	return ".cobalt"
}

// Main runs the cobalt command with args (without the program name) and
// returns the process exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	g := &globals{Stdin: stdin, Stdout: stdout, Stderr: stderr, Getenv: os.Getenv}
	root := newRoot(g)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "ERROR:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}
