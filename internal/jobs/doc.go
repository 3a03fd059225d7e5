// Package jobs implements Batch jobs and tasks above the store: their
// validation, states and transitions, the task queue's scheduler, and the
// TaskDispatcher through which node agents lease and report tasks.
//
// The model types (JobSpec, Job, TaskSpec, Task, ...) carry the Batch data
// plane's JSON names, so the HTTP layer (batchapi) encodes and decodes them
// directly; it fills the URL fields, which depend on the account endpoint.
//
// Scheduling: a node agent long-polls Lease with its free slots. The service
// takes a snapshot of the pool's queue head and of the nodes waiting in this
// replica, computes placement with the pure function Place, and claims the
// requesting node's share atomically in the store (FOR UPDATE SKIP LOCKED on
// PostgreSQL), so several replicas on one database never dispatch a task twice.
// Nothing per task is held in memory.
package jobs
