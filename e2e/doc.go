// Package e2e holds Cobalt's end-to-end tests: they start a whole Cobalt in
// process (as `cobalt up` does, on random ports in a temporary directory) and
// drive it with the official Azure SDK clients for Go and Node, inside a
// network namespace that has only loopback.
package e2e
