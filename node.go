package cobalt

import "time"

// Node states (the Batch data plane's spelling).
const (
	NodeCreating            = "creating"
	NodeStarting            = "starting"
	NodeWaitingForStartTask = "waitingforstarttask"
	NodeStartTaskFailed     = "starttaskfailed"
	NodeIdle                = "idle"
	NodeRunning             = "running"
	NodeUnusable            = "unusable"
	NodeOffline             = "offline"
	NodeLeavingPool         = "leavingpool"
	NodeRebooting           = "rebooting"
	NodeReimaging           = "reimaging"
	NodeDeallocating        = "deallocating"
	NodeDeallocated         = "deallocated"
)

// Node is a compute node of a pool.
type Node struct {
	ID string
	// AccountKey is the lower-case ARM ID of the node's Batch account.
	AccountKey string
	PoolID     string
	// State is one of the Node... states.
	State string
	// SchedulingState is "enabled" or "disabled".
	SchedulingState     string
	IsDedicated         bool
	VMSize              string
	StateTransitionTime time.Time
	AllocationTime      time.Time
	LastBootTime        time.Time
	// Errors are the node's errors (start failures, lost heartbeats).
	Errors []ResizeError
	// Identities is the identity set the node was allocated with; later
	// changes of the pool's identities do not alter it.
	Identities []UserAssignedIdentity
	// RunningLeases are the task leases the node reported at its last heartbeat.
	RunningLeases []string
	// AgentVersion and Isolation are what the node's agent reported when it registered.
	AgentVersion string
	Isolation    string
	// HeartbeatAt is when the node last reported.
	HeartbeatAt time.Time
	// HostID is the host the node runs on; IPAddress is that host's
	// address, the node's ipAddress in the data plane.
	HostID    string
	IPAddress string
	// Version is the node's stored version.
	Version int64
}

// Ref returns the node's reference.
func (n *Node) Ref() NodeRef { return NodeRef{AccountID: n.AccountKey, PoolID: n.PoolID, NodeID: n.ID} }

// Schedulable reports whether the node may be given new tasks: its
// scheduling is enabled and it is not leaving the pool, unusable, failed
// its start task, rebooting, reimaging or deallocat(ing|ed).
func (n *Node) Schedulable() bool {
	switch n.State {
	case NodeLeavingPool, NodeUnusable, NodeStartTaskFailed, NodeRebooting, NodeReimaging, NodeDeallocating, NodeDeallocated:
		return false
	}
	return n.SchedulingState != "disabled"
}
