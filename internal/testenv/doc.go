// Package testenv holds what tests need from the machine, and the one policy
// for when the machine lacks it.
//
// LoopbackOnly runs a test binary inside a network namespace that has only a
// loopback interface, so that nothing an SDK sends by default (instance
// discovery at public Microsoft hosts, for example) can leave the machine.
// Use it from TestMain:
//
//	func TestMain(m *testing.M) { testenv.LoopbackOnly(m) }
//
// When the process is not yet isolated it re-executes itself under
// `unshare --net` (as root) or `unshare --user --map-root-user --net`, with lo
// brought up, and exits with the child's status. When no namespace can be made
// it runs the tests anyway only if COBALT_TEST_ALLOW_HOST_NETWORK=1, and
// otherwise fails, so that a machine without namespaces never silently sends
// traffic off the host. Inside the namespace, services outside it (PostgreSQL
// on the host's loopback, for one) are unreachable: keep such tests in other
// packages.
//
// Require (and Unavailable, for conditions learnt while a test runs) is the
// only way a test skips for something the machine lacks: Node and its SDK
// modules, root, network namespaces, PostgreSQL. Outside CI it skips; under
// CI=true it fails, so that a CI machine missing a dependency cannot pass by
// testing nothing.
//
// RunNode is the one runner of the Node SDK scripts in test/node.
package testenv
