package batch

import "time"

// DefaultHostLease is how long a joined host stays ready without a report
// when none is configured.
const DefaultHostLease = 30 * time.Second

// FenceAfter is how long a node agent on a joined host runs its tasks
// without reaching the control plane before it kills them (self-fencing):
// half the shorter of the host lease and the node heartbeat timeout. The
// control plane requeues a silent host's tasks only after HostGrace past
// its lease, and a silent node's after its heartbeat timeout, both later
// than a fence measured from the same last report, so no task runs on a
// cut-off host once it runs elsewhere.
func FenceAfter(hostLease, heartbeatTimeout time.Duration) time.Duration {
	if hostLease <= 0 {
		hostLease = DefaultHostLease
	}
	if heartbeatTimeout <= 0 {
		heartbeatTimeout = 30 * time.Second
	}
	return min(hostLease, heartbeatTimeout) / 2
}

// HostGrace is how long past its lease a silent host keeps its nodes before
// the control plane gives them up and requeues their tasks: one more
// lease, strictly longer than FenceAfter (at most half a lease). The host's
// last report is at most one heartbeat interval older than its nodes'
// last, and the heartbeat interval is shorter than a lease, so the fence
// always comes first.
func HostGrace(hostLease time.Duration) time.Duration {
	if hostLease <= 0 {
		hostLease = DefaultHostLease
	}
	return hostLease
}

// fence is the FenceAfter of this control plane's nodes on joined hosts.
func (s *Service) fence() time.Duration {
	return FenceAfter(s.cfg.HostLease, s.cfg.HeartbeatTimeout)
}
