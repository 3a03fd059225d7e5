// Package decoded keeps the last decoding of each stored record, for read
// paths that read a record from the store on every call (so that a write
// anywhere, through any replica, is seen at once) but need not decode it
// again while it has not changed.
package decoded

import "sync"

// DefaultMax bounds a Cache whose Max is 0.
const DefaultMax = 1024

// Cache maps a record's key to the record it last decoded and that
// decoding. An entry serves only a record Same as the one it was decoded
// from, so the cache is exact without invalidation: a record written
// anywhere misses once. At most Max entries (DefaultMax when 0); when
// full, an arbitrary one makes room. The decodings are shared between
// callers, who must not modify them.
type Cache[R, V any] struct {
	// Same reports whether a and b decode alike: it compares every field
	// Decode reads.
	Same   func(a, b *R) bool
	Decode func(R) (V, error)
	Max    int

	mu sync.Mutex
	m  map[string]*entry[R, V]
}

type entry[R, V any] struct {
	rec R
	val V
}

// Get returns the decoding of r, the record stored under key, decoding it
// only when r differs from the record its entry was decoded from.
func (c *Cache[R, V]) Get(key string, r R) (V, error) {
	c.mu.Lock()
	e := c.m[key]
	c.mu.Unlock()
	if e != nil && c.Same(&e.rec, &r) {
		return e.val, nil
	}
	v, err := c.Decode(r)
	if err != nil {
		return v, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*entry[R, V]{}
	}
	limit := c.Max
	if limit <= 0 {
		limit = DefaultMax
	}
	if _, ok := c.m[key]; !ok && len(c.m) >= limit {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[key] = &entry[R, V]{rec: r, val: v}
	return v, nil
}

// Len is the number of entries.
func (c *Cache[R, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
