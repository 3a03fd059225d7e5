package sqlite_test

import (
	"context"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/store"
	"github.com/cobaltbatch/cobalt/internal/store/sqlite"
)

// BenchmarkAuditAppend: the CPU a token's audit record costs, by how many
// appenders share the group commit. "serial" is one appender (a batch per
// record); "spread-16" is 16 appenders each waiting 10 ms between records, as
// the token endpoint's 16 callers arrive while they sign on two cores (a
// record every ~0.6 ms); "tight-16" is 16 appenders in a loop. In-process; cpu-µs/rec
// is this process's CPU time per record.
func BenchmarkAuditAppend(b *testing.B) {
	for _, c := range []struct {
		name    string
		workers int
		gap     time.Duration
	}{{"serial", 1, 0}, {"spread-16", 16, 10 * time.Millisecond}, {"tight-16", 16, 0}} {
		b.Run(c.name, func(b *testing.B) {
			db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "a.db"), time.Now)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			rec := store.AuditRecord{Kind: "token.issued", Actor: "5f1d4a4e-4c1e-4f5e-9d55-0d0d3a5b7c11", Subject: "5f1d4a4e-4c1e-4f5e-9d55-0d0d3a5b7c11",
				Fields: map[string]string{"audience": "https://management.azure.com/", "client_id": "0b6f6c1e-2a55-4a64-8d53-6e5a1f2c3d4e",
					"grant": "client_credentials", "version": "1.0", "kid": "k1", "uti": "AAAAAAAAAAAAAAAAAAAAAA", "expires": "2026-12-05T16:00:00Z", "address": "127.0.0.1"}}
			var next sync.Mutex
			n := 0
			cpu0 := cpuTime()
			b.ResetTimer()
			var wg sync.WaitGroup
			for range c.workers {
				wg.Go(func() {
					for {
						next.Lock()
						if n >= b.N {
							next.Unlock()
							return
						}
						n++
						next.Unlock()
						if err := db.AuditAppend(context.Background(), rec); err != nil {
							b.Error(err)
							return
						}
						if c.gap > 0 {
							time.Sleep(c.gap)
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/rec")
		})
	}
}

// cpuTime returns the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
