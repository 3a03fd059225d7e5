package cli

import "testing"

// `cobalt up` keeps its heap floor unless GOGC is set, which leaves the
// collector to whoever set it.
func TestRaiseHeapFloor(t *testing.T) {
	t.Cleanup(func() { heapFloor = nil })
	t.Setenv("GOGC", "")
	heapFloor = nil
	raiseHeapFloor()
	if len(heapFloor) != heapFloorSize {
		t.Fatalf("without GOGC: floor of %d bytes, want %d", len(heapFloor), heapFloorSize)
	}
	t.Setenv("GOGC", "100")
	heapFloor = nil
	raiseHeapFloor()
	if heapFloor != nil {
		t.Fatalf("with GOGC=100: floor of %d bytes, want none", len(heapFloor))
	}
}
