// Package benchrun is `cobalt bench`: it starts `cobalt up` as a child
// process in a fresh data directory, drives it from this process with the
// official Azure SDK for Go over TLS, and measures each figure of issue 17
// beside a baseline measured in the same run (xargs, a bare net/http
// handler, bare RS256 signing).
//
// As root it runs everything, child and driver, inside a loopback-only
// network namespace it creates (unshare --net, lo up), so that no SDK
// default can reach a public host; the node sandboxes of the child are
// created inside that namespace too.
package benchrun
