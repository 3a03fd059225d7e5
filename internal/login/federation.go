package login

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// assertionLeeway is the clock skew tolerated on an assertion's lifetime.
const assertionLeeway = 5 * time.Minute

// federationDocs is where Entra's federation errors send the reader.
const federationDocs = "Please check your federated identity credential Subject, Audience and Issuer against the presented assertion. https://learn.microsoft.com/entra/workload-id/workload-identity-federation"

// federatedCredentials returns the federated identity credentials recorded
// on a managed identity's ARM resource.
func (s *Service) federatedCredentials(ctx context.Context, p *store.PrincipalRecord) ([]cobalt.FederatedCredential, error) {
	id, err := cobalt.ParseResourceID(p.ResourceID)
	if err != nil || p.ResourceID == "" {
		return nil, nil
	}
	var out []cobalt.FederatedCredential
	page := store.Page{Limit: cobalt.MaxFederatedCredentials}
	for {
		rs, next, err := s.store.ResourceList(ctx, store.ResourceListParams{
			Type: cobalt.FederatedCredentialType, ParentKey: id.Key(), Page: page})
		if err != nil {
			return nil, fmt.Errorf("federated credentials: %w", err)
		}
		for _, r := range rs {
			var fc cobalt.FederatedCredential
			if json.Unmarshal(r.Body, &fc) == nil {
				out = append(out, fc)
			}
		}
		if next == "" {
			return out, nil
		}
		page.Token = next
	}
}

// federatedToken exchanges a client assertion from an external issuer for
// a token of the managed identity p, as Entra's workload identity
// federation does: the assertion's issuer must be exactly a credential's
// issuer, its signature must verify with a key from that issuer's JWKS, its
// lifetime must hold, and its subject and one of its audiences must match
// that credential.
func (s *Service) federatedToken(ctx context.Context, p *store.PrincipalRecord, raw, resource, addr string) (Token, error) {
	pa, err := parseAssertion(raw)
	if err != nil {
		return Token{}, err
	}
	c := pa.claims
	creds, err := s.federatedCredentials(ctx, p)
	if err != nil {
		return Token{}, err
	}
	var byIssuer []cobalt.FederatedCredential
	for _, fc := range creds {
		if fc.Issuer == c.Issuer {
			byIssuer = append(byIssuer, fc)
		}
	}
	switch {
	case len(creds) == 0:
		return Token{}, aadError(aadNoFederatedRecord, "No matching federated identity record found for presented assertion. Assertion Issuer: '%s'. Assertion Subject: '%s'. Assertion Audience: '%s'.",
			clip(c.Issuer), clip(c.Subject), clip(strings.Join(c.Audience, ",")))
	case len(byIssuer) == 0:
		return Token{}, aadError(aadNoFederatedIssuer, "No matching federated identity record found for presented assertion issuer '%s'. %s", clip(c.Issuer), federationDocs)
	}
	if err := s.verifyAssertion(ctx, pa); err != nil {
		return Token{}, err
	}
	now := s.now()
	if !c.validAt(now, assertionLeeway) {
		from := "(not set)"
		if c.NotBefore != nil {
			from = c.NotBefore.Time().UTC().Format(time.RFC1123)
		}
		return Token{}, aadError(aadAssertionLifetime, "Client assertion is not within its valid time range. Current time: %s, assertion valid from %s, expiry time of assertion %s.",
			now.UTC().Format(time.RFC1123), from, c.Expiry.Time().UTC().Format(time.RFC1123))
	}
	var bySubject []cobalt.FederatedCredential
	for _, fc := range byIssuer {
		if fc.Subject == c.Subject {
			bySubject = append(bySubject, fc)
		}
	}
	if len(bySubject) == 0 {
		return Token{}, aadError(aadNoFederatedSubject, "No matching federated identity record found for presented assertion subject '%s'. %s", clip(c.Subject), federationDocs)
	}
	if !audienceMatches(bySubject, c.Audience) {
		return Token{}, aadError(aadNoFederatedAudience, "No matching federated identity record found for presented assertion audience '%s'. %s", clip(strings.Join(c.Audience, ",")), federationDocs)
	}
	ver, _ := resourceVersion(resource)
	return s.mint(ctx, p, resource, ver, "2", "federated", p.ObjectID,
		map[string]string{"address": addr, "federated_issuer": c.Issuer, "federated_subject": c.Subject})
}

// audienceMatches reports whether one of auds is an audience of one of creds.
func audienceMatches(creds []cobalt.FederatedCredential, auds []string) bool {
	for _, fc := range creds {
		for _, want := range fc.Audiences {
			for _, got := range auds {
				if got == want {
					return true
				}
			}
		}
	}
	return false
}

// verifyAssertion checks the assertion's signature with its issuer's keys,
// fetching them again once when the assertion names a key ID the cached set
// lacks (the issuer rotated its keys).
func (s *Service) verifyAssertion(ctx context.Context, pa parsedAssertion) error {
	iss := pa.claims.Issuer
	for refresh := false; ; refresh = true {
		keys, err := s.issuerKeys.keys(ctx, iss, refresh)
		if errors.Is(err, errIssuerNotAllowed) {
			return aadError(aadExternalOIDCFailed, "Request to External OIDC endpoint failed: Cobalt fetches the keys of issuers on loopback addresses and of those named with `cobalt up --federation-issuer`; '%s' is neither.", clip(iss))
		}
		if err != nil {
			s.log.WarnContext(ctx, "login: fetching a federation issuer's keys failed", logkey.Issuer, iss, logkey.Err, err)
			return aadError(aadExternalOIDCFailed, "Request to External OIDC endpoint failed: the discovery document or keys of issuer '%s' could not be read.", clip(iss))
		}
		candidates, known := keysFor(keys, pa.kid)
		if !known && !refresh {
			continue
		}
		for i := range candidates {
			var sink assertionClaims
			if pa.tok.Claims(candidates[i].Key, &sink) == nil {
				return nil
			}
		}
		return aadError(aadInvalidAssertion, "Client assertion failed signature validation.")
	}
}

// keysFor returns the keys that may have signed a token with key ID kid:
// the key with that ID, or every key when kid is empty. known is false
// when kid names no key of the set.
func keysFor(keys []jose.JSONWebKey, kid string) (out []jose.JSONWebKey, known bool) {
	if kid == "" {
		return keys, true
	}
	for _, k := range keys {
		if k.KeyID == kid {
			out = append(out, k)
		}
	}
	return out, len(out) > 0
}
