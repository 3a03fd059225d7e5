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
// instead of a claim transaction each.
//
// With maxAge set, a read that found the pool empty also answers the calls
// that arrive within maxAge of its start, unless a task was added through
// this replica since (invalidate); past a quarter of that age the first such call
// starts the next read without waiting for it. A task added through another
// replica (or requeued without invalidate) is then seen within maxAge, the
// bound a waiting lease's poll already has. Its zero value is ready and
// never answers from an earlier read.
//
// A read that found work answers "yes" for busyFor (busyPools): a "yes" only
// lets a lease go on to its claim, which finds whether any task is left.
type queueProbes struct {
	maxAge time.Duration

	mu    sync.Mutex
	m     map[string]*probeSlot
	empty map[string]time.Time // start of the last read that found the pool empty
	busy  busyPools            // pools whose last read found work just now
}

// probeSlot is one pool's read in flight and the read queued behind it.
type probeSlot struct {
	running, next *probeCall
}

type probeCall struct {
	done  chan struct{}
	start time.Time // when the read began
	stale bool      // a task was added while the read ran: do not reuse its answer
	ok    bool
	err   error
}

// invalidate forgets the pool's last empty answer: a task was added to it.
func (q *queueProbes) invalidate(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.empty, key)
	if sl := q.m[key]; sl != nil && sl.running != nil {
		sl.running.stale = true
	}
}

// queued returns read's answer from a read that started after this call
// (or an earlier one's, as above).
func (q *queueProbes) queued(ctx context.Context, key string, read func(context.Context) (bool, error)) (bool, error) {
	if q.busy.busy(key) {
		return true, nil
	}
	q.mu.Lock()
	if q.m == nil {
		q.m = map[string]*probeSlot{}
	}
	sl := q.m[key]
	if at, ok := q.empty[key]; ok {
		if age := time.Since(at); age < q.maxAge {
			if sl == nil && age > q.maxAge/4 {
				// Refresh ahead, so that under steady leases none waits.
				sl = &probeSlot{running: &probeCall{done: make(chan struct{})}}
				q.m[key] = sl
				go q.run(key, sl, read)
			}
			q.mu.Unlock()
			return false, nil
		}
		delete(q.empty, key)
	}
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
		c.start = time.Now()
		q.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		ok, err := read(ctx)
		cancel()
		if err == nil {
			q.busy.set(key, c.start, ok)
		}
		q.mu.Lock()
		c.ok, c.err = ok, err
		switch {
		case q.maxAge <= 0:
		case err == nil && !ok && !c.stale:
			if q.empty == nil {
				q.empty = map[string]time.Time{}
			}
			q.empty[key] = c.start
		default:
			delete(q.empty, key)
		}
		close(c.done)
		sl.running, sl.next = sl.next, nil
		if sl.running == nil {
			delete(q.m, key)
			q.mu.Unlock()
			return
		}
		q.mu.Unlock()
	}
}
