// Package par runs the independent iterations of a loop on the machine's cores.
package par

import (
	"runtime"
	"sync"
)

// minChunk is the fewest iterations worth a goroutine of their own.
const minChunk = 64

// For calls fn(i) for every i in [0, n), in contiguous chunks on up to
// GOMAXPROCS goroutines, and returns when all calls have returned. fn must
// be safe to call concurrently for different i. Small loops run on the
// caller's goroutine.
func For(n int, fn func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n/minChunk)
	if workers <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				fn(i)
			}
		}()
	}
	wg.Wait()
}
