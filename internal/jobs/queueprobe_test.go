package jobs

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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

// With maxAge set, an empty answer serves later calls without a read until a
// task is added through this replica (invalidate); a read that a task's
// addition overlapped is not reused.
func TestQueueProbesReuseEmptyUntilInvalidated(t *testing.T) {
	q := queueProbes{maxAge: time.Hour}
	var reads atomic.Int32
	var queued atomic.Bool
	read := func(context.Context) (bool, error) {
		reads.Add(1)
		return queued.Load(), nil
	}
	for range 5 {
		if ok, err := q.queued(context.Background(), "p", read); err != nil || ok {
			t.Fatalf("queued = %v, %v on an empty pool", ok, err)
		}
	}
	if n := reads.Load(); n != 1 {
		t.Fatalf("%d reads for five calls within maxAge", n)
	}
	queued.Store(true)
	q.invalidate("p")
	if ok, _ := q.queued(context.Background(), "p", read); !ok {
		t.Fatal("a call after invalidate did not see the added task")
	}

	// A task added while the read runs: its empty answer is not reused.
	q2 := queueProbes{maxAge: time.Hour}
	inRead, release := make(chan struct{}), make(chan struct{})
	var n2 atomic.Int32
	read2 := func(context.Context) (bool, error) {
		if n2.Add(1) == 1 {
			close(inRead)
			<-release
			return false, nil
		}
		return true, nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = q2.queued(context.Background(), "p", read2)
	}()
	<-inRead
	q2.invalidate("p")
	close(release)
	<-done
	if ok, _ := q2.queued(context.Background(), "p", read2); !ok {
		t.Fatal("an empty answer overlapped by invalidate was reused")
	}
}

// Past maxAge the cached answer no longer serves: the call waits for a read.
func TestQueueProbesEmptyAnswerExpires(t *testing.T) {
	q := queueProbes{maxAge: time.Nanosecond}
	var queued atomic.Bool
	read := func(context.Context) (bool, error) { return queued.Load(), nil }
	if ok, _ := q.queued(context.Background(), "p", read); ok {
		t.Fatal("empty pool queued")
	}
	time.Sleep(time.Millisecond)
	queued.Store(true)
	if ok, _ := q.queued(context.Background(), "p", read); !ok {
		t.Fatal("an expired empty answer hid a task added elsewhere")
	}
}
