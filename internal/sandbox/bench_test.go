//go:build linux

package sandbox

import (
	"context"
	"fmt"
	"os/exec"
	"testing"
	"time"

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
