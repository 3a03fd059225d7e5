// Package portal is Cobalt's web console, the counterpart of the Azure
// portal, built as a backend-for-frontend.
//
// The contract:
//
//   - Sign-in is the authorization code flow with PKCE (S256) against the
//     login service, as a registered public client (ClientID) whose one
//     redirect URI is PublicURL + "/signin-oidc". The ID token is verified
//     (signature, issuer, audience, lifetime, nonce) before a session exists.
//   - The browser holds only a session cookie: random, HttpOnly, Secure,
//     SameSite=Strict. The user's refresh and access tokens stay in this
//     process's memory for the session and never reach the browser, a URL
//     or storage; sign-out or a restart ends every session.
//   - The page's script (embedded static files, plain ES modules) calls
//     /api/arm/{path}, /api/batch/{account ID}/-/{path} and
//     /api/blob/{storage account ID}/-/{path}; the server sends each call to
//     Resource Manager, the account's Batch endpoint or its blob endpoint
//     (which it learns from ARM with the user's token) with the signed-in user's
//     own token and returns the answer as it came, so RBAC decisions and
//     errors (AuthorizationFailed, LinkedAuthorizationFailed, ...) are
//     exactly what the SDKs see. Writes need the X-Cobalt-Portal header,
//     which no other origin can send without a CORS grant (none is given).
//   - Sessions end after Config.SessionLifetime; access tokens are renewed
//     with the refresh token (which rotates) one at a time per session.
package portal
