package nodeapi

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// BenchmarkCompleteAndLeaseNext measures what a busy node's slot costs the
// control plane (and the test's client) per task: the running task's
// completion and the next task's lease, over HTTPS with a real SQLite
// store. "separate" is a report (PathReport) and a lease (PathLease, no
// wait); "together" is one PathReports request that brings the lease.
// cpu-ms/op is the process's CPU time (user + system) per task.
func BenchmarkCompleteAndLeaseNext(b *testing.B) {
	for _, mode := range []string{"separate", "together"} {
		b.Run(mode, func(b *testing.B) {
			f := newJobsFixture(b)
			f.register(b)
			f.heartbeat(b)
			specs := make([]cobalt.TaskSpec, 0, 100)
			for i := 0; i <= b.N; i += 100 {
				specs = specs[:0]
				for k := i; k < min(i+100, b.N+1); k++ {
					specs = append(specs, cobalt.TaskSpec{ID: fmt.Sprintf("t%07d", k), CommandLine: "/bin/true"})
				}
				if _, err := f.jobs.AddTaskCollection(b.Context(), f.acct.Key(), "j", specs); err != nil {
					b.Fatal(err)
				}
			}
			var lr nodeproto.LeaseResponse
			if st, e := f.call(b, f.node.Credential, nodeproto.PathLease, nodeproto.LeaseRequest{FreeSlots: 1}, &lr); st != 200 || len(lr.Leases) != 1 {
				b.Fatalf("first lease: %d %+v", st, e)
			}
			lease := lr.Leases[0].LeaseID
			exit := 0
			var ru0, ru1 syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
			b.ResetTimer()
			for range b.N {
				now := time.Now().UTC()
				done := nodeproto.ReportRequest{LeaseID: lease, Event: "completed", StartTime: now, EndTime: &now, ExitCode: &exit}
				var next []nodeproto.TaskLease
				if mode == "separate" {
					if st, e := f.call(b, f.node.Credential, nodeproto.PathReport, done, &nodeproto.ReportResponse{}); st != 200 {
						b.Fatalf("report: %d %+v", st, e)
					}
					lr = nodeproto.LeaseResponse{}
					if st, e := f.call(b, f.node.Credential, nodeproto.PathLease, nodeproto.LeaseRequest{FreeSlots: 1}, &lr); st != 200 {
						b.Fatalf("lease: %d %+v", st, e)
					}
					next = lr.Leases
				} else {
					var rr nodeproto.ReportsResponse
					if st, e := f.call(b, f.node.Credential, nodeproto.PathReports, nodeproto.ReportsRequest{Reports: []nodeproto.ReportRequest{done}, FreeSlots: 1}, &rr); st != 200 {
						b.Fatalf("reports: %d %+v", st, e)
					}
					next = rr.Leases
				}
				if len(next) != 1 {
					b.Fatalf("%d leases", len(next))
				}
				lease = next[0].LeaseID
			}
			b.StopTimer()
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
			cpu := time.Duration(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()) * time.Nanosecond
			b.ReportMetric(float64(cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
		})
	}
}
