//go:build linux

package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// BenchmarkTaskOverhead measures a task run through a node's init (task
// directory afresh, stdout/stderr files, spawn in its own session as the
// pool user, exit reported over the control channel) against a bare
// fork/exec of the same command on the host, and reports both and their
// ratio.
func BenchmarkTaskOverhead(b *testing.B) {
	n, _ := startNodeB(b)
	const command = "/bin/true"
	var bare, node time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if err := exec.Command(command).Run(); err != nil {
			b.Fatal(err)
		}
		bare += time.Since(start)
		start = time.Now()
		res, err := n.Run(context.Background(), Task{Lease: &nodeproto.TaskLease{LeaseID: "l", JobID: "j",
			TaskID: fmt.Sprintf("t%d", i%16), CommandLine: command}})
		if err != nil || res.Report == nil || res.Report.Failure != nil {
			b.Fatalf("task: %v %+v", err, res)
		}
		node += time.Since(start)
	}
	b.ReportMetric(float64(bare.Microseconds())/float64(b.N), "µs/bare-exec")
	b.ReportMetric(float64(node.Microseconds())/float64(b.N), "µs/node-task")
	b.ReportMetric(float64(node)/float64(bare), "ratio")
}

// BenchmarkNodeStart starts and closes a node per iteration, forked from
// this process and through a spawner, with this process's heap grown to
// ballast MiB (a control plane's size): it reports the wall time per node
// and this process's CPU per node (the fork's page-table copy and the
// copy-on-write faults after it land here without a spawner).
func BenchmarkNodeStart(b *testing.B) {
	const ballastMiB = 256
	ballast := make([][]byte, ballastMiB)
	for i := range ballast {
		ballast[i] = make([]byte, 1<<20)
		for j := 0; j < len(ballast[i]); j += 4096 {
			ballast[i][j] = 1
		}
	}
	for _, spawned := range []bool{false, true} {
		name := "fork-here"
		if spawned {
			name = "spawner"
		}
		b.Run(name, func(b *testing.B) {
			var sp *Spawner
			if spawned {
				if os.Geteuid() != 0 {
					b.Skip("node sandboxes need root")
				}
				var err error
				if sp, err = StartSpawner(nil); err != nil {
					b.Fatal(err)
				}
				defer sp.Close()
			}
			var before, after unix.Rusage
			_ = unix.Getrusage(unix.RUSAGE_SELF, &before)
			start := time.Now()
			for i := 0; i < b.N; i++ {
				n, _ := startNodeSpawner(b, sp)
				if err := n.Close(); err != nil {
					b.Fatal(err)
				}
			}
			wall := time.Since(start)
			_ = unix.Getrusage(unix.RUSAGE_SELF, &after)
			cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
			b.ReportMetric(float64(wall.Microseconds())/float64(b.N), "µs/node")
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "host-cpu-µs/node")
		})
	}
	runtime.KeepAlive(ballast)
}

// BenchmarkNodeTaskCPU runs /bin/true tasks through one node's init, four
// at a time (a 4-slot node), and reports the CPU per task of the init
// itself (all its threads, from /proc) and of the tasks it reaped: what a
// task costs on the node side beyond its own process.
func BenchmarkNodeTaskCPU(b *testing.B) {
	n, _ := startNodeB(b)
	const slots = 4
	self0, children0 := procCPU(b, n.Pid())
	var wg sync.WaitGroup
	var next atomic.Int64
	b.ResetTimer()
	for range slots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				res, err := n.Run(context.Background(), Task{Lease: &nodeproto.TaskLease{LeaseID: "l", JobID: "j",
					TaskID: fmt.Sprintf("t%d", i), CommandLine: "/bin/true"}})
				if err != nil || res.Report == nil || res.Report.Failure != nil {
					b.Errorf("task: %v %+v", err, res)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	self1, children1 := procCPU(b, n.Pid())
	b.ReportMetric(float64((self1-self0).Microseconds())/float64(b.N), "init-cpu-µs/task")
	b.ReportMetric(float64((children1-children0).Microseconds())/float64(b.N), "reaped-cpu-µs/task")
}

// procCPU returns the user+system CPU of process pid (all its threads) and
// of the children it reaped.
func procCPU(b *testing.B, pid int) (self, children time.Duration) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+2:]))
	ticks := func(i int) time.Duration {
		v, _ := strconv.ParseInt(f[i], 10, 64)
		return time.Duration(v) * time.Second / 100 // USER_HZ
	}
	// Fields 14-17 of stat (utime, stime, cutime, cstime) are 11-14 here.
	return ticks(11) + ticks(12), ticks(13) + ticks(14)
}
