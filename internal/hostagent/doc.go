// Package hostagent places node sandboxes on this machine for the
// allocator: it is the local node provider (batch.NodeProvider), running each
// compute node's agent in this process, as a goroutine, speaking the same
// authenticated HTTPS node protocol a remote agent speaks. It persists each
// node's credential and sandbox state beside the node directories so that a
// node restarted after the control plane's process ended (as a VM reboots)
// comes back with the same credential and uid range.
package hostagent
