// Package jobs implements Batch jobs and tasks above the store: their
// validation, states and transitions, the task queue's scheduler, and the
// TaskDispatcher through which node agents lease and report tasks.
//
// The service takes and returns the domain types of package cobalt (Job,
// JobSpec, Task, TaskSpec, ...); the data plane's JSON is batchapi's. The
// store holds jobs and tasks as JSON documents whose shapes (codec.go) are
// this package's own: they are those the first release wrote, so its rows
// still decode. Errors are *cobalt.Error values that also match one of the
// package's conditions (ErrJobNotFound, ErrTaskExists, ...) with errors.Is.
//
// Scheduling: a node agent long-polls Lease with its free slots. The service
// takes a snapshot of the pool's queue head and of the nodes waiting in this
// replica, computes placement with the pure function Place, and claims the
// requesting node's share atomically in the store (FOR UPDATE SKIP LOCKED on
// PostgreSQL), so several replicas on one database never dispatch a task twice.
// Nothing per task is held in memory.
//
// Task dependencies: a task with dependsOn is stored with the store's
// Waiting flag and its pending set (deps.go); claims never offer it. When a
// task completes with a result that satisfies its dependents (its
// exitConditions' dependencyAction), the job's waiting tasks drop it from
// their pending sets and those left with none are queued (dependents.go).
// Place skips blocked tasks, and property tests drive it and the dependency
// rules together.
//
// Job preparation and release tasks (jobprep*.go): the preparation task
// rides on every lease of the job's tasks and the node runs it once per job;
// the node's reports land in the store's job_prep records, which keep a
// node whose preparation task failed (with waitForSuccess) out of the job's
// claims, list the status by node, and, once the job ends, hand the release
// task to the node with its heartbeat (a record outlives a deleted job until
// its release task ran).
//
// Multi-instance tasks (gang.go): Place puts a task of N instances on N
// distinct waiting nodes or on none; the claiming node becomes the
// primary (its claim is the task's lease) and the other nodes of the gang
// get subtask leases ("<lease>.<n>") through their waiting Lease calls,
// all while the pool's claims in this replica take turns. Instance reports
// update the task's record by that lease; the primary runs its command
// once every instance has reported its coordination command's success.
//
// Figures: PoolTaskCounts gives the pool service its autoscale samples'
// task counts by pool, JobStats and AccountJobStats the jobs' statistics,
// both computed from the task rows on demand.
//
// Job schedules (schedule*.go) are stored as documents of their own; the
// sweep FireDueSchedules creates their jobs, "{scheduleId}:job-{n}", once
// each across replicas and restarts (schedule_fire.go).
package jobs
