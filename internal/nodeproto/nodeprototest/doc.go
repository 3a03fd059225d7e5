// Package nodeprototest is the conformance suite of the node protocol
// (package nodeproto): the behaviour every control-plane implementation of
// the node API must show to an agent, checked over HTTPS exactly as an agent
// sees it. Run calls it against a Target; nodeapi's tests run it against the
// real node API, and a test double of the control plane (such as the agent
// tests' fake) proves it speaks the same protocol by passing it too.
//
// The suite checks what the protocol documents and an agent relies on:
// every endpoint demands the node's credential (401 with an Error body
// otherwise) and answers only POST; a body naming another node is refused
// (403 Forbidden); a body that is not JSON is 400 InvalidRequest;
// registration returns the node's configuration with its identity set;
// heartbeats are acknowledged; leases honour their bounds (free slots not
// negative, waits up to 60 s), return no work when there is none and a task
// the target enqueued when there is; reports of its start and completion
// are accepted, a report of a lease the control plane no longer knows is
// acknowledged and ignored, and an undefined report event is refused; tokens
// are issued for the node's own identities only, by the selection rules (the
// only identity without a selector, MultipleIdentities without one when the
// node has several, IdentityNotFound for any other, InvalidRequest for two
// selectors, MissingResource without a resource).
//
// It is a test-only package: it imports testing.
package nodeprototest
