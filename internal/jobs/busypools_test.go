package jobs

import (
	"fmt"
	"testing"
	"time"
)

// TestBusyPools: a read that found work answers "yes" for busyFor, a read
// that found none forgets it at once, an older read never replaces a newer
// one, and the map stays bounded.
func TestBusyPools(t *testing.T) {
	var b busyPools
	if b.busy("p") {
		t.Fatal("an unknown pool is busy")
	}
	now := time.Now()
	b.set("p", now, true)
	if !b.busy("p") {
		t.Fatal("a pool whose read found work just now is not busy")
	}
	b.set("p", now.Add(-time.Second), true) // an older read ends later
	if !b.busy("p") {
		t.Fatal("an older read replaced a newer one")
	}
	b.set("p", now, false)
	if b.busy("p") {
		t.Fatal("a pool whose read found no work is still busy")
	}
	b.set("old", now.Add(-2*busyFor), true)
	if b.busy("old") {
		t.Fatal("a read older than busyFor still answers")
	}
	for i := range maxBusyPools + 10 {
		b.set(fmt.Sprint("pool", i), now.Add(-2*busyFor), true)
	}
	b.set("fresh", time.Now(), true)
	if len(b.at) > maxBusyPools || !b.busy("fresh") {
		t.Fatalf("%d entries (at most %d), fresh busy %v", len(b.at), maxBusyPools, b.busy("fresh"))
	}
}
