package cli

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/cobaltbatch/cobalt/internal/benchrun"
	"github.com/spf13/cobra"
)

func init() { register(newBenchCmd) }

func newBenchCmd(g *globals) *cobra.Command {
	var (
		opts       benchrun.Options
		only       []string
		imdsHelper string
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure a fresh `cobalt up` from outside, beside same-run baselines",
		Long: `Start this executable's ` + "`cobalt up --port-base 0`" + ` as a child process in a fresh
temporary data directory, drive it from this process with the official Azure SDK
for Go over TLS, and print one table: each figure, its baseline measured in the
same run, the ratio and the target (issue 17).

Rows: ` + strings.Join(benchrun.Rows, ", ") + `.

The bench and its child run inside a loopback-only network namespace the bench
creates, so that nothing can reach a public host. Run it as root for sandboxed
nodes; another user gets a user namespace too, and process nodes (no IMDS row). The child runs with IMDS's per-node rate limit off, so that the
IMDS row measures the endpoint, not the limiter. Figures on a busy machine are
noisy: compare each with its same-run baseline.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if imdsHelper != "" {
				return benchrun.RunIMDSHelper(cmd.Context(), imdsHelper, g.Stdout)
			}
			if !benchrun.Isolated() {
				code, err := benchrun.ReexecIsolated(os.Args[1:])
				if err != nil {
					return fmt.Errorf("create the bench's network namespace: %w", err)
				}
				if code != 0 {
					return &exitError{code: code, err: fmt.Errorf("cobalt bench exited with %d", code)}
				}
				return nil
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			opts.Exe, opts.Only, opts.Out, opts.Log = exe, only, g.Stdout, g.Stderr
			res, err := benchrun.Run(cmd.Context(), opts)
			if err != nil {
				return err
			}
			for _, r := range res {
				if r.Err != nil {
					return &exitError{code: 1, err: fmt.Errorf("row %s failed: %w", r.Row, r.Err)}
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&opts.Runs, "runs", 1, "how many runs, each on a fresh cobalt up (the table shows each)")
	f.StringSliceVar(&only, "only", nil, "run only these `rows` ("+strings.Join(benchrun.Rows, ", ")+")")
	f.BoolVar(&opts.Keep, "keep", false, "keep each run's directory (data, up.log, profiles)")
	f.IntVar(&opts.Tasks, "tasks", 10000, "tasks of the tasks and list rows (a multiple of 100)")
	f.DurationVar(&opts.Duration, "duration", 10*time.Second, "length of each load row and of its baseline")
	f.BoolVar(&opts.Profile, "cpuprofile", false, "write the child's CPU profile of each load row to the run's directory (implies nothing else; use with --keep)")
	f.StringVar(&opts.ChildLogLevel, "child-log-level", "warn", "the child's --log-level (its log is up.log in the run's directory; see --keep)")
	f.StringVar(&imdsHelper, "imds-helper", "", "internal: the IMDS load helper's configuration")
	_ = f.MarkHidden("imds-helper")
	cmd.AddCommand(newBenchFleetCmd(g))
	return cmd
}

func newBenchFleetCmd(g *globals) *cobra.Command {
	var opts benchrun.FleetOptions
	var childExe string
	cmd := &cobra.Command{
		Use:   "fleet",
		Short: "Measure the control plane on PostgreSQL under a simulated fleet of hosts and nodes",
		Long: `For each size, create a fresh database on the PostgreSQL server of --postgres,
start this executable's ` + "`cobalt up --store postgres://... --isolation external`" + ` as a child
process, PUT a pool of that many nodes through ARM, and play the nodes the
allocator places from simulated hosts in this process: each speaks the real node
protocol over HTTPS (register, heartbeat, lease, report; leased tasks complete at
once). Print the time from the PUT to every node idle (as the data plane lists
them), the heartbeats per second sustained and the lease latency, beside the
targets (issue 14): 10,000 nodes heartbeating every 5 s with lease p99 under
100 ms, and allocation cost growing no faster than linearly.

The bench and its child run inside a loopback-only network namespace; PostgreSQL
is reached through its Unix socket.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !benchrun.Isolated() {
				code, err := benchrun.ReexecIsolated(os.Args[1:])
				if err != nil {
					return fmt.Errorf("create the bench's network namespace: %w", err)
				}
				if code != 0 {
					return &exitError{code: code, err: fmt.Errorf("cobalt bench fleet exited with %d", code)}
				}
				return nil
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			if childExe != "" {
				exe = childExe
			}
			opts.Exe, opts.Out, opts.Log = exe, g.Stdout, g.Stderr
			return benchrun.RunFleet(cmd.Context(), opts)
		},
	}
	f := cmd.Flags()
	f.IntSliceVar(&opts.Sizes, "nodes", []int{100, 1000, 10000}, "fleet sizes, one run each on a fresh cobalt up and database")
	f.IntVar(&opts.Hosts, "hosts", 1000, "simulated hosts that carry the nodes (at most one per node)")
	f.DurationVar(&opts.Interval, "interval", 5*time.Second, "each node's heartbeat and lease interval")
	f.DurationVar(&opts.Duration, "duration", 30*time.Second, "measurement window once every node is idle")
	f.StringVar(&opts.Postgres, "postgres", benchrun.DefaultFleetPostgres, "PostgreSQL `URL` of a user who may create databases")
	f.BoolVar(&opts.Profile, "cpuprofile", false, "write the child's CPU profile of each window to the run's directory (use with --keep)")
	f.BoolVar(&opts.Keep, "keep", false, "keep each run's directory (data, up.log, profiles)")
	f.StringVar(&opts.ChildLogLevel, "child-log-level", "warn", "the child's --log-level")
	// Another build's control plane under this build's simulator: an A/B
	// of a control-plane change measures it alone.
	f.StringVar(&childExe, "control-plane", "", "cobalt `EXECUTABLE` the child runs (default: this one)")
	return cmd
}
