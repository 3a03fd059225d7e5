// Package batchprovider is the Microsoft.Batch resource provider on the ARM
// front door's plug-in API: Batch accounts (create and delete as long-running
// operations, get, update, list, listKeys, regenerateKeys, auto-storage, the
// account's own identity) and pools (PUT answering 200 on create and update,
// PATCH, GET, list, DELETE as a long-running operation, disableAutoScale,
// stopResize), with the pool identity rules and the linked authorization
// check on every identity a request attaches. Accounts are read and written
// through the pool service, which owns their rows; pool bodies are decoded
// here (pool_decode.go, DecodeARMPool) into a batch.Spec and rendered
// (pool_wire.go) from the domain's cobalt.Pool.
//
// Each account's data plane listens on its own host:port, which an
// EndpointAllocator (the Batch data-plane service) provides; it is the
// account's properties.accountEndpoint.
//
// When a pool's identities change while it has nodes, the PUT/PATCH response
// carries the HTTP header `Warning: 299 - "<text>"` and the pool the
// read-only extension property properties.identityWarning until it has
// shrunk to zero nodes.
package batchprovider
