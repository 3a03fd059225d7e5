// Package nodeapi is the control plane's side of the node protocol
// (internal/nodeproto): an HTTPS JSON API that node agents call with their
// node credential to register, heartbeat, lease and report tasks, and get
// access tokens for the identities their node carries.
//
// Token rules: a node may only get tokens for the identities of its
// allocation snapshot (never its pool's current set, never another pool's);
// with no selector it gets its only identity (several: MultipleIdentities);
// a client_id, object_id or resource ID selector must match one identity of
// the snapshot (resource IDs compare case-insensitively); the identity must
// still exist, else IdentityNotFound.
package nodeapi
