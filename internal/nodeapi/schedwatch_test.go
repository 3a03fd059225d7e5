package nodeapi

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/batch"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// fakeNodes is one pool's nodes, counting the reads.
type fakeNodes struct {
	mu         sync.Mutex
	nodes      map[string]*batch.Node // nil map: the pool is gone
	gets, list int
}

func (f *fakeNodes) NodeGet(_ context.Context, _, _, id string) (*batch.Node, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets++
	n, ok := f.nodes[id]
	if !ok {
		return nil, cobalt.Errorf(cobalt.ENotFound, "no node")
	}
	c := *n
	return &c, nil
}

func (f *fakeNodes) NodeList(_ context.Context, _, _ string, page store.Page) ([]*batch.Node, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.list++
	if f.nodes == nil {
		return nil, "", cobalt.Errorf(cobalt.ENotFound, "no pool")
	}
	var out []*batch.Node
	for _, n := range f.nodes {
		c := *n
		out = append(out, &c)
	}
	return out, "", nil
}

func (f *fakeNodes) set(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}

func node(id string) *batch.Node {
	return &batch.Node{Node: cobalt.Node{AccountKey: "acct", ID: id, PoolID: "p", State: cobalt.NodeIdle, SchedulingState: "enabled"}}
}

// waitCause waits until ctx ends and returns its cause, or nil after d.
func waitCause(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-time.After(d):
		return nil
	}
}

// TestSchedWatchReadsAPoolOnce: the waiting leases of one pool's nodes are
// checked with one listing per interval, and only the wait of the node that
// stopped taking work ends; when the pool is gone, every wait ends.
func TestSchedWatchReadsAPoolOnce(t *testing.T) {
	f := &fakeNodes{nodes: map[string]*batch.Node{"a": node("a"), "b": node("b"), "c": node("c")}}
	w := newSchedWatch(f, 10*time.Millisecond)
	ctxs := map[string]context.Context{}
	for _, id := range []string{"a", "b", "c"} {
		ctx, cancel := context.WithCancelCause(t.Context())
		defer cancel(nil)
		defer w.add(node(id), cancel)()
		ctxs[id] = ctx
	}
	time.Sleep(50 * time.Millisecond)
	f.set(func() {
		if f.gets != 0 || f.list == 0 {
			t.Errorf("%d node reads and %d listings for three nodes of one pool", f.gets, f.list)
		}
		f.nodes["b"].SchedulingState = "disabled"
	})
	if err := waitCause(ctxs["b"], 5*time.Second); !errors.Is(err, errUnschedulable) {
		t.Fatalf("the wait of the disabled node ended with %v", err)
	}
	for _, id := range []string{"a", "c"} {
		if err := ctxs[id].Err(); err != nil {
			t.Errorf("the wait of schedulable node %s ended", id)
		}
	}
	f.set(func() { f.nodes = nil })
	for _, id := range []string{"a", "c"} {
		if err := waitCause(ctxs[id], 5*time.Second); !errors.Is(err, errUnschedulable) {
			t.Errorf("the wait of node %s of a deleted pool ended with %v", id, err)
		}
	}
}

// TestSchedWatchOneNode: a pool's only waiting node is read by itself, its
// removal ends its wait, and the watch stops when nothing waits.
func TestSchedWatchOneNode(t *testing.T) {
	f := &fakeNodes{nodes: map[string]*batch.Node{"a": node("a"), "b": node("b")}}
	w := newSchedWatch(f, 10*time.Millisecond)
	ctx, cancel := context.WithCancelCause(t.Context())
	defer cancel(nil)
	remove := w.add(node("a"), cancel)
	time.Sleep(50 * time.Millisecond)
	f.set(func() {
		if f.list != 0 || f.gets == 0 {
			t.Errorf("%d listings and %d node reads for one node", f.list, f.gets)
		}
		delete(f.nodes, "a")
	})
	if err := waitCause(ctx, 5*time.Second); !errors.Is(err, errUnschedulable) {
		t.Fatalf("the wait of the removed node ended with %v", err)
	}
	remove()
	for range 500 {
		w.mu.Lock()
		running := w.running
		w.mu.Unlock()
		if !running {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Error("the watch still runs with nothing to watch")
}
