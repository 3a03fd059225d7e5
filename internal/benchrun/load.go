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
}

// Rate is completed requests per second.
func (r loadResult) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.N) / r.Elapsed.Seconds()
}

// worker makes one request; each worker has its own connection.
type worker func(context.Context) error

// sample accumulates the latencies of one side of a comparison.
type sample struct {
	lat      []time.Duration
	errs     int
	firstErr string
	elapsed  time.Duration
}

func (s *sample) result() loadResult {
	r := loadResult{N: len(s.lat), Errors: s.errs, Elapsed: s.elapsed, FirstErr: s.firstErr}
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
	mk := func(f func() worker) []worker {
		ws := make([]worker, clients)
		for i := range ws {
			ws[i] = f()
		}
		return ws
	}
	wa, wb := mk(a), mk(b)
	var sa, sb sample
	for range pairSlices {
		runSlice(ctx, wa, d/pairSlices, &sa)
		runSlice(ctx, wb, d/pairSlices, &sb)
	}
	return sa.result(), sb.result()
}

// runSlice runs every worker in a loop for d and adds what it measured to s.
func runSlice(ctx context.Context, ws []worker, d time.Duration, s *sample) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	start := time.Now()
	for _, do := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 1024)
			var e int
			var fe string
			for ctx.Err() == nil {
				t := time.Now()
				err := do(ctx)
				if ctx.Err() != nil {
					break // cut short by the end of the slice: not counted
				}
				if err != nil {
					e++
					if fe == "" {
						fe = err.Error()
					}
					continue
				}
				lat = append(lat, time.Since(t))
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
	s.elapsed += time.Since(start)
}
