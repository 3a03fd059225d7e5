// Package servertest starts a whole Cobalt installation for a test: every
// listener on a random loopback port, state in a temporary directory, the
// server stopped when the test ends.
//
// It is a test-only package: it imports testing, which the cobalt binary must
// not link, so nothing outside *_test.go files and other test-support
// packages may import it.
package servertest
