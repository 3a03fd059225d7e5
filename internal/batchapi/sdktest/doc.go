// Package sdktest drives the Batch data plane with the official SDKs: Go's
// azbatch with Entra tokens and SharedKey, and Node's @azure/batch with
// SharedKey, against the real services on a temporary store (with a fake
// node that completes leased tasks) and against a whole `cobalt up`
// (sdkharness) with real nodes. It holds tests only.
package sdktest
