// Package sdkharness is the one harness of the SDK suites: a whole Cobalt
// started in-process by servertest.Start (every listener on a random
// loopback port, state in a temporary directory), seen the way a user's
// program sees it, through endpoints.json, the installation CA and the admin
// service principal, and driven by the official Azure SDKs for Go and, with
// testenv.RunNode, for Node.
//
// Every suite that talks to a running Cobalt through an SDK starts it here
// instead of assembling services by hand, so that the suites test the wiring
// the binary ships. Run such suites inside testenv.LoopbackOnly.
//
// It is a test-only package: it imports testing, which the cobalt binary must
// not link.
package sdkharness
