package batch

import (
	"bytes"

	"github.com/cobaltbatch/cobalt/internal/decoded"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// newPoolDecodes returns the cache of the last decoding of each pool for
// the read-only path (Service.Pool, which every node's claim takes): the
// record is read from the store every time, and decoded again only when it
// differs in a field decodePool reads.
func newPoolDecodes() *decoded.Cache[store.PoolRecord, *Pool] {
	return &decoded.Cache[store.PoolRecord, *Pool]{Same: samePoolRecord, Decode: decodePool}
}

// samePoolRecord reports whether a and b decode to the same pool.
func samePoolRecord(a, b *store.PoolRecord) bool {
	return a.Version == b.Version && a.ID == b.ID && a.AccountKey == b.AccountKey && a.State == b.State &&
		a.AllocationState == b.AllocationState && bytes.Equal(a.Body, b.Body)
}
