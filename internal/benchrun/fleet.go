package benchrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/batch/azbatch"
)

// FleetOptions configure `cobalt bench fleet`.
type FleetOptions struct {
	// Exe is the cobalt executable the child runs.
	Exe string
	// Sizes are the fleet sizes, one run each on a fresh child and database.
	Sizes []int
	// Hosts is how many simulated hosts carry the nodes (fewer when a size
	// has fewer nodes).
	Hosts int
	// Interval is each node's heartbeat (and lease) interval (5 s).
	Interval time.Duration
	// Duration is the measurement window after every node is idle (30 s).
	Duration time.Duration
	// Postgres is a server URL whose user may create databases.
	Postgres string
	// Profile writes the child's CPU profile of each window (fleetN.pprof).
	Profile       bool
	Keep          bool
	ChildLogLevel string
	Out, Log      io.Writer
}

// fleetResult is one size's figures.
type fleetResult struct {
	nodes, hosts int
	alloc        time.Duration
	window       time.Duration
	st           fleetStats
	srv          serverWindow // the control plane's side of the window
	srvErr       error
	// simCPU and pgCPU are the window's CPU time of the bench process (the
	// simulated fleet) and of the database's PostgreSQL sessions; 0 when
	// unknown.
	simCPU, pgCPU time.Duration
	err           error
}

// RunFleet measures the control plane on PostgreSQL under a simulated fleet
// for each size in turn and prints the table.
func RunFleet(ctx context.Context, opts FleetOptions) error {
	if len(opts.Sizes) == 0 {
		opts.Sizes = []int{100, 1000, 10000}
	}
	if opts.Hosts <= 0 {
		opts.Hosts = 1000
	}
	if opts.Interval <= 0 {
		opts.Interval = 5 * time.Second
	}
	if opts.Duration <= 0 {
		opts.Duration = 30 * time.Second
	}
	if opts.Postgres == "" {
		opts.Postgres = DefaultFleetPostgres
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if os.Getenv("GOGC") == "" {
		// The simulator's heap is small beside its 10,000 nodes' goroutine
		// stacks, which every collection scans: at the default GOGC it
		// collected several times a second and the collector was a fifth
		// of its CPU, a cost of simulating 1,000 machines in one process
		// that no real host has.
		defer debug.SetGCPercent(debug.SetGCPercent(400))
	}
	var rs []fleetResult
	var err error
	for _, n := range opts.Sizes {
		r := fleetOnce(ctx, opts, n)
		if r.err != nil {
			fmt.Fprintf(opts.Log, "fleet %d: %v\n", n, r.err)
			err = fmt.Errorf("fleet of %d nodes: %w", n, r.err)
		}
		rs = append(rs, r)
		if ctx.Err() != nil {
			break
		}
	}
	printFleet(opts, rs)
	return err
}

// fleetOnce runs one size: a fresh database and child, a pool of n nodes
// PUT through ARM and timed to n idle, then the measurement window.
func fleetOnce(ctx context.Context, opts FleetOptions, n int) (r fleetResult) {
	r.nodes, r.hosts = n, min(n, opts.Hosts)
	logf := func(format string, a ...any) {
		fmt.Fprintf(opts.Log, "fleet %d: "+format+"\n", append([]any{n}, a...)...)
	}
	db, err := freshDatabase(ctx, opts.Postgres)
	if err != nil {
		r.err = err
		return r
	}
	defer db.drop()
	dir, err := os.MkdirTemp("", "cobalt-fleet-")
	if err != nil {
		r.err = err
		return r
	}
	if opts.Keep {
		logf("keeping %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	level := opts.ChildLogLevel
	if level == "" {
		level = "warn"
	}
	var env []string
	if opts.Profile {
		env = append(env, "COBALT_PPROF=1")
	}
	c, err := startChild(ctx, opts.Exe, dir, []string{"--store", db.dsn, "--isolation", "external",
		"--max-nodes", strconv.Itoa(n), "--log-level", level}, env)
	if err != nil {
		r.err = err
		return r
	}
	defer func() {
		if e := c.stop(); e != nil {
			logf("cobalt up: %v", e)
		}
	}()
	logf("cobalt up (pid %d) ready on PostgreSQL", c.pid())
	d, err := newDriver(ctx, c.ep)
	if err != nil {
		r.err = fmt.Errorf("%w\n%s", err, tail(c.log))
		return r
	}
	f, err := newFleet(fmt.Sprintf("https://127.0.0.1:%d", c.ports()["nodeapi"]), filepath.Join(c.dataDir, "nodes", ".credentials"),
		c.ep.CACertFile, r.hosts, opts.Interval)
	if err != nil {
		r.err = err
		return r
	}
	fctx, stopFleet := context.WithCancel(ctx)
	fleetDone := make(chan struct{})
	go func() { defer close(fleetDone); f.run(fctx) }()
	defer func() { stopFleet(); <-fleetDone }()

	b := &bench{opts: Options{Profile: opts.Profile, Log: opts.Log}, child: c, d: d, dir: dir, run: n}
	// The allocation's profile covers its first 30 s at most.
	stopAlloc := b.profile(ctx, fmt.Sprintf("fleet%d-alloc", n), 30*time.Second)
	defer stopAlloc()
	start := time.Now()
	if _, err := d.armDo(ctx, "PUT", d.poolPath("fleet"), poolBody(d.ep, n, 1, "")); err != nil {
		r.err = fmt.Errorf("pool PUT: %w", err)
		return r
	}
	// The fleet knows when its last node's idle heartbeat was accepted; the
	// data plane then confirms, as a user would see it.
	limit := time.Now().Add(10 * time.Minute)
	for f.idle.Load() < int64(n) {
		if time.Now().After(limit) {
			r.err = fmt.Errorf("%d of %d nodes idle after 10 minutes\n%s", f.idle.Load(), n, tail(c.log))
			return r
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			r.err = err
			return r
		}
	}
	for {
		idle, err := countIdle(ctx, d, "fleet")
		if err != nil {
			r.err = err
			return r
		}
		if idle >= n {
			break
		}
		if time.Now().After(limit) {
			r.err = fmt.Errorf("the data plane shows %d of %d nodes idle", idle, n)
			return r
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			r.err = err
			return r
		}
	}
	r.alloc = time.Since(start)
	logf("pool PUT to %d idle in %.2f s", n, r.alloc.Seconds())

	// One interval lets the first heartbeats' burst pass before measuring;
	// the allocation's profile must end before the window's starts.
	stopAlloc()
	if err := sleepCtx(ctx, opts.Interval); err != nil {
		r.err = err
		return r
	}
	metrics := fmt.Sprintf("https://127.0.0.1:%d/metrics", c.ports()["metrics"])
	mc := &http.Client{Transport: newTransport(d.roots, 1)}
	before, srvErr := scrapeServer(ctx, mc, metrics)
	pgBefore, pgErr := db.backendCPU(ctx)
	simBefore, simErr := readProcStat(os.Getpid())
	f.measure(true)
	wstart := time.Now()
	stop := b.profile(ctx, fmt.Sprintf("fleet%d", n), opts.Duration)
	stopSelf := b.selfProfile(fmt.Sprintf("fleet%d-sim", n))
	err = sleepCtx(ctx, opts.Duration)
	f.measure(false)
	r.window = time.Since(wstart)
	stopSelf()
	simAfter, e := readProcStat(os.Getpid())
	if simErr = errors.Join(simErr, e); simErr == nil {
		r.simCPU = simAfter.own - simBefore.own
	}
	pgAfter, e := db.backendCPU(ctx)
	if pgErr = errors.Join(pgErr, e); pgErr == nil {
		r.pgCPU = cpuBetween(pgBefore, pgAfter)
	}
	if simErr != nil || pgErr != nil {
		logf("CPU of the simulator or PostgreSQL: %v", errors.Join(simErr, pgErr))
	}
	if after, e := scrapeServer(ctx, mc, metrics); srvErr == nil && e == nil {
		r.srv = windowOf(before, after)
	} else {
		r.srvErr = errors.Join(srvErr, e)
	}
	stop()
	r.st = f.stats()
	if err != nil {
		r.err = err
	}
	return r
}

// countIdle lists the pool's nodes through the data plane and counts the
// idle ones.
func countIdle(ctx context.Context, d *driver, pool string) (int, error) {
	idle := 0
	pager := d.batch.NewListNodesPager(pool, nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return 0, err
		}
		for _, node := range page.Value {
			if node.State != nil && *node.State == azbatch.NodeStateIdle {
				idle++
			}
		}
	}
	return idle, nil
}

// printFleet writes the table: per size, allocation, heartbeats and
// leases beside their targets. The allocation baseline is the smallest
// size's cost per node in the same run.
func printFleet(opts FleetOptions, rs []fleetResult) {
	w := opts.Out
	if w == nil {
		return
	}
	fmt.Fprintf(w, "cobalt up in another process on PostgreSQL, --isolation external; the simulated hosts run in the bench process on the same machine; heartbeat and lease every %s per node\n\n", opts.Interval)
	fmt.Fprintln(w, "| nodes (hosts) | work | Cobalt | baseline (same run) | ratio | target | met |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	var perNode0 float64
	var size0 int
	for _, r := range rs {
		size := fmt.Sprintf("%d (%d)", r.nodes, r.hosts)
		if r.err != nil && r.alloc == 0 {
			fmt.Fprintf(w, "| %s | pool PUT to all idle | error: %s | — | — | — | ✗ |\n", size, oneLine(r.err.Error()))
			continue
		}
		per := float64(r.alloc.Milliseconds()) / float64(r.nodes)
		base, ratio, ok := "(this is the baseline)", "—", true
		if perNode0 == 0 {
			perNode0, size0 = per, r.nodes
		} else {
			base = fmt.Sprintf("%d nodes: %.2f ms/node", size0, perNode0)
			ratio = fmt.Sprintf("%.2f", per/perNode0)
			ok = per <= 1.5*perNode0
		}
		fmt.Fprintf(w, "| %s | pool PUT to %d idle | %.2f s (%.2f ms/node) | %s | %s | per node ≤ 1.5× the smallest size's (linear) | %s |\n",
			size, r.nodes, r.alloc.Seconds(), per, base, ratio, mark(ok))
		if r.window == 0 {
			continue
		}
		offered := float64(r.nodes) / opts.Interval.Seconds()
		rate := float64(len(r.st.hb)) / r.window.Seconds()
		fmt.Fprintf(w, "| %s | heartbeats, %s window | %.0f/s, p50 %s, p99 %s, %d errors | offered %.0f/s | %.2f | ≥ 0.95 of offered | %s |\n",
			size, r.window.Round(time.Second), rate, ms(quantile(r.st.hb, 0.5)), ms(quantile(r.st.hb, 0.99)), r.st.hbErr, offered, rate/offered, mark(rate >= 0.95*offered && r.st.hbErr == 0))
		p99 := quantile(r.st.lease, 0.99)
		fmt.Fprintf(w, "| %s | lease (1 slot, waitSeconds 0) | %.0f/s, p50 %s, p99 %s, %d errors | — | — | p99 < 100 ms | %s |\n",
			size, float64(len(r.st.lease))/r.window.Seconds(), ms(quantile(r.st.lease, 0.5)), ms(p99), r.st.leaseErr, mark(p99 < 100*time.Millisecond && r.st.leaseErr == 0 && len(r.st.lease) > 0))
		if r.srvErr != nil {
			fmt.Fprintf(w, "| %s | control plane, same window | error: %s | | | | |\n", size, oneLine(r.srvErr.Error()))
		} else {
			hb, l := r.srv.calls["heartbeat"], r.srv.calls["lease"]
			all := 0.0
			for _, c := range r.srv.calls {
				all += c.n
			}
			perK := 0.0
			if all > 0 {
				perK = float64(r.srv.cpu.Milliseconds()) / all * 1000
			}
			fmt.Fprintf(w, "| %s | control plane, same window | handler time: heartbeat p50 %s, p99 %s; lease p50 %s, p99 %s; CPU %.2f s (%.0f ms per 1,000 calls) | — | — | — | |\n",
				size, bound(hb.p50), bound(hb.p99), bound(l.p50), bound(l.p99), r.srv.cpu.Seconds(), perK)
			if all > 0 && (r.simCPU > 0 || r.pgCPU > 0) {
				fmt.Fprintf(w, "| %s | simulated fleet and PostgreSQL, same window | simulator CPU %.2f s (%.0f ms per 1,000 calls); PostgreSQL sessions CPU %.2f s (%.0f ms per 1,000 calls) | — | — | — | |\n",
					size, r.simCPU.Seconds(), float64(r.simCPU.Milliseconds())/all*1000, r.pgCPU.Seconds(), float64(r.pgCPU.Milliseconds())/all*1000)
			}
		}
		if r.st.lastErr != "" {
			fmt.Fprintf(w, "| %s | last error | %s | | | | |\n", size, oneLine(r.st.lastErr))
		}
	}
}

func mark(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}
