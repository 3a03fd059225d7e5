// Package batch is Cobalt's Batch pool service. It owns the Batch account
// rows (the Microsoft.Batch provider and the data plane read and write
// accounts through it, never through the store) and resolves
// autoStorageContainerName resource files for start tasks and tasks alike.
// It works on the root package's domain types (cobalt.Pool, cobalt.Node,
// cobalt.Account), adding only its own bookkeeping (batch.Pool, batch.Node),
// and holds the rules both planes share on a decoded pool Spec (defaults,
// validation including the pool identity rules), the catalog of node images and VM sizes, the node records and
// their credentials, and the allocator that reconciles each pool's target
// node counts with its nodes through a NodeProvider. The codecs live at
// the edges: the ARM JSON (decoded and rendered) in
// internal/arm/batchprovider, the data-plane JSON in internal/batchapi, the
// parts and enum spellings they share in internal/batchwire. Rows are persisted through private records
// (record.go) that keep the JSON every release has written.
//
// Lost nodes are published to subscribers (SubscribeNodeLost); the pool
// service never calls the jobs service except through TaskMetrics, which
// *jobs.Service satisfies: the task counts of the autoscale samples.
//
// Autoscale: every AutoScaleOptions.SamplePeriod (30 s) Service.Run samples
// every active pool (PoolSample) into an in-memory history per replica;
// EvaluateFormula is a pure function of a formula, those samples and the
// time, and runs every autoScaleEvaluationInterval and on evaluateautoscale.
// The same samples give the pool usage metrics (UsageMetrics).
//
// All state lives in the store: several control-plane replicas sharing one
// PostgreSQL database may run Service.Run at once. Pool writes are
// compare-and-swap on the pool's version; a node is created by exactly one
// replica because node IDs come from a per-pool counter advanced under
// compare-and-swap.
//
// Node deallocation (shrinking a pool): idle nodes (and nodes not yet
// started) are removed first. When more must go, running nodes are marked
// "leavingpool": with "requeue" and "terminate" (the default is requeue) they
// are removed at once and the node is published as lost (see
// Service.SubscribeNodeLost), so that the jobs service requeues its tasks; with "taskcompletion" and
// "retaineddata" they leave the pool when they next report idle.
//
// Restarts: when the control plane's process restarts (gracefully or after
// a crash), Service.Run first restarts the nodes whose root directories are
// on this host (RecoverNodes), as a VM reboots: same node ID, identity
// snapshot and credential (the NodeProvider persisted it; the store has only
// its hash). They show "rebooting" until their agents register again; a node
// that cannot be restarted is declared lost (unusable, tasks requeued).
//
// Pool identity updates: the nodes of a pool keep the identity set they were
// allocated with. When a pool's identities change while it has nodes, the
// pool carries a warning (ARM: the HTTP "Warning" header of the PUT/PATCH
// response, and the read-only extension property
// properties.identityWarning; data plane: "identityWarning") until it has
// shrunk to zero nodes.
package batch
