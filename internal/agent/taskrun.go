package agent

// defaultRunner is the TaskRunner used when Config.Runner is nil. It is
// JOBS' internal/agent/taskrun once that package lands; until then nil.
func defaultRunner() TaskRunner { return nil }
