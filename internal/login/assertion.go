package login

import (
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// clientAssertionType is the only client_assertion_type Entra accepts.
const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// maxAssertionBytes bounds a client assertion; Kubernetes and GitHub tokens
// are a few KiB.
const maxAssertionBytes = 16 << 10

// assertionAlgs are the signature algorithms accepted on an external
// issuer's assertion: asymmetric ones only, so that neither "none" nor a
// MAC keyed with a public key can pass.
var assertionAlgs = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512, jose.ES256, jose.ES384, jose.ES512,
}

// assertionClaims are the claims of a federated client assertion that the
// exchange looks at.
type assertionClaims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  jwt.Audience     `json:"aud"`
	Expiry    *jwt.NumericDate `json:"exp"`
	NotBefore *jwt.NumericDate `json:"nbf"`
}

// parsedAssertion is a client assertion parsed but not yet verified.
type parsedAssertion struct {
	tok    *jwt.JSONWebToken
	kid    string
	claims assertionClaims
}

// errMalformedAssertion is Entra's answer to an assertion that is not a
// well-formed signed JWT with the claims the exchange needs.
func errMalformedAssertion() error {
	return aadError(aadInvalidJWT, "JWT token is invalid or malformed.")
}

// parseAssertion parses a client assertion without verifying it: a compact
// JWS with exactly one signature by an asymmetric algorithm, whose payload
// names an issuer, a subject, an audience and an expiry. Errors carry their
// AADSTS code.
func parseAssertion(raw string) (parsedAssertion, error) {
	var pa parsedAssertion
	if raw == "" || len(raw) > maxAssertionBytes {
		return pa, errMalformedAssertion()
	}
	tok, err := jwt.ParseSigned(raw, assertionAlgs)
	if err != nil || len(tok.Headers) != 1 {
		return pa, errMalformedAssertion()
	}
	if err := tok.UnsafeClaimsWithoutVerification(&pa.claims); err != nil {
		return pa, errMalformedAssertion()
	}
	c := pa.claims
	if c.Issuer == "" || c.Subject == "" || len(c.Audience) == 0 || c.Expiry == nil {
		return pa, errMalformedAssertion()
	}
	pa.tok, pa.kid = tok, tok.Headers[0].KeyID
	return pa, nil
}

// validAt reports whether the assertion's lifetime holds now, with leeway
// for clock skew.
func (c assertionClaims) validAt(now time.Time, leeway time.Duration) bool {
	if c.Expiry == nil || now.After(c.Expiry.Time().Add(leeway)) {
		return false
	}
	return c.NotBefore == nil || !now.Before(c.NotBefore.Time().Add(-leeway))
}
