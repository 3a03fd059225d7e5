// Package bearer validates the Entra-style access tokens that Cobalt's login
// service issues, for every resource service (management, batch, blob,
// registry): RS256 signature through the published key set, issuer, audience,
// lifetime and tenant. A valid token yields the caller's cobalt.Caller for
// authorization.
package bearer
