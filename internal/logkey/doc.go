// Package logkey declares the attribute keys of Cobalt's structured logs, so
// that one concept is spelled one way in every log line and a query over the
// logs (all lines of a request, of a node, of an account) finds them all.
//
// Keys are snake_case. A log call passes them as the key of a key/value pair:
//
//	s.log.ErrorContext(ctx, "blob read failed", logkey.Account, acct, logkey.Err, err)
//
// The contract for every value logged under these keys: no secret, token,
// signature, password or key material, ever. Log an identifier that names the
// secret (a key ID, a token's uti, a client secret's ID) instead of the
// secret itself, and log a URL's path, never its query (a SAS lives there).
//
// The package holds constants only; it has no dependencies and no state.
package logkey
