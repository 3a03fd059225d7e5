package batch

import (
	"bytes"
	"sync"

	"github.com/cobaltbatch/cobalt/internal/store"
)

// maxDecodedPools bounds the decoded-pool cache: one entry per pool.
const maxDecodedPools = 1024

// decodedPools keeps the last decoding of each pool's record for the
// read-only path (Service.Pool, which every node's claim takes). It never
// stands in for the store: each use reads the record first, and an entry
// serves only a record equal to the one it was decoded from in every field
// decodePool reads, so it needs no invalidation; a pool written anywhere
// misses once. At most maxDecodedPools entries; when full, an arbitrary one
// makes room.
type decodedPools struct {
	mu sync.Mutex
	m  map[string]*decodedPool // "account\x00pool key" -> entry
}

type decodedPool struct {
	rec  store.PoolRecord
	pool *Pool
}

// samePoolRecord reports whether a and b decode to the same pool.
func samePoolRecord(a, b *store.PoolRecord) bool {
	return a.Version == b.Version && a.ID == b.ID && a.AccountKey == b.AccountKey && a.State == b.State &&
		a.AllocationState == b.AllocationState && bytes.Equal(a.Body, b.Body)
}

// decode returns the pool of r, decoding it only when r differs from the
// record its entry was decoded from. The pool is shared: callers must not
// modify it.
func (c *decodedPools) decode(r store.PoolRecord) (*Pool, error) {
	key := r.AccountKey + "\x00" + r.Key
	c.mu.Lock()
	e := c.m[key]
	c.mu.Unlock()
	if e != nil && samePoolRecord(&e.rec, &r) {
		return e.pool, nil
	}
	p, err := decodePool(r)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*decodedPool{}
	}
	if _, ok := c.m[key]; !ok && len(c.m) >= maxDecodedPools {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[key] = &decodedPool{rec: r, pool: p}
	return p, nil
}
