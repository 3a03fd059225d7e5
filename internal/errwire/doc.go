// Package errwire holds the wire tables of Cobalt's errors, in one place
// for every protocol the binary serves (ARM, the Batch data plane, Blob,
// OAuth, IMDS, the node API):
//
//   - [HTTPStatus] maps a [cobalt.Code] to the HTTP status that
//     conventionally carries it; each protocol's error writer starts from it
//     and may override it for its own reasons.
//   - The Reason constants are the protocol error codes ("PoolNotFound",
//     "PoolExists", ...) that the domain services put in
//     [cobalt.Error.Reason]. Services return them; the wire layers (the
//     Batch error body, the ARM error body) write them verbatim. Their
//     spelling is Azure's: the BatchErrorCodeStrings of the Batch REST
//     specification, which the Microsoft.Batch resource provider passes
//     through.
//
// The package depends only on the root package and net/http, so every
// service and every wire layer may import it.
package errwire
