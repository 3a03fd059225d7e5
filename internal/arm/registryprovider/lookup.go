package registryprovider

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/registry"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// Lookup reads registries for the registry service, which asks on every
// request: it implements registry.Registries with a short-lived cache that
// the provider clears on each write this process makes. Safe for concurrent use.
type Lookup struct {
	st  store.Store
	now func() time.Time

	mu    sync.Mutex
	cache map[string]cacheEntry
}

var _ registry.Registries = (*Lookup)(nil)

type cacheEntry struct {
	reg cobalt.Registry
	at  time.Time
}

// cacheTTL bounds how long another replica's change may go unseen; this
// process's own writes clear the cache at once.
const cacheTTL = 2 * time.Second

// NewLookup returns a lookup on st; now is the clock (time.Now when nil).
func NewLookup(st store.Store, now func() time.Time) *Lookup {
	if now == nil {
		now = time.Now
	}
	return &Lookup{st: st, now: now, cache: map[string]cacheEntry{}}
}

// LookupRegistry implements registry.Registries: the registry named name
// (case folded), or a *cobalt.Error with cobalt.ENotFound.
func (l *Lookup) LookupRegistry(ctx context.Context, name string) (cobalt.Registry, error) {
	key := strings.ToLower(name)
	now := l.now()
	l.mu.Lock()
	e, ok := l.cache[key]
	l.mu.Unlock()
	if ok && now.Sub(e.at) < cacheTTL && !now.Before(e.at) {
		return e.reg, nil
	}
	res, err := findRegistry(ctx, l.st, name)
	if err != nil {
		return cobalt.Registry{}, err
	}
	reg, err := decode(res)
	if err != nil {
		return cobalt.Registry{}, err
	}
	id, err := cobalt.ParseResourceID(res.ID)
	if err != nil {
		return cobalt.Registry{}, err
	}
	out := cobalt.Registry{ID: id, Name: reg.Name, LoginServer: reg.Properties.LoginServer,
		AdminUserEnabled: reg.Properties.AdminUserEnabled}
	for i, pw := range reg.Passwords {
		if i < len(out.Passwords) {
			out.Passwords[i] = pw.Value
		}
	}
	l.mu.Lock()
	if len(l.cache) > 10000 {
		clear(l.cache)
	}
	l.cache[key] = cacheEntry{reg: out, at: now}
	l.mu.Unlock()
	return out, nil
}

func (l *Lookup) clear() {
	l.mu.Lock()
	clear(l.cache)
	l.mu.Unlock()
}

// findRegistry returns the stored registry with the given name in any
// resource group (names fold case: the store's unique name), or ENotFound.
func findRegistry(ctx context.Context, st store.Store, name string) (store.Resource, error) {
	rs, _, err := st.ResourceList(ctx, store.ResourceListParams{Type: TypeRegistry, UniqueName: strings.ToLower(name), Page: store.Page{Limit: 1}})
	if err != nil {
		return store.Resource{}, err
	}
	if len(rs) == 0 {
		return store.Resource{}, cobalt.Errorf(cobalt.ENotFound, "The registry '%s' was not found.", name).WithReason("RegistryNotFound")
	}
	return rs[0], nil
}
