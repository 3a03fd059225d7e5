package benchrun

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestServerWindow reads two /metrics samples as the control plane writes
// them and checks the window's CPU time and the buckets of each call's
// p50 and p99.
func TestServerWindow(t *testing.T) {
	t.Parallel()
	sample := func(cpu string, lease [4]int) serverSample {
		t.Helper()
		text := `# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total ` + cpu + `
cobalt_nodeapi_request_duration_seconds_bucket{call="lease",le="0.001"} ` + itoa(lease[0]) + `
cobalt_nodeapi_request_duration_seconds_bucket{call="lease",le="0.01"} ` + itoa(lease[1]) + `
cobalt_nodeapi_request_duration_seconds_bucket{call="lease",le="0.1"} ` + itoa(lease[2]) + `
cobalt_nodeapi_request_duration_seconds_bucket{call="lease",le="+Inf"} ` + itoa(lease[3]) + `
cobalt_nodeapi_request_duration_seconds_sum{call="lease"} 1.5
cobalt_nodeapi_request_duration_seconds_count{call="lease"} ` + itoa(lease[3]) + `
`
		s, err := parseServerSample(strings.NewReader(text))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// 200 leases in the window: 120 within 1 ms, 197 within 10 ms, 3 over 100 ms.
	w := windowOf(sample("10.5", [4]int{50, 60, 70, 70}), sample("12.75", [4]int{170, 257, 267, 270}))
	if w.cpu != 2250*time.Millisecond {
		t.Errorf("cpu %v, want 2.25s", w.cpu)
	}
	l := w.calls["lease"]
	if l.n != 200 || l.p50 != 0.001 || !math.IsInf(l.p99, 1) {
		t.Errorf("lease %+v, want 200 calls, p50 ≤ 1 ms, p99 past the last bound", l)
	}
	if _, ok := w.calls["heartbeat"]; ok {
		t.Error("a call with no samples has figures")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
