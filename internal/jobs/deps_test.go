package jobs

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cobaltbatch/cobalt"
	"pgregory.net/rapid"
)

func TestPlaceNeverPlacesBlocked(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		s := genSnapshot(t)
		for i := range s.Tasks {
			s.Tasks[i].Blocked = rapid.Bool().Draw(t, "blocked")
		}
		as := Place(s)
		free := map[string]int{}
		for _, n := range s.Nodes {
			free[n.ID] = n.Free
		}
		placed := map[int]bool{}
		for _, a := range as {
			if s.Tasks[a.Task].Blocked {
				t.Fatalf("blocked task %d placed on %s", a.Task, a.Node)
			}
			placed[a.Task] = true
			free[a.Node] -= s.Tasks[a.Task].RequiredSlots
		}
		// Blocked tasks take no room from the ones behind them.
		for i, tk := range s.Tasks {
			if placed[i] || tk.Blocked {
				continue
			}
			for id, f := range free {
				if f >= tk.RequiredSlots {
					t.Fatalf("ready task %d (%d slots) left queued although %s has %d free", i, tk.RequiredSlots, id, f)
				}
			}
		}
	})
}

// depTask is a task of the dependency model: its number, its ID (the number
// with optional leading zeros), its dependencies and how it will exit.
type depTask struct {
	num      int
	spec     cobalt.TaskSpec
	exitCode int
}

// deps lists the numbers of the tasks a model task depends on.
func (d depTask) deps(byNum map[int]bool) []int {
	var out []int
	if d.spec.DependsOn == nil {
		return nil
	}
	for _, id := range d.spec.DependsOn.TaskIDs {
		n, _ := taskNumber(id)
		out = append(out, n)
	}
	for _, r := range d.spec.DependsOn.TaskIDRanges {
		for n := r.Start; n <= r.End; n++ {
			if byNum[n] {
				out = append(out, n)
			}
		}
	}
	return out
}

func genDepTasks(t *rapid.T) []depTask {
	n := rapid.IntRange(1, 25).Draw(t, "tasks")
	out := make([]depTask, n)
	for k := range n {
		pad := rapid.IntRange(0, 2).Draw(t, "zeros")
		d := depTask{num: k, exitCode: rapid.SampledFrom([]int{0, 0, 1, 2}).Draw(t, "exit")}
		d.spec.ID = strings.Repeat("0", pad) + fmt.Sprint(k)
		if k > 0 && rapid.Bool().Draw(t, "hasDeps") {
			deps := &cobalt.TaskDependencies{}
			for range rapid.IntRange(0, 3).Draw(t, "ids") {
				deps.TaskIDs = append(deps.TaskIDs, out[rapid.IntRange(0, k-1).Draw(t, "dep")].spec.ID)
			}
			if rapid.Bool().Draw(t, "hasRange") {
				a := rapid.IntRange(0, k-1).Draw(t, "start")
				deps.TaskIDRanges = append(deps.TaskIDRanges, cobalt.TaskIDRange{Start: a, End: rapid.IntRange(a, k-1).Draw(t, "end")})
			}
			d.spec.DependsOn = deps
		}
		if rapid.Bool().Draw(t, "hasExitConditions") {
			ec := &cobalt.ExitConditions{}
			act := func(label string) string {
				return rapid.SampledFrom([]string{"", cobalt.DependencySatisfy, cobalt.DependencyBlock}).Draw(t, label)
			}
			ec.ExitCodes = []cobalt.ExitCodeMapping{{Code: 1, ExitOptions: cobalt.ExitOptions{DependencyAction: act("code1")}}}
			if rapid.Bool().Draw(t, "hasDefault") {
				ec.Default = &cobalt.ExitOptions{DependencyAction: act("default")}
			}
			d.spec.ExitConditions = ec
		}
		out[k] = d
	}
	return out
}

// TestDependenciesModel drives the dependency rules and Place together the
// way the service does: tasks are added in any order (a dependency may come
// after its dependent), an added task's pending set drops the tasks already
// completed with a satisfying result, a completion that satisfies releases
// its dependents, and Place sees only tasks whose pending set is empty as
// ready. No task is placed before every task it depends on completed with a
// result that satisfies it, and when nothing more can run, every task left
// depends on one that blocked (or on one left itself).
func TestDependenciesModel(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		tasks := genDepTasks(t)
		byNum := map[int]bool{}
		for _, d := range tasks {
			byNum[d.num] = true
		}
		order := rapid.Permutation(tasks).Draw(t, "addOrder")
		pending := map[int]*pendingDeps{}
		added := map[int]bool{}
		satisfied := map[int]bool{} // completed, with dependencyAction satisfy
		completed := map[int]bool{}
		running := []int{}
		for steps := 0; ; steps++ {
			if steps > 10000 {
				t.Fatalf("no end")
			}
			progress := false
			// Add the next task, maybe.
			if len(order) > 0 && (len(running) == 0 || rapid.Bool().Draw(t, "add")) {
				d := order[0]
				order = order[1:]
				added[d.num] = true
				if d.spec.DependsOn != nil {
					p := newPending(*d.spec.DependsOn)
					for n := range satisfied {
						p.satisfy(tasks[n].spec.ID)
					}
					if !p.empty() {
						pending[d.num] = &p
					}
				}
				progress = true
			}
			// Place the queue on two nodes.
			var queue []int
			for _, d := range tasks {
				if added[d.num] && !completed[d.num] && !slices.Contains(running, d.num) {
					queue = append(queue, d.num)
				}
			}
			snap := Snapshot{FillType: FillSpread, Nodes: []SlotNode{{ID: "a", Free: 2, Total: 2}, {ID: "b", Free: 1, Total: 1}}}
			for _, n := range queue {
				snap.Tasks = append(snap.Tasks, SlotTask{RequiredSlots: 1, Blocked: pending[n] != nil})
			}
			for _, a := range Place(snap) {
				n := queue[a.Task]
				for _, dep := range tasks[n].deps(byNum) {
					if !satisfied[dep] {
						t.Fatalf("task %s placed before its dependency %d completed and satisfied it", tasks[n].spec.ID, dep)
					}
				}
				running = append(running, n)
				progress = true
			}
			// Complete one running task.
			if len(running) > 0 {
				i := rapid.IntRange(0, len(running)-1).Draw(t, "complete")
				n := running[i]
				running = slices.Delete(running, i, i+1)
				completed[n] = true
				d := tasks[n]
				res, code := cobalt.TaskSuccess, d.exitCode
				var fi *cobalt.TaskFailureInfo
				if code != 0 {
					res, fi = cobalt.TaskFailure, exitFailure(code)
				}
				if dependencyAction(d.spec, res, &code, fi) == cobalt.DependencySatisfy {
					satisfied[n] = true
					for m, p := range pending {
						if p.waitsFor(d.spec.ID) {
							p.satisfy(d.spec.ID)
							if p.empty() {
								delete(pending, m)
							}
						}
					}
				}
				progress = true
			}
			if !progress {
				break
			}
		}
		for _, d := range tasks {
			if completed[d.num] {
				continue
			}
			stuck := false
			for _, dep := range d.deps(byNum) {
				if !satisfied[dep] {
					stuck = true
				}
			}
			if !stuck {
				t.Fatalf("task %s never ran although every dependency satisfied it", d.spec.ID)
			}
		}
	})
}

func TestDependencyActionDefaults(t *testing.T) {
	t.Parallel()
	one, zero := 1, 0
	ec := func(o cobalt.ExitConditions) cobalt.TaskSpec { return cobalt.TaskSpec{ExitConditions: &o} }
	for _, c := range []struct {
		name string
		spec cobalt.TaskSpec
		res  cobalt.TaskResult
		code *int
		fi   *cobalt.TaskFailureInfo
		want string
	}{
		{"success", cobalt.TaskSpec{}, cobalt.TaskSuccess, &zero, nil, "satisfy"},
		{"failure blocks", cobalt.TaskSpec{}, cobalt.TaskFailure, &one, exitFailure(1), "block"},
		{"default does not cover exit 0", ec(cobalt.ExitConditions{Default: &cobalt.ExitOptions{DependencyAction: "block"}}), cobalt.TaskSuccess, &zero, nil, "satisfy"},
		{"listed exit 0", ec(cobalt.ExitConditions{ExitCodes: []cobalt.ExitCodeMapping{{Code: 0, ExitOptions: cobalt.ExitOptions{DependencyAction: "block"}}}}), cobalt.TaskSuccess, &zero, nil, "block"},
		{"listed code satisfies", ec(cobalt.ExitConditions{ExitCodes: []cobalt.ExitCodeMapping{{Code: 1, ExitOptions: cobalt.ExitOptions{DependencyAction: "satisfy"}}}}), cobalt.TaskFailure, &one, exitFailure(1), "satisfy"},
		{"range satisfies", ec(cobalt.ExitConditions{ExitCodeRanges: []cobalt.ExitCodeRangeMapping{{Start: 1, End: 5, ExitOptions: cobalt.ExitOptions{DependencyAction: "satisfy"}}}}), cobalt.TaskFailure, &one, exitFailure(1), "satisfy"},
		{"default satisfies a failure", ec(cobalt.ExitConditions{Default: &cobalt.ExitOptions{DependencyAction: "satisfy"}}), cobalt.TaskFailure, &one, exitFailure(1), "satisfy"},
		{"pre-processing error", ec(cobalt.ExitConditions{PreProcessingError: &cobalt.ExitOptions{DependencyAction: "satisfy"}}), cobalt.TaskFailure, nil, &cobalt.TaskFailureInfo{Code: "BlobDownloadMiscError"}, "satisfy"},
		{"terminated", ec(cobalt.ExitConditions{PreProcessingError: &cobalt.ExitOptions{DependencyAction: "satisfy"}}), cobalt.TaskFailure, nil, &cobalt.TaskFailureInfo{Code: "TaskEnded"}, "block"},
	} {
		if got := dependencyAction(c.spec, c.res, c.code, c.fi); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

func TestPendingRanges(t *testing.T) {
	t.Parallel()
	p := newPending(cobalt.TaskDependencies{TaskIDs: []string{"Root", "root"}, TaskIDRanges: []cobalt.TaskIDRange{{Start: 1, End: 3}}})
	if fmt.Sprint(p) != "{[root] [{1 3}]}" {
		t.Fatalf("pending %v", p)
	}
	for _, id := range []string{"x", "4", "01a"} {
		if p.waitsFor(id) || p.satisfy(id) {
			t.Fatalf("%s is not pending", id)
		}
	}
	for _, id := range []string{"02", "ROOT", "1", "3"} {
		if !p.waitsFor(id) || !p.satisfy(id) || p.waitsFor(id) {
			t.Fatalf("%s: satisfy", id)
		}
	}
	if !p.empty() {
		t.Fatalf("still pending: %v", p)
	}
}
