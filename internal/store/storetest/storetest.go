package storetest

import (
	"context"
	"sort"
	"sync"
	"testing"

	"github.com/cobaltbatch/cobalt/internal/store"
)

// Factory returns a new, empty store for one test. It registers its own cleanup.
type Factory func(t *testing.T) store.Store

type behaviour struct {
	name string
	fn   func(t *testing.T, s store.Store)
}

var (
	mu         sync.Mutex
	behaviours []behaviour
)

// register adds a behaviour to the suite. It is called from init functions.
func register(name string, fn func(t *testing.T, s store.Store)) {
	mu.Lock()
	defer mu.Unlock()
	behaviours = append(behaviours, behaviour{name, fn})
}

// Run runs every registered behaviour as a parallel subtest, each on a fresh store.
func Run(t *testing.T, newStore Factory) {
	mu.Lock()
	bs := append([]behaviour(nil), behaviours...)
	mu.Unlock()
	sort.Slice(bs, func(i, j int) bool { return bs[i].name < bs[j].name })
	for _, b := range bs {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			b.fn(t, newStore(t))
		})
	}
}

func ctx(t *testing.T) context.Context { return t.Context() }
