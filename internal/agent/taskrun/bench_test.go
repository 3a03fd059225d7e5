package taskrun

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// BenchmarkRunTask16 runs /bin/true tasks through RunTask, 16 at a time,
// beside `xargs -P 16` running the same number of /bin/true in the same run:
// the cost of the Batch task layout (directories, stdout/stderr files,
// /bin/sh -c) over a bare spawn.
func BenchmarkRunTask16(b *testing.B) {
	const n = 2000
	root, err := os.MkdirTemp("", "taskrunbench")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(root)
	_ = os.Chmod(root, 0o755)
	for range b.N {
		d := Dirs{NodeRoot: filepath.Join(root, fmt.Sprint(time.Now().UnixNano()))}
		xbefore := xargs(b, n)
		var next atomic.Int64
		start := time.Now()
		var wg sync.WaitGroup
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := next.Add(1); i <= n; i = next.Add(1) {
					r := RunTask(b.Context(), Config{}, d, nodeproto.TaskLease{JobID: "j", TaskID: fmt.Sprint(i), CommandLine: "/bin/true"})
					if r.Failure != nil {
						b.Error(r.Failure)
					}
				}
			}()
		}
		wg.Wait()
		rate := n / time.Since(start).Seconds()
		// The spawn rate drifts with the machine's load: xargs runs before and
		// after, and the baseline is their mean.
		xrate := (xbefore + xargs(b, n)) / 2
		b.ReportMetric(rate, "taskrun-tasks/s")
		b.ReportMetric(xrate, "xargs-tasks/s")
	}
}

func xargs(b *testing.B, n int) float64 {
	start := time.Now()
	if out, err := exec.Command("sh", "-c", fmt.Sprintf("seq %d | xargs -P 16 -n 1 /bin/true", n)).CombinedOutput(); err != nil {
		b.Fatal(err, string(out))
	}
	return float64(n) / time.Since(start).Seconds()
}
