// Package hostclient is the host agent's side of the host protocol
// (internal/hostproto), what `cobalt host join` runs: it exchanges a
// one-time join token for a host credential once, keeps the credential in
// its data directory (mode 0600) so that a restart does not join again,
// reports capacity on every heartbeat, and follows the list of control-plane
// URLs when one fails. It stops when its host is revoked (401).
package hostclient
