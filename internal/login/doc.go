// Package login is Cobalt's Microsoft Entra ID-compatible token service.
//
// It serves, at the root of an authority host, the parts of Entra's wire
// protocol that the official Azure SDKs and OIDC libraries use: the v1 and v2
// OpenID Connect discovery documents, the JSON Web Key Sets, and the v1 and v2
// OAuth 2.0 token endpoints for the client-credentials grant. It keeps service
// principals (with hashed client secrets) and managed-identity principals (with
// no secret, whose tokens are issued through [Service.IssueToken] by the node
// API after its own checks), and signs RS256 JWTs with the claim set of real
// Entra app-only tokens.
//
// Managed identities with federated identity credentials (ARM child
// resources of the identity, read from the store) also get tokens at the
// token endpoint for a client assertion from an external OpenID Connect
// issuer, as Entra's workload identity federation works: the issuer's
// discovery document and JWKS are fetched (loopback issuers and
// Config.FederationIssuers only) and cached, and the assertion's signature,
// issuer, subject, audience and lifetime are checked; see federation.go.
//
// Users (principals of kind User, with argon2id password hashes) sign in
// through the v2 authorization endpoint: a sign-in page (Username,
// Password, Sign in), the authorization code flow with PKCE (S256 only) for
// registered public clients ([Service.RegisterPublicClient]) with exact
// redirect URIs, delegated access tokens with Entra's user claims, ID
// tokens, rotating refresh tokens and a logout endpoint. Repeated failed
// sign-ins lock a user name out for a while, as Entra's smart lockout does.
//
// Signing keys live in the store with their private halves sealed by
// AES-256-GCM under Config.SealKey. A new key is published in the JWKS before it
// signs its first token, and a retired key stays published until every token
// it signed has expired; see [Service.RotateKeys].
package login
