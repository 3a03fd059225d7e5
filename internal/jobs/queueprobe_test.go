package jobs

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
)

// A call that arrives while a read is in flight is answered by a later read,
// never by the one it overlapped (which may have missed a task added just
// before the call); calls that arrive together share that later read.
func TestQueueProbesAnswerFromALaterRead(t *testing.T) {
	var q queueProbes
	var reads atomic.Int32
	queued := atomic.Bool{}
	inFirst := make(chan struct{})
	release := make(chan struct{})
	read := func(context.Context) (bool, error) {
		if reads.Add(1) == 1 {
			close(inFirst)
			<-release
			return false, nil // the first read saw an empty queue
		}
		return queued.Load(), nil
	}
	first := make(chan bool)
	go func() {
		ok, _ := q.queued(context.Background(), "p", read)
		first <- ok
	}()
	<-inFirst
	// A task is queued while the first read is in flight; the calls that
	// arrive now must see it.
	queued.Store(true)
	var wg sync.WaitGroup
	var late atomic.Int32
	var started sync.WaitGroup
	for range 10 {
		wg.Add(1)
		started.Add(1)
		go func() {
			defer wg.Done()
			started.Done()
			if ok, err := q.queued(context.Background(), "p", read); err == nil && ok {
				late.Add(1)
			}
		}()
	}
	started.Wait()
	// Let the ten calls reach the slot before the first read ends.
	for {
		q.mu.Lock()
		n := q.m["p"].next != nil
		q.mu.Unlock()
		if n {
			break
		}
	}
	close(release)
	if <-first {
		t.Fatal("the first call saw work its read did not find")
	}
	wg.Wait()
	if late.Load() != 10 {
		t.Fatalf("%d of 10 later calls saw the queued task", late.Load())
	}
	if n := reads.Load(); n > 11 || n < 2 {
		t.Fatalf("%d reads", n)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.m) != 0 {
		t.Fatalf("slots left: %v", q.m)
	}
}
