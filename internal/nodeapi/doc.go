// Package nodeapi is the control plane's side of the node protocol
// (internal/nodeproto): an HTTPS JSON API that node agents call with their
// node credential to register, heartbeat, lease and report tasks, and get
// access tokens for the identities their node carries.
//
// Registration and heartbeats keep the task leases honest. A registering
// agent has just started (a restarted control plane's local node, a rebooted
// or restarted remote agent) and runs nothing, so the tasks leased to its
// node are requeued at once (NodeLost: requeueCount, not retryCount). Each
// heartbeat's running leases are reconciled with the dispatcher when it
// implements LeaseReconciler: the leases of tasks that were terminated,
// deleted or requeued meanwhile come back as "terminate:<leaseID>" commands,
// which stop the task's process on the node. The node configuration a
// registration returns forwards, besides the control plane's ports, the
// port of the node's own Batch account's endpoint, so that a task inside a
// node namespace reaches its account's data plane.
//
// Token rules: a node may only get tokens for the identities of its
// allocation snapshot (never its pool's current set, never another pool's);
// with no selector it gets its only identity (several: MultipleIdentities);
// a client_id, object_id or resource ID selector must match one identity of
// the snapshot (resource IDs compare case-insensitively); the identity must
// still exist, else IdentityNotFound.
package nodeapi
