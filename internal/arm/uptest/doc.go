// Package uptest drives the management plane of a whole Cobalt (server.Start,
// as `cobalt up` runs it) with the official Go SDK clients, inside a
// loopback-only network namespace. It is a package of its own so that the
// front door's own tests do not depend on every other service building.
package uptest
