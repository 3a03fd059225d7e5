package jobs

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/agent/taskrun"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// BenchmarkDispatch10k runs 10,000 tasks of /bin/true, submitted by add
// collection (100 per call), on 4 in-process agents with 4 slots each,
// through Lease/Report and taskrun, and reports tasks/s from the first submit
// to the last completion, beside `xargs -P 16` running the same 10,000
// /bin/true in the same run. Run with -benchtime=1x.
func BenchmarkDispatch10k(b *testing.B) {
	const nodes, slots = 4, 4
	total := 10000
	if v, err := strconv.Atoi(os.Getenv("JOBS_BENCH_TASKS")); err == nil && v > 0 {
		total = v / 100 * 100
	}
	for range b.N {
		b.StopTimer()
		st := newSQLite(b)
		s := newService(b, st, Config{PollInterval: 50 * time.Millisecond, Pools: poolInfo{TaskSlotsPerNode: slots, NodeFillType: FillSpread}})
		ctx, cancel := context.WithCancel(context.Background())
		if _, err := s.AddJob(ctx, acct, cobalt.JobSpec{ID: "bench", PoolInfo: &cobalt.PoolInformation{PoolID: "pool1"}}); err != nil {
			b.Fatal(err)
		}
		root, err := os.MkdirTemp("", "jobsbench")
		if err != nil {
			b.Fatal(err)
		}
		_ = os.Chmod(root, 0o755)
		var done atomic.Int64
		finished := make(chan time.Time, 1)
		var wg sync.WaitGroup
		for i := range nodes {
			d := taskrun.Dirs{NodeRoot: filepath.Join(root, fmt.Sprint(i))}
			node := cobalt.NodeRef{AccountID: acct, PoolID: "pool1", NodeID: fmt.Sprintf("n%d", i)}
			wg.Add(1)
			go func() {
				defer wg.Done()
				runAgent(ctx, s, node, slots, func(l nodeproto.TaskLease) nodeproto.ReportRequest {
					r := taskrun.RunTask(ctx, taskrun.Config{}, d, l)
					if r.Failure != nil {
						b.Errorf("task %s: %+v", l.TaskID, r.Failure)
					}
					if done.Add(1) == int64(total) {
						finished <- time.Now()
					}
					return r
				})
			}()
		}
		xargsBefore := xargsRate(b, total)
		b.StartTimer()
		start := time.Now()
		for c := range total / 100 {
			specs := make([]cobalt.TaskSpec, 100)
			for i := range specs {
				specs[i] = cobalt.TaskSpec{ID: fmt.Sprintf("t%05d", c*100+i), CommandLine: "/bin/true"}
			}
			if _, err := s.AddTaskCollection(ctx, acct, "bench", specs); err != nil {
				b.Fatal(err)
			}
		}
		submitted := time.Since(start)
		end := <-finished
		b.StopTimer()
		cancel()
		wg.Wait()
		os.RemoveAll(root)
		cobaltRate := float64(total) / end.Sub(start).Seconds()

		// The machine's spawn rate drifts with its load: xargs runs before and
		// after, and the baseline is their mean.
		xargsRate := (xargsBefore + xargsRate(b, total)) / 2
		b.ReportMetric(cobaltRate, "cobalt-tasks/s")
		b.ReportMetric(xargsRate, "xargs-tasks/s")
		b.ReportMetric(cobaltRate/xargsRate, "ratio")
		b.ReportMetric(float64(total)/submitted.Seconds(), "submit-tasks/s")
		b.Logf("cobalt %.0f tasks/s (submission alone %.0f tasks/s), xargs -P 16 %.0f tasks/s, ratio %.2f",
			cobaltRate, float64(total)/submitted.Seconds(), xargsRate, cobaltRate/xargsRate)
		b.StartTimer()
	}
}

// xargsRate runs n /bin/true with `xargs -P 16` and returns processes/s.
func xargsRate(b *testing.B, n int) float64 {
	start := time.Now()
	x := exec.Command("sh", "-c", fmt.Sprintf("seq %d | xargs -P 16 -n 1 /bin/true", n))
	if out, err := x.CombinedOutput(); err != nil {
		b.Fatalf("xargs: %v %s", err, out)
	}
	return float64(n) / time.Since(start).Seconds()
}

// BenchmarkQueueRSS1M queues 1,000,000 tasks in a child control plane process
// and reports its peak RSS (VmHWM), which must stay under 1 GiB: nothing per
// task is held in memory. Set JOBS_RSS_TASKS to change the count. Run with
// -benchtime=1x.
func BenchmarkQueueRSS1M(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("JOBS_RSS_TASKS")); err == nil && v > 0 {
		n = v
	}
	for range b.N {
		db := filepath.Join(b.TempDir(), "cobalt.db")
		start := time.Now()
		cmd, out := startChild(b, "rss", db, strconv.Itoa(n))
		var res map[string]string = map[string]string{}
		for out.Scan() {
			line := out.Text()
			if strings.HasPrefix(line, "error:") {
				b.Fatal(line)
			}
			if k, v, ok := strings.Cut(line, "="); ok {
				res[k] = v
			}
		}
		if err := cmd.Wait(); err != nil {
			b.Fatal(err)
		}
		hwm, _ := strconv.ParseFloat(res["vmhwm_kb"], 64)
		b.ReportMetric(hwm/1024, "peak-RSS-MiB")
		b.ReportMetric(float64(n), "queued-tasks")
		b.Logf("%d tasks queued in %s (%s tasks/s); claim on the full queue took %s; peak RSS %.0f MiB; db %s MiB",
			n, time.Since(start).Round(time.Second), res["add_rate"], res["claim"], hwm/1024, res["db_mib"])
	}
}

// rssChild queues n tasks through the service, claims from the full queue,
// and prints the process's VmHWM.
func rssChild(ctx context.Context, s *Service, n int) error {
	if _, err := s.AddJob(ctx, acct, cobalt.JobSpec{ID: "big", PoolInfo: &cobalt.PoolInformation{PoolID: "pool1"}}); err != nil {
		return err
	}
	start := time.Now()
	specs := make([]cobalt.TaskSpec, 100)
	for c := 0; c*100 < n; c++ {
		specs = specs[:min(100, n-c*100)]
		for i := range specs {
			specs[i] = cobalt.TaskSpec{ID: fmt.Sprintf("t%07d", c*100+i), CommandLine: "/bin/true"}
		}
		if _, err := s.AddTaskCollection(ctx, acct, "big", specs); err != nil {
			return err
		}
	}
	fmt.Printf("add_rate=%.0f\n", float64(n)/time.Since(start).Seconds())
	cs := time.Now()
	ls, err := s.Lease(ctx, cobalt.NodeRef{AccountID: acct, PoolID: "pool1", NodeID: "n0"}, 16, 0)
	if err != nil {
		return err
	}
	fmt.Printf("claim=%s\n", time.Since(cs))
	if len(ls) != 16 {
		return fmt.Errorf("claimed %d of 16", len(ls))
	}
	c, err := s.JobTaskCounts(ctx, acct, "big")
	if err != nil || c.TaskCounts.Active != n-16 {
		return fmt.Errorf("counts %+v %v", c, err)
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			fmt.Printf("vmhwm_kb=%s\n", strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
		}
	}
	args := strings.Split(os.Getenv("COBALT_JOBS_CHILD_ARGS"), "\n")
	if fi, err := os.Stat(args[0]); err == nil {
		fmt.Printf("db_mib=%d\n", fi.Size()>>20)
	}
	return nil
}
