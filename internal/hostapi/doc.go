// Package hostapi is the control plane's side of the host protocol
// (internal/hostproto): it issues one-time join tokens, exchanges them for
// host credentials, renews host leases on heartbeats, lists hosts, revokes
// them, and marks hosts lost when their lease runs out.
//
// Security contract: join tokens and host credentials are random 256-bit
// secrets of which the store keeps only SHA-256 hashes; a join token is used
// at most once (the store's conditional update) and never after it expires;
// a credential authenticates only the host it was issued to (its ID is part
// of it, its secret is compared in constant time), and never once the host
// is revoked. A host learns only its own nodes.
package hostapi
