package jobs

import "sort"

// Node fill types of a pool's taskSchedulingPolicy.
const (
	FillPack   = "pack"
	FillSpread = "spread"
)

// SlotNode is a node in a placement snapshot.
type SlotNode struct {
	ID string
	// Free is the number of unused task slots; Total is taskSlotsPerNode.
	Free  int
	Total int
}

// SlotTask is a queued task in a placement snapshot. Blocked marks a task
// that waits on dependencies not all completed with a result that satisfies
// them; Place never places it.
type SlotTask struct {
	RequiredSlots int
	Blocked       bool
}

// Snapshot is the input of Place: the schedulable nodes of one pool, the
// pool's fill type, and the head of its queue in dispatch order (job
// priority, then FIFO).
type Snapshot struct {
	FillType string
	Nodes    []SlotNode
	Tasks    []SlotTask
}

// Assignment places Tasks[Task] on the node with ID Node.
type Assignment struct {
	Task int
	Node string
}

// Place computes where the snapshot's tasks go. It is a pure function:
// tasks are taken in order, blocked ones are skipped, and each goes to one node with room for its
// required slots, or stays queued if none has room. With "pack" the nodes are
// filled one at a time, the most loaded first; with "spread" each task goes to
// the node with the most free slots. No task is placed twice and no node
// receives more than its free slots.
func Place(s Snapshot) []Assignment {
	type slot struct {
		id          string
		free, total int
	}
	nodes := make([]slot, 0, len(s.Nodes))
	seen := map[string]bool{}
	for _, n := range s.Nodes {
		if n.Free <= 0 || seen[n.ID] {
			continue
		}
		seen[n.ID] = true
		total := n.Total
		if total < n.Free {
			total = n.Free
		}
		nodes = append(nodes, slot{n.ID, n.Free, total})
	}
	if len(nodes) == 0 {
		return nil
	}
	if s.FillType == FillPack {
		// Most loaded first, so partly used nodes fill up before empty ones.
		sort.SliceStable(nodes, func(i, j int) bool {
			ui, uj := nodes[i].total-nodes[i].free, nodes[j].total-nodes[j].free
			if ui != uj {
				return ui > uj
			}
			return nodes[i].id < nodes[j].id
		})
	}
	var out []Assignment
	for ti, t := range s.Tasks {
		if t.Blocked {
			continue
		}
		need := t.RequiredSlots
		if need < 1 {
			need = 1
		}
		best := -1
		for i := range nodes {
			if nodes[i].free < need {
				continue
			}
			if s.FillType == FillPack {
				best = i
				break
			}
			if best < 0 || nodes[i].free > nodes[best].free ||
				nodes[i].free == nodes[best].free && nodes[i].total-nodes[i].free < nodes[best].total-nodes[best].free {
				best = i
			}
		}
		if best < 0 {
			continue
		}
		nodes[best].free -= need
		out = append(out, Assignment{Task: ti, Node: nodes[best].id})
	}
	return out
}
