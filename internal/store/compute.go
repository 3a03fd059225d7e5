package store

// ComputeStore keeps the batch data plane and compute nodes: pools' runtime
// state, nodes, jobs, tasks and their claims. The batch and node packages own
// this slice of the interface.
type ComputeStore interface{}
