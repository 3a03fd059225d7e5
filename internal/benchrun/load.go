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

// runLoad runs clients workers for d, each calling do in a loop with its
// own state from newWorker (its own connection), and measures every call.
func runLoad(ctx context.Context, clients int, d time.Duration, newWorker func() func(context.Context) error) loadResult {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		mu       sync.Mutex
		all      []time.Duration
		errs     int
		firstErr string
		wg       sync.WaitGroup
	)
	workers := make([]func(context.Context) error, clients)
	for i := range workers {
		workers[i] = newWorker()
	}
	start := time.Now()
	for _, do := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 4096)
			var e int
			var fe string
			for ctx.Err() == nil {
				t := time.Now()
				err := do(ctx)
				if ctx.Err() != nil {
					break
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
			all = append(all, lat...)
			errs += e
			if firstErr == "" {
				firstErr = fe
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	r := loadResult{N: len(all), Errors: errs, Elapsed: time.Since(start), FirstErr: firstErr}
	if len(all) > 0 {
		slices.Sort(all)
		r.P50 = all[len(all)*50/100]
		r.P99 = all[min(len(all)-1, len(all)*99/100)]
	}
	return r
}
