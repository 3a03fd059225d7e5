// Package logintest holds the login service's end-to-end tests with the
// official Azure SDK clients (Go azidentity and Node @azure/identity) and a
// third-party OIDC verifier (github.com/coreos/go-oidc/v3). They run in a
// loopback-only network namespace (internal/testenv).
package logintest
