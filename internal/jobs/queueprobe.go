package jobs

import (
	"context"
	"sync"
	"time"
)

// queueProbes coalesces the "is there work in this pool" reads of a pool's
// leases (store.TaskQueued). A lease that arrives while its pool's read is in
// flight waits for the next read, which starts after it arrived and so
// answers for it; every lease that arrives meanwhile shares that read. A
// fleet's leases on an idle pool then cost one indexed read per round trip
// instead of a claim transaction each. Its zero value is ready.
type queueProbes struct {
	mu sync.Mutex
	m  map[string]*probeSlot
}

// probeSlot is one pool's read in flight and the read queued behind it.
type probeSlot struct {
	running, next *probeCall
}

type probeCall struct {
	done chan struct{}
	ok   bool
	err  error
}

// queued returns read's answer from a read that started after this call.
func (q *queueProbes) queued(ctx context.Context, key string, read func(context.Context) (bool, error)) (bool, error) {
	q.mu.Lock()
	if q.m == nil {
		q.m = map[string]*probeSlot{}
	}
	sl := q.m[key]
	var c *probeCall
	switch {
	case sl == nil:
		c = &probeCall{done: make(chan struct{})}
		sl = &probeSlot{running: c}
		q.m[key] = sl
		go q.run(key, sl, read)
	case sl.next != nil:
		c = sl.next
	default:
		c = &probeCall{done: make(chan struct{})}
		sl.next = c
	}
	q.mu.Unlock()
	select {
	case <-c.done:
		return c.ok, c.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// run performs sl's reads until none is queued.
func (q *queueProbes) run(key string, sl *probeSlot, read func(context.Context) (bool, error)) {
	for {
		q.mu.Lock()
		c := sl.running
		q.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		c.ok, c.err = read(ctx)
		cancel()
		close(c.done)
		q.mu.Lock()
		sl.running, sl.next = sl.next, nil
		if sl.running == nil {
			delete(q.m, key)
			q.mu.Unlock()
			return
		}
		q.mu.Unlock()
	}
}
