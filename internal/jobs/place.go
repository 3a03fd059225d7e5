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
	// Instances is the number of distinct nodes a multi-instance task runs
	// on at once (0 or 1: an ordinary task).
	Instances int
}

// Snapshot is the input of Place: the schedulable nodes of one pool, the
// pool's fill type, and the head of its queue in dispatch order (job
// priority, then FIFO).
type Snapshot struct {
	FillType string
	Nodes    []SlotNode
	Tasks    []SlotTask
	// MultiInstance says the pool can run multi-instance tasks (inter-node
	// communication enabled and one task slot per node); without it a task
	// of more than one instance is never placed and stays queued, as on Batch.
	MultiInstance bool
}

// Assignment places Tasks[Task] on the node with ID Node; a multi-instance
// task's subtasks go to the nodes Subtasks (distinct from Node and from
// each other), so the task holds 1+len(Subtasks) nodes.
type Assignment struct {
	Task     int
	Node     string
	Subtasks []string
}

// Place computes where the snapshot's tasks go. It is a pure function:
// tasks are taken in order, blocked ones are skipped, and each goes to one node with room for its
// required slots, or stays queued if none has room. With "pack" the nodes are
// filled one at a time, the most loaded first; with "spread" each task goes to
// the node with the most free slots. No task is placed twice and no node
// receives more than its free slots.
//
// A multi-instance task (Instances > 1) is placed as a gang: on Instances
// distinct nodes with room, all at once, or on none, in which case it holds
// no slot and the tasks behind it are still considered. A gang never waits
// on part of its nodes, so two gangs cannot each hold what the other needs.
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
		if t.Instances > 1 {
			if !s.MultiInstance {
				continue
			}
			var fit []int
			for i := range nodes {
				if nodes[i].free >= need {
					fit = append(fit, i)
				}
			}
			if len(fit) < t.Instances {
				continue
			}
			if s.FillType != FillPack {
				sort.SliceStable(fit, func(a, b int) bool {
					na, nb := nodes[fit[a]], nodes[fit[b]]
					if na.free != nb.free {
						return na.free > nb.free
					}
					return na.total-na.free < nb.total-nb.free
				})
			}
			fit = fit[:t.Instances]
			a := Assignment{Task: ti, Node: nodes[fit[0]].id}
			for _, i := range fit {
				nodes[i].free -= need
				if i != fit[0] {
					a.Subtasks = append(a.Subtasks, nodes[i].id)
				}
			}
			out = append(out, a)
			continue
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
