package jobs

import (
	"fmt"
	"testing"

	"pgregory.net/rapid"
)

func genSnapshot(t *rapid.T) Snapshot {
	fill := rapid.SampledFrom([]string{FillPack, FillSpread}).Draw(t, "fill")
	total := rapid.IntRange(1, 8).Draw(t, "slotsPerNode")
	n := rapid.IntRange(0, 6).Draw(t, "nodes")
	s := Snapshot{FillType: fill}
	for i := range n {
		s.Nodes = append(s.Nodes, SlotNode{ID: fmt.Sprintf("n%d", i), Total: total, Free: rapid.IntRange(0, total).Draw(t, "free")})
	}
	for range rapid.IntRange(0, 40).Draw(t, "tasks") {
		s.Tasks = append(s.Tasks, SlotTask{RequiredSlots: rapid.IntRange(1, total).Draw(t, "slots")})
	}
	return s
}

func TestPlaceProperties(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		s := genSnapshot(t)
		as := Place(s)
		free := map[string]int{}
		for _, n := range s.Nodes {
			free[n.ID] = n.Free
		}
		placed := map[int]bool{}
		for _, a := range as {
			if placed[a.Task] {
				t.Fatalf("task %d placed twice", a.Task)
			}
			placed[a.Task] = true
			if a.Task < 0 || a.Task >= len(s.Tasks) {
				t.Fatalf("assignment of a task that does not exist: %d", a.Task)
			}
			if _, ok := free[a.Node]; !ok {
				t.Fatalf("assignment to an unknown node %s", a.Node)
			}
			free[a.Node] -= s.Tasks[a.Task].RequiredSlots
			if free[a.Node] < 0 {
				t.Fatalf("node %s exceeds its slots", a.Node)
			}
		}
		// Nothing left queued would fit anywhere when it was considered:
		// a skipped task needs more than any node's remaining slots at the end.
		for i, tk := range s.Tasks {
			if placed[i] {
				continue
			}
			for id, f := range free {
				if f >= tk.RequiredSlots {
					t.Fatalf("task %d (%d slots) left queued although %s has %d free", i, tk.RequiredSlots, id, f)
				}
			}
		}
	})
}

func TestPlacePackFillsOneNodeFirst(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		total := rapid.IntRange(1, 8).Draw(t, "slots")
		n := rapid.IntRange(1, 5).Draw(t, "nodes")
		s := Snapshot{FillType: FillPack}
		for i := range n {
			s.Nodes = append(s.Nodes, SlotNode{ID: fmt.Sprintf("n%d", i), Total: total, Free: total})
		}
		k := rapid.IntRange(0, n*total).Draw(t, "tasks")
		for range k {
			s.Tasks = append(s.Tasks, SlotTask{RequiredSlots: 1})
		}
		used := map[string]int{}
		for _, a := range Place(s) {
			used[a.Node]++
		}
		// With equal empty nodes and one-slot tasks, pack uses the fewest nodes:
		// every node but the last one used is full.
		partial := 0
		for _, u := range used {
			if u < total {
				partial++
			}
		}
		if partial > 1 || len(used) != (k+total-1)/total {
			t.Fatalf("pack used %v for %d tasks of %d-slot nodes", used, k, total)
		}
	})
}

func TestPlaceSpreadBalances(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		total := rapid.IntRange(1, 8).Draw(t, "slots")
		n := rapid.IntRange(1, 5).Draw(t, "nodes")
		s := Snapshot{FillType: FillSpread}
		for i := range n {
			s.Nodes = append(s.Nodes, SlotNode{ID: fmt.Sprintf("n%d", i), Total: total, Free: total})
		}
		k := rapid.IntRange(0, n*total).Draw(t, "tasks")
		for range k {
			s.Tasks = append(s.Tasks, SlotTask{RequiredSlots: 1})
		}
		used := map[string]int{}
		for _, nd := range s.Nodes {
			used[nd.ID] = 0
		}
		for _, a := range Place(s) {
			used[a.Node]++
		}
		lo, hi := k, 0
		for _, u := range used {
			lo, hi = min(lo, u), max(hi, u)
		}
		if hi-lo > 1 {
			t.Fatalf("spread is unbalanced: %v", used)
		}
	})
}

func TestPlacePackPrefersLoadedNode(t *testing.T) {
	t.Parallel()
	as := Place(Snapshot{FillType: FillPack, Nodes: []SlotNode{{ID: "empty", Free: 4, Total: 4}, {ID: "busy", Free: 2, Total: 4}},
		Tasks: []SlotTask{{RequiredSlots: 1}, {RequiredSlots: 1}, {RequiredSlots: 1}, {RequiredSlots: 3}}})
	want := "[{0 busy []} {1 busy []} {2 empty []} {3 empty []}]"
	if fmt.Sprint(as) != want {
		t.Fatalf("got %v, want %v", as, want)
	}
}
