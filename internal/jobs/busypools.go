package jobs

import (
	"sync"
	"time"
)

// busyFor is how long a read that found work in a pool answers "yes" for
// it without another read. A "yes" only lets a lease go on to its claim
// transaction, which itself finds whether any task is left: a stale one
// costs that transaction and nothing else. A "no" is never answered from
// here.
const busyFor = 25 * time.Millisecond

// maxBusyPools bounds busyPools: past it the expired entries go.
const maxBusyPools = 4096

// busyPools remembers, by pool key, when a queue read last found work. A
// busy pool's leases (a claim after each report batch, each with a queue
// read before it in the node API and another in the claim) then read the
// queue once per busyFor instead of twice per claim.
type busyPools struct {
	mu sync.Mutex
	at map[string]time.Time
}

// busy reports whether a read found work in the pool within busyFor.
func (b *busyPools) busy(key string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	at, ok := b.at[key]
	return ok && time.Since(at) < busyFor
}

// set records a read of the pool that started at start and found work
// (has) or none (forgotten at once).
func (b *busyPools) set(key string, start time.Time, has bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !has {
		delete(b.at, key)
		return
	}
	if b.at == nil {
		b.at = map[string]time.Time{}
	}
	if len(b.at) >= maxBusyPools {
		for k, t := range b.at {
			if time.Since(t) >= busyFor {
				delete(b.at, k)
			}
		}
	}
	if len(b.at) < maxBusyPools && start.After(b.at[key]) {
		b.at[key] = start
	}
}
