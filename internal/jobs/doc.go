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
package jobs
