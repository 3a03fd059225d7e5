package cobalt

// PoolTaskCounts are the task counts of one pool's jobs, as the jobs
// service reports them to the pool service for autoscale samples.
type PoolTaskCounts struct {
	// Active counts the queued tasks that may run (not waiting on
	// dependencies); Running the tasks preparing or running on a node.
	Active, Running int
	// Succeeded and Failed count the completed tasks still stored.
	Succeeded, Failed int
}
