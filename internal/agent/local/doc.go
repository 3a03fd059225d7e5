// Package local is the local node provider: it runs each compute node's
// agent in this process, as a goroutine, speaking the same authenticated
// HTTPS node protocol a remote agent speaks. It implements POOLS'
// batch.NodeProvider.
package local
