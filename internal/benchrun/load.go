package benchrun

import (
	"context"
	"slices"
	"sync"
	"time"
)

// loadResult is a closed-loop load: requests completed, over how long, and
// their latency percentiles.
type loadResult struct {
	N        int           `json:"n"`
	Errors   int           `json:"errors"`
	Elapsed  time.Duration `json:"elapsed"`
	P50, P99 time.Duration
	FirstErr string `json:"firstErr,omitempty"`
	// CPU is the serving process's CPU time over the slices (user and
	// system, 10 ms ticks), when the comparison measured it; 0 otherwise.
	// IdleCPU is its CPU time over the other side's slices, as long, when it
	// served nothing of this load: what it spends on other work.
	CPU     time.Duration `json:"cpu,omitempty"`
	IdleCPU time.Duration `json:"idleCpu,omitempty"`
}

// Rate is completed requests per second.
func (r loadResult) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.N) / r.Elapsed.Seconds()
}

// CPUPerRequest is the serving process's CPU time per completed request,
// less what it spent as long on other work, or 0 when it was not measured.
func (r loadResult) CPUPerRequest() time.Duration {
	if r.N == 0 || r.CPU <= r.IdleCPU {
		return 0
	}
	return (r.CPU - r.IdleCPU) / time.Duration(r.N)
}

// worker makes one request; each worker has its own connection.
type worker func(context.Context) error

// sample accumulates the latencies of one side of a comparison.
type sample struct {
	lat      []time.Duration
	errs     int
	firstErr string
	elapsed  time.Duration
	cpu      time.Duration
	idleCPU  time.Duration
}

func (s *sample) result() loadResult {
	r := loadResult{N: len(s.lat), Errors: s.errs, Elapsed: s.elapsed, FirstErr: s.firstErr, CPU: s.cpu, IdleCPU: s.idleCPU}
	if len(s.lat) > 0 {
		slices.Sort(s.lat)
		r.P50 = s.lat[len(s.lat)*50/100]
		r.P99 = s.lat[min(len(s.lat)-1, len(s.lat)*99/100)]
	}
	return r
}

// pairSlices is how many alternating slices a comparison takes: on a
// shared machine the load of other work drifts over seconds, and
// alternating spreads the drift over both sides.
const pairSlices = 6

// runPair measures a (Cobalt) and b (its baseline) with clients workers
// each, alternating slices of d/pairSlices, d in all for each side.
func runPair(ctx context.Context, clients int, d time.Duration, a, b func() worker) (loadResult, loadResult) {
	return runPairCPU(ctx, clients, d, a, b, nil, nil)
}

// runPairCPU is runPair that also reads, before and after each slice, cpuA
// and cpuB (each side's serving process's CPU time so far; nil reads 0): a
// side's CPU is its process's over its own slices, its IdleCPU the same
// process's over the other side's.
func runPairCPU(ctx context.Context, clients int, d time.Duration, a, b func() worker, cpuA, cpuB func() time.Duration) (loadResult, loadResult) {
	r := runSides(ctx, clients, d, side{a, cpuA}, side{b, cpuB})
	return r[0], r[1]
}

// side is one side of a comparison: its workers, and the CPU time so far of
// the process serving them (nil when not measured).
type side struct {
	workers func() worker
	cpu     func() time.Duration
}

// runSides measures each side with clients workers of its own, taking turns
// in slices of d/pairSlices, d in all for each side. A side's CPU is its
// serving process's over its own slices; its IdleCPU is that process's over
// the other sides' slices, scaled to as long as its own.
func runSides(ctx context.Context, clients int, d time.Duration, sides ...side) []loadResult {
	read := func(f func() time.Duration) time.Duration {
		if f == nil {
			return 0
		}
		return f()
	}
	ws := make([][]worker, len(sides))
	for i, sd := range sides {
		ws[i] = make([]worker, clients)
		for j := range ws[i] {
			ws[i][j] = sd.workers()
		}
	}
	ss := make([]sample, len(sides))
	idle := make([]time.Duration, len(sides))
	for range pairSlices {
		for i := range sides {
			before := make([]time.Duration, len(sides))
			for k, sd := range sides {
				before[k] = read(sd.cpu)
			}
			runSlice(ctx, ws[i], d/pairSlices, &ss[i])
			for k, sd := range sides {
				if spent := read(sd.cpu) - before[k]; k == i {
					ss[k].cpu += spent
				} else {
					idle[k] += spent
				}
			}
		}
	}
	out := make([]loadResult, len(sides))
	for i := range ss {
		if len(sides) > 1 {
			ss[i].idleCPU = idle[i] / time.Duration(len(sides)-1)
		}
		out[i] = ss[i].result()
	}
	return out
}

// sliceGrace bounds how long a request in flight at the end of a slice may
// take to finish before it is cancelled.
const sliceGrace = 10 * time.Second

// runSlice runs every worker in a loop for d and adds what it measured to s:
// the requests that completed within d, over d. A request in flight at the
// end is let finish, uncounted, before the slice returns: cancelling it would
// close its keep-alive connection, so the next slice of this side would begin
// with new TLS handshakes, and the server would have done its work for
// nothing; neither is the work being measured.
func runSlice(ctx context.Context, ws []worker, d time.Duration, s *sample) {
	ctx, cancel := context.WithTimeout(ctx, d+sliceGrace)
	defer cancel()
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	start := time.Now()
	end := start.Add(d)
	for _, do := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 1024)
			var e int
			var fe string
			for ctx.Err() == nil && time.Now().Before(end) {
				t := time.Now()
				err := do(ctx)
				done := time.Now()
				if ctx.Err() != nil || done.After(end) {
					break // finished after the end of the slice: not counted
				}
				if err != nil {
					e++
					if fe == "" {
						fe = err.Error()
					}
					continue
				}
				lat = append(lat, done.Sub(t))
			}
			mu.Lock()
			s.lat = append(s.lat, lat...)
			s.errs += e
			if s.firstErr == "" {
				s.firstErr = fe
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	s.elapsed += d
}
