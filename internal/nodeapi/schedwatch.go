package nodeapi

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/batch"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// schedulableCheckInterval is how often waiting leases re-read their nodes.
const schedulableCheckInterval = 500 * time.Millisecond

// schedListPage is the page size of the pool listings schedWatch reads.
const schedListPage = 1000

// nodeReader is what schedWatch reads nodes through (*batch.Service).
type nodeReader interface {
	NodeGet(ctx context.Context, accountKey, poolID, nodeID string) (*batch.Node, error)
	NodeList(ctx context.Context, accountKey, poolID string, page store.Page) ([]*batch.Node, string, error)
}

// schedWatch ends the waiting leases of nodes that stopped taking work
// (scheduling disabled, leaving the pool, gone). Every interval it reads
// the nodes of each pool with waiting leases from the store, so that
// changes made through any replica count: one listing of the pool when
// several of its nodes wait, instead of one read per waiting lease.
type schedWatch struct {
	nodes    nodeReader
	interval time.Duration

	mu      sync.Mutex
	pools   map[string]map[*leaseWatch]struct{} // pool key → waiting leases
	running bool
}

// leaseWatch is one waiting lease.
type leaseWatch struct {
	account, pool, node string
	cancel              context.CancelCauseFunc
}

func newSchedWatch(nodes nodeReader, interval time.Duration) *schedWatch {
	return &schedWatch{nodes: nodes, interval: interval, pools: map[string]map[*leaseWatch]struct{}{}}
}

// add watches n for a lease whose wait cancel ends (with errUnschedulable)
// when n stops taking work; the returned func stops the watch.
func (w *schedWatch) add(n *batch.Node, cancel context.CancelCauseFunc) (remove func()) {
	lw := &leaseWatch{account: n.AccountKey, pool: n.PoolID, node: n.ID, cancel: cancel}
	key := strings.ToLower(n.AccountKey) + "\x00" + strings.ToLower(n.PoolID)
	w.mu.Lock()
	if w.pools[key] == nil {
		w.pools[key] = map[*leaseWatch]struct{}{}
	}
	w.pools[key][lw] = struct{}{}
	if !w.running {
		w.running = true
		go w.run()
	}
	w.mu.Unlock()
	return func() {
		w.mu.Lock()
		delete(w.pools[key], lw)
		if len(w.pools[key]) == 0 {
			delete(w.pools, key)
		}
		w.mu.Unlock()
	}
}

// run checks the watched nodes every interval until none is watched.
func (w *schedWatch) run() {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for range t.C {
		w.mu.Lock()
		if len(w.pools) == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		pools := make([][]*leaseWatch, 0, len(w.pools))
		for _, ws := range w.pools {
			l := make([]*leaseWatch, 0, len(ws))
			for lw := range ws {
				l = append(l, lw)
			}
			pools = append(pools, l)
		}
		w.mu.Unlock()
		for _, ws := range pools {
			w.checkPool(ws)
		}
	}
}

// checkPool ends the waits of ws (one pool's) whose node stopped taking
// work. A read that fails for another reason than NotFound ends nothing.
func (w *schedWatch) checkPool(ws []*leaseWatch) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	distinct := map[string]bool{}
	for _, lw := range ws {
		distinct[lw.node] = true
	}
	if len(distinct) == 1 {
		cur, err := w.nodes.NodeGet(ctx, ws[0].account, ws[0].pool, ws[0].node)
		if err == nil && !cur.Schedulable() || cobalt.IsCode(err, cobalt.ENotFound) {
			for _, lw := range ws {
				lw.cancel(errUnschedulable)
			}
		}
		return
	}
	takes := map[string]bool{} // node ID → schedulable; absent: gone
	page := store.Page{Limit: schedListPage}
	for {
		ns, next, err := w.nodes.NodeList(ctx, ws[0].account, ws[0].pool, page)
		if cobalt.IsCode(err, cobalt.ENotFound) {
			break // the pool is gone, and its nodes with it
		}
		if err != nil {
			return
		}
		for _, n := range ns {
			takes[n.ID] = n.Schedulable()
		}
		if next == "" {
			break
		}
		page.Token = next
	}
	for _, lw := range ws {
		if !takes[lw.node] {
			lw.cancel(errUnschedulable)
		}
	}
}
