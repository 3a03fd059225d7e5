package jobs

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/cobaltbatch/cobalt"
)

// This file holds the rules of task dependencies as pure functions: which
// tasks a dependent still waits for, and whether a completed task satisfies
// its dependents. The service keeps a waiting task's pending set in its exec
// document and clears the store's Waiting flag when the set empties.
//
// A dependency may name a task that does not exist yet: Batch accepts it (the
// SDKs add large collections in parallel chunks, so a dependency can land
// after its dependent), and the dependent waits until that task is added and
// completes. Tasks that depend on each other in a cycle therefore wait for
// ever; Batch defines no error code for a cycle, and none can be detected when
// a task is added without refusing dependencies on tasks still to come.

// maxDependencyChars bounds the combined length of a task's taskIds, as
// Batch does (TaskDependencyListTooLong), and Cobalt applies the same bound to
// the written form of its taskIdRanges (TaskDependencyRangesTooLong).
const maxDependencyChars = 64000

// pendingDeps is what a waiting task still waits for: task keys (lower-case
// IDs) named in taskIds, and inclusive integer intervals left of its
// taskIdRanges. Both are kept sorted.
type pendingDeps struct {
	IDs    []string      `json:"ids,omitempty"`
	Ranges []pendingSpan `json:"ranges,omitempty"`
}

type pendingSpan struct {
	Start int `json:"start"`
	End   int `json:"end"`
}

// newPending is the pending set of a task that has just been added: every
// task its dependencies name.
func newPending(d cobalt.TaskDependencies) pendingDeps {
	var p pendingDeps
	seen := map[string]bool{}
	for _, id := range d.TaskIDs {
		k := strings.ToLower(id)
		if !seen[k] {
			seen[k] = true
			p.IDs = append(p.IDs, k)
		}
	}
	sort.Strings(p.IDs)
	for _, r := range d.TaskIDRanges {
		if r.Start <= r.End {
			p.Ranges = append(p.Ranges, pendingSpan{r.Start, r.End})
		}
	}
	sort.Slice(p.Ranges, func(i, j int) bool { return p.Ranges[i].Start < p.Ranges[j].Start })
	return p
}

// empty reports whether nothing is pending: the task may run.
func (p pendingDeps) empty() bool { return len(p.IDs) == 0 && len(p.Ranges) == 0 }

// taskNumber is the integer a task ID stands for in a taskIdRange: only IDs
// made of decimal digits count, and leading zeros do not ("04" is 4).
func taskNumber(id string) (int, bool) {
	if id == "" || len(id) > 18 {
		return 0, false
	}
	for _, c := range id {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(id)
	return n, err == nil
}

// waitsFor reports whether the pending set names the task.
func (p pendingDeps) waitsFor(taskID string) bool {
	k := strings.ToLower(taskID)
	if i := sort.SearchStrings(p.IDs, k); i < len(p.IDs) && p.IDs[i] == k {
		return true
	}
	if n, ok := taskNumber(taskID); ok {
		for _, r := range p.Ranges {
			if n >= r.Start && n <= r.End {
				return true
			}
		}
	}
	return false
}

// satisfy removes a task that completed and satisfies its dependents from
// the pending set and reports whether the set changed.
func (p *pendingDeps) satisfy(taskID string) bool {
	changed := false
	k := strings.ToLower(taskID)
	if i := sort.SearchStrings(p.IDs, k); i < len(p.IDs) && p.IDs[i] == k {
		p.IDs = append(p.IDs[:i], p.IDs[i+1:]...)
		changed = true
	}
	n, ok := taskNumber(taskID)
	if !ok {
		return changed
	}
	var out []pendingSpan
	for _, r := range p.Ranges {
		if n < r.Start || n > r.End {
			out = append(out, r)
			continue
		}
		changed = true
		if r.Start < n {
			out = append(out, pendingSpan{r.Start, n - 1})
		}
		if n < r.End {
			out = append(out, pendingSpan{n + 1, r.End})
		}
	}
	p.Ranges = out
	return changed
}

// dependencyAction says what a completed task does to the tasks that depend
// on it, by Batch's rules for exitConditions: a listed exit code or range
// takes its exitOptions; a pre-processing error (a failure without an exit
// code other than TaskEnded) or a file upload error (a failure code that
// names an upload) takes its own; any other failure takes default. An unset dependencyAction is
// "satisfy" for exit code 0 without a failure and "block" for everything else.
func dependencyAction(spec cobalt.TaskSpec, result cobalt.TaskResult, exitCode *int, fi *cobalt.TaskFailureInfo) string {
	var ec cobalt.ExitConditions
	if spec.ExitConditions != nil {
		ec = *spec.ExitConditions
	}
	pick := func(o *cobalt.ExitOptions, def string) string {
		if o == nil || o.DependencyAction == "" {
			return def
		}
		return o.DependencyAction
	}
	success := result == cobalt.TaskSuccess
	def := cobalt.DependencyBlock
	if success {
		def = cobalt.DependencySatisfy
	}
	if fi != nil && strings.Contains(fi.Code, "Upload") {
		return pick(ec.FileUploadError, pick(ec.Default, cobalt.DependencyBlock))
	}
	if exitCode != nil {
		for _, c := range ec.ExitCodes {
			if c.Code == *exitCode {
				return pick(&c.ExitOptions, def)
			}
		}
		for _, c := range ec.ExitCodeRanges {
			if *exitCode >= c.Start && *exitCode <= c.End {
				return pick(&c.ExitOptions, def)
			}
		}
		if success {
			return cobalt.DependencySatisfy
		}
		return pick(ec.Default, cobalt.DependencyBlock)
	}
	if success {
		return cobalt.DependencySatisfy
	}
	if fi != nil && fi.Code != "TaskEnded" && ec.PreProcessingError != nil {
		return pick(ec.PreProcessingError, pick(ec.Default, cobalt.DependencyBlock))
	}
	return pick(ec.Default, cobalt.DependencyBlock)
}

// validateDependencies checks the dependency actions of a task's
// exitConditions (satisfy or block) and its dependsOn against its job:
// Batch's TaskDependenciesNotSpecifiedOnJob when the job does not use
// dependencies (even for an empty dependsOn), its length limits, and ranges
// whose start is not past their end.
func validateDependencies(spec cobalt.TaskSpec, job cobalt.Job) error {
	if ec := spec.ExitConditions; ec != nil {
		opts := []*cobalt.ExitOptions{ec.PreProcessingError, ec.FileUploadError, ec.Default}
		for i := range ec.ExitCodes {
			opts = append(opts, &ec.ExitCodes[i].ExitOptions)
		}
		for i := range ec.ExitCodeRanges {
			opts = append(opts, &ec.ExitCodeRanges[i].ExitOptions)
		}
		for _, o := range opts {
			if o != nil && o.DependencyAction != "" && o.DependencyAction != cobalt.DependencySatisfy && o.DependencyAction != cobalt.DependencyBlock {
				return invalidProp("exitConditions", "dependencyAction must be satisfy or block.")
			}
		}
	}
	d := spec.DependsOn
	if d == nil {
		return nil
	}
	if job.UsesTaskDependencies == nil || !*job.UsesTaskDependencies {
		return failAt(ErrDependenciesNotOnJob, cobalt.EInvalid, "dependsOn",
			"A task was specified as depending on other tasks, but the job did not specify that it would use task dependencies.")
	}
	n := 0
	for i, id := range d.TaskIDs {
		if id == "" {
			return invalidProp(fmt.Sprintf("dependsOn.taskIds[%d]", i), "A task ID in dependsOn.taskIds is empty.")
		}
		n += len(id)
	}
	if n > maxDependencyChars {
		return failAt(ErrDependencyListTooLong, cobalt.EInvalid, "dependsOn.taskIds",
			"The list of task dependencies is too long to be stored; consider task ID ranges instead.")
	}
	n = 0
	for i, r := range d.TaskIDRanges {
		if r.Start > r.End {
			return invalidProp(fmt.Sprintf("dependsOn.taskIdRanges[%d]", i), "The start of a task ID range must not be greater than its end.")
		}
		n += len(strconv.Itoa(r.Start)) + len(strconv.Itoa(r.End)) + 2
	}
	if n > maxDependencyChars {
		return failAt(ErrDependencyRangesTooLong, cobalt.EInvalid, "dependsOn.taskIdRanges",
			"The list of task ID ranges is too long to be stored.")
	}
	return nil
}
