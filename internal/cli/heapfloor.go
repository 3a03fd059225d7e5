package cli

import (
	"os"
)

// heapFloorSize is the pointer-free allocation `cobalt up` and `cobalt host
// join` keep for their life
// so that the garbage collector's heap goal (twice the live heap at the
// default GOGC) does not fall to a few MiB: the control plane's live heap is
// about 2 MiB at rest, so it collected after every 3 MiB allocated, each cycle
// marking the whole 2 MiB again; serving a node's IMDS (4-5 KiB allocated per
// request, nearly all by net/http) cost it 3-4 µs of CPU per request more
// than a bare net/http server in a process of its own, nearly all of it that
// (see the README's IMDS benchmark).
const heapFloorSize = 16 << 20

// heapFloor holds the allocation. It is never written: the pages of a large
// allocation fresh from the OS stay untouched, so it costs address space and
// no resident memory, and being pointer-free it adds nothing to mark. The
// heap may now grow to about twice (live + 16 MiB) before a collection, so
// the process holds up to 16 MiB more garbage at its peak.
var heapFloor []byte

// raiseHeapFloor allocates heapFloor, unless GOGC is set in the environment:
// whoever sets it tunes the collector themselves.
func raiseHeapFloor() {
	if os.Getenv("GOGC") != "" {
		return
	}
	heapFloor = make([]byte, heapFloorSize)
}
