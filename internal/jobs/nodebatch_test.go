package jobs

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
)

// Requests that arrive while a read is in flight go together in the next
// read, each gets its own node's records (a node asked twice gets them
// twice), and no read carries more than nodeBatchMax nodes.
func TestNodeBatchGroupsAndSplits(t *testing.T) {
	type rec struct{ node, v string }
	gate := make(chan struct{})
	var mu sync.Mutex
	var sizes []int
	b := &nodeBatch[rec]{nodeOf: func(r rec) string { return r.node }}
	b.read = func(_ context.Context, ids []string) ([]rec, error) {
		mu.Lock()
		sizes = append(sizes, len(ids))
		mu.Unlock()
		<-gate // every read waits until the requests queued
		var out []rec
		for _, id := range ids {
			out = append(out, rec{id, "a"}, rec{id, "b"})
		}
		return out, nil
	}
	ctx := context.Background()
	done := make(chan error, 1)
	go func() {
		got, err := b.get(ctx, "first")
		if err == nil && len(got) != 2 {
			err = fmt.Errorf("first: %v", got)
		}
		done <- err
	}()
	for {
		mu.Lock()
		n := len(sizes)
		mu.Unlock()
		if n == 1 {
			break
		}
	}
	n := 2*nodeBatchMax + 10
	var wg sync.WaitGroup
	errs := make(chan error, n+1)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("n%d", i%(n-1)) // n0 asked twice
			got, err := b.get(ctx, id)
			if err != nil || len(got) != 2 || got[0].node != id || got[1].node != id {
				errs <- fmt.Errorf("%s: %v %v", id, got, err)
			}
		}()
	}
	// Let most of them queue behind the reads in flight.
	for {
		b.mu.Lock()
		q := len(b.pending)
		b.mu.Unlock()
		if q >= n/2 {
			break
		}
	}
	close(gate)
	wg.Wait()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if slices.Max(sizes) > nodeBatchMax || len(sizes) >= n/2 {
		t.Fatalf("read sizes %v: want at most %d nodes a read and far fewer reads than %d requests", sizes, nodeBatchMax, n)
	}
}
