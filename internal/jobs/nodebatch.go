package jobs

import (
	"context"
	"sync"
	"time"
)

// Node reads batched: at most nodeBatchReaders reads in flight per kind;
// the requests that arrive meanwhile wait and go together in the next (up
// to nodeBatchMax nodes). A lone heartbeat reads at once; a fleet's
// heartbeats share reads, and so round trips and index scans, as load grows.
const (
	nodeBatchReaders = 2
	nodeBatchMax     = 512
)

// nodeBatch answers per-node questions of heartbeats (the tasks leased to
// a node, its pending release tasks) with one store read for many nodes.
// Every read starts after the requests it answers arrived.
type nodeBatch[T any] struct {
	read   func(ctx context.Context, nodeIDs []string) ([]T, error)
	nodeOf func(T) string

	mu      sync.Mutex
	pending []*nodeReq[T]
	readers int
}

type nodeReq[T any] struct {
	node string
	out  []T
	err  error
	done chan struct{}
}

// get returns the records of the node from a read that started after the call.
func (b *nodeBatch[T]) get(ctx context.Context, nodeID string) ([]T, error) {
	r := &nodeReq[T]{node: nodeID, done: make(chan struct{})}
	b.mu.Lock()
	b.pending = append(b.pending, r)
	if b.readers < nodeBatchReaders {
		b.readers++
		go b.loop()
	}
	b.mu.Unlock()
	select {
	case <-r.done:
		return r.out, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// loop reads batches until none is pending.
func (b *nodeBatch[T]) loop() {
	for {
		b.mu.Lock()
		if len(b.pending) == 0 {
			b.readers--
			b.mu.Unlock()
			return
		}
		var batch, rest []*nodeReq[T]
		var ids []string
		seen := map[string]bool{}
		for _, r := range b.pending {
			switch {
			case seen[r.node]:
				batch = append(batch, r)
			case len(ids) < nodeBatchMax:
				seen[r.node] = true
				ids = append(ids, r.node)
				batch = append(batch, r)
			default:
				rest = append(rest, r)
			}
		}
		b.pending = rest
		b.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		recs, err := b.read(ctx, ids)
		cancel()
		by := map[string][]T{}
		for _, x := range recs {
			by[b.nodeOf(x)] = append(by[b.nodeOf(x)], x)
		}
		for _, r := range batch {
			r.out, r.err = by[r.node], err
			close(r.done)
		}
	}
}
