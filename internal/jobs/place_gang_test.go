package jobs

import (
	"fmt"
	"testing"

	"pgregory.net/rapid"
)

// genGangSnapshot is a pool of one-slot nodes (as multi-instance pools
// are) with a queue that mixes ordinary and multi-instance tasks.
func genGangSnapshot(t *rapid.T) Snapshot {
	s := Snapshot{FillType: rapid.SampledFrom([]string{FillPack, FillSpread}).Draw(t, "fill"),
		MultiInstance: rapid.Bool().Draw(t, "multiInstance")}
	total := rapid.IntRange(1, 3).Draw(t, "slotsPerNode")
	for i := range rapid.IntRange(0, 8).Draw(t, "nodes") {
		s.Nodes = append(s.Nodes, SlotNode{ID: fmt.Sprintf("n%d", i), Total: total, Free: rapid.IntRange(0, total).Draw(t, "free")})
	}
	for range rapid.IntRange(0, 20).Draw(t, "tasks") {
		s.Tasks = append(s.Tasks, SlotTask{RequiredSlots: 1, Instances: rapid.IntRange(0, 6).Draw(t, "instances")})
	}
	return s
}

func instancesOf(t SlotTask) int { return max(t.Instances, 1) }

// TestPlaceGangProperties: a multi-instance task gets exactly its number of
// distinct nodes or none; no node exceeds its slots; a gang is placed only
// on a pool that allows it; and a gang left queued could not have been
// placed on what remained.
func TestPlaceGangProperties(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		s := genGangSnapshot(t)
		free := map[string]int{}
		for _, n := range s.Nodes {
			free[n.ID] = n.Free
		}
		placed := map[int]bool{}
		for _, a := range Place(s) {
			if placed[a.Task] {
				t.Fatalf("task %d placed twice", a.Task)
			}
			placed[a.Task] = true
			tk := s.Tasks[a.Task]
			nodes := append([]string{a.Node}, a.Subtasks...)
			if len(nodes) != instancesOf(tk) {
				t.Fatalf("task %d of %d instances got %d nodes: %v", a.Task, instancesOf(tk), len(nodes), nodes)
			}
			if tk.Instances > 1 && !s.MultiInstance {
				t.Fatalf("multi-instance task %d placed on a pool without inter-node communication", a.Task)
			}
			seen := map[string]bool{}
			for _, n := range nodes {
				if seen[n] {
					t.Fatalf("task %d has two instances on node %s: %v", a.Task, n, nodes)
				}
				seen[n] = true
				if _, ok := free[n]; !ok {
					t.Fatalf("unknown node %s", n)
				}
				free[n] -= tk.RequiredSlots
				if free[n] < 0 {
					t.Fatalf("node %s exceeds its slots", n)
				}
			}
		}
		room := 0
		for _, f := range free {
			if f >= 1 {
				room++
			}
		}
		for i, tk := range s.Tasks {
			if placed[i] {
				continue
			}
			if tk.Instances > 1 && !s.MultiInstance {
				continue
			}
			if room >= instancesOf(tk) {
				t.Fatalf("task %d (%d instances) left queued although %d nodes have room at the end", i, instancesOf(tk), room)
			}
		}
	})
}

// TestPlaceGangNoDeadlock runs a pool to the end: several claimers place in
// turn over what the others left (as claims do, one at a time), placed
// tasks finish after a few rounds, and every task whose instance count the
// pool can hold completes. With partial holding, two gangs could each keep
// nodes the other waits for and the run would never end.
func TestPlaceGangNoDeadlock(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 6).Draw(t, "nodes")
		fill := rapid.SampledFrom([]string{FillPack, FillSpread}).Draw(t, "fill")
		var queue []SlotTask
		for range rapid.IntRange(1, 15).Draw(t, "tasks") {
			queue = append(queue, SlotTask{RequiredSlots: 1, Instances: rapid.IntRange(1, n).Draw(t, "instances")})
		}
		busy := map[string]int{} // node -> rounds left on its task
		type running struct {
			nodes []string
			left  int
		}
		var run []running
		done := 0
		for round := 0; done < len(queue); round++ {
			if round > 20*len(queue)+20 {
				t.Fatalf("no progress: %d of %d tasks done, %d running", done, len(queue), len(run))
			}
			// Claimers: each sees the nodes free now and takes the head.
			for range rapid.IntRange(1, 3).Draw(t, "claimers") {
				s := Snapshot{FillType: fill, MultiInstance: true}
				for i := range n {
					id := fmt.Sprintf("n%d", i)
					f := 1
					if busy[id] > 0 {
						f = 0
					}
					s.Nodes = append(s.Nodes, SlotNode{ID: id, Free: f, Total: 1})
				}
				var idx []int
				for i, tk := range queue {
					if !tk.Blocked {
						s.Tasks = append(s.Tasks, tk)
						idx = append(idx, i)
					}
				}
				for _, a := range Place(s) {
					nodes := append([]string{a.Node}, a.Subtasks...)
					left := rapid.IntRange(1, 3).Draw(t, "duration")
					for _, id := range nodes {
						if busy[id] > 0 {
							t.Fatalf("node %s given two tasks at once", id)
						}
						busy[id] = left
					}
					queue[idx[a.Task]].Blocked = true // taken off the queue
					run = append(run, running{nodes, left})
				}
			}
			// Time passes.
			kept := run[:0]
			for _, r := range run {
				r.left--
				if r.left == 0 {
					for _, id := range r.nodes {
						busy[id] = 0
					}
					done++
					continue
				}
				kept = append(kept, r)
			}
			run = kept
		}
	})
}

func TestPlaceGangStaysQueuedWithoutInterNode(t *testing.T) {
	t.Parallel()
	s := Snapshot{FillType: FillSpread, Nodes: []SlotNode{{ID: "a", Free: 1, Total: 1}, {ID: "b", Free: 1, Total: 1}},
		Tasks: []SlotTask{{RequiredSlots: 1, Instances: 2}, {RequiredSlots: 1}}}
	if got := fmt.Sprint(Place(s)); got != "[{1 a []}]" {
		t.Fatalf("without inter-node communication: %s", got)
	}
	s.MultiInstance = true
	if got := fmt.Sprint(Place(s)); got != "[{0 a [b]}]" {
		t.Fatalf("with inter-node communication: %s", got)
	}
}
