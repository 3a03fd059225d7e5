package store

// JobStore keeps Batch jobs, tasks and their claims. The jobs engineer owns
// this slice of the interface.
type JobStore interface{}
