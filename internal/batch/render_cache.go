package batch

import (
	"context"
	"sync"

	"github.com/cobaltbatch/cobalt"
)

// renderCache keeps rendered pool JSON by pool and store version. A pool's
// version changes on every write, so an entry is never stale: the store is
// still read on every request, only decoding and rendering are saved.
type renderCache struct {
	mu sync.Mutex
	m  map[string]renderEntry
}

type renderEntry struct {
	version int64
	body    []byte
}

const renderCacheMax = 4096

func (c *renderCache) get(key string, version int64) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || e.version != version {
		return nil, false
	}
	return e.body, true
}

func (c *renderCache) put(key string, version int64, body []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= renderCacheMax {
		c.m = map[string]renderEntry{}
	}
	c.m[key] = renderEntry{version, body}
}

// PoolRendered returns a pool's representation as render writes it, with
// its ETag, or 404 PoolNotFound. format names the representation and
// everything render depends on besides the pool (for example "arm" and the
// account ID as the client named it): renderings are cached by format, pool
// and version, so the pool is neither decoded nor rendered again until it
// changes. It is the fast path of a pool GET.
func (s *Service) PoolRendered(ctx context.Context, accountID, poolID, format string, render func(*cobalt.Pool) ([]byte, error)) ([]byte, string, error) {
	r, err := s.cfg.Store.PoolGet(ctx, lower(accountID), poolID)
	if cobalt.IsCode(err, cobalt.ENotFound) {
		return nil, "", poolNotFound(poolID)
	}
	if err != nil {
		return nil, "", err
	}
	key := format + "\x00" + r.AccountKey + "\x00" + r.Key
	if b, ok := s.renders.get(key, r.Version); ok {
		return b, ETagOf(r.Version), nil
	}
	p, err := decodePool(r)
	if err != nil {
		return nil, "", err
	}
	b, err := render(&p.Pool)
	if err != nil {
		return nil, "", err
	}
	s.renders.put(key, r.Version, b)
	return b, p.ETag, nil
}
