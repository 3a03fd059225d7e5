package nodeapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// BenchmarkLeaseNoWork measures the node API's own work for a fleet's
// commonest call, a lease that does not wait on a pool with no work, from
// the request's headers to its answer: each on a goroutine of its own, as
// net/http's HTTP/2 server runs each request's handler, so that the cost
// of growing a fresh goroutine's stack is counted. No transport: that is
// cobalt bench fleet's part.
func BenchmarkLeaseNoWork(b *testing.B) {
	f := newJobsFixture(b)
	f.register(b)
	f.heartbeat(b)
	h := f.srv.Config.Handler
	body, _ := json.Marshal(nodeproto.LeaseRequest{NodeID: f.node.NodeID, FreeSlots: 1})
	serve := func() *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", nodeproto.PathLease, bytes.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+f.node.Credential)
		w := httptest.NewRecorder()
		done := make(chan struct{})
		go func() { defer close(done); h.ServeHTTP(w, r) }()
		<-done
		return w
	}
	if w := serve(); w.Code != http.StatusOK || !bytes.Contains(w.Body.Bytes(), []byte(`"leases":[]`)) {
		b.Fatalf("lease: %d %s", w.Code, w.Body)
	}
	b.ReportAllocs()
	cpu0 := processCPU(b)
	for b.Loop() {
		serve()
	}
	// CPU time rather than wall time: on a machine shared with other work,
	// the process's CPU per call varies less than its elapsed time.
	b.ReportMetric(float64((processCPU(b)-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// processCPU is the process's user and system time so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
