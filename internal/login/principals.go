package login

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"math/big"
	"time"

	"github.com/google/uuid"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// Client secrets look like Entra's: 40 characters, a 3-character hint, the
// marker "8Q~", then 34 random characters from a 66-character alphabet.
const (
	secretAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_~.-"
	secretMarker   = "8Q~"
	secretLen      = 40
	hintLen        = 3
)

// newSecret returns a fresh client secret: 37 characters drawn uniformly from
// 66, about 223 bits of entropy.
func newSecret() (string, error) {
	b := make([]byte, 0, secretLen)
	max := big.NewInt(int64(len(secretAlphabet)))
	for len(b) < secretLen {
		if len(b) == hintLen {
			b = append(b, secretMarker...)
			continue
		}
		n, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", err
		}
		b = append(b, secretAlphabet[n.Int64()])
	}
	return string(b), nil
}

// hashSecret returns HMAC-SHA256(salt, secret).
//
// A slow password KDF (PBKDF2, argon2) exists to make guessing low-entropy,
// human-chosen passwords expensive after a database leak. Client secrets here
// are never chosen by people: newSecret draws ~223 random bits, so exhausting
// even a 2^-100 fraction of the space is beyond any attacker whatever the hash
// cost, and a single keyed SHA-256 is as strong as a KDF for them. It costs
// about a microsecond, which keeps the token endpoint far above 1,000
// requests/s on two cores without a cache of verified secrets (a cache would
// keep secrets' hashes alive after rotation or deletion). The per-secret salt
// keeps equal secrets from having equal hashes.
func hashSecret(salt []byte, secret string) []byte {
	m := hmac.New(sha256.New, salt)
	m.Write([]byte(secret))
	return m.Sum(nil)
}

// secretMatches reports, in constant time per stored secret, whether secret
// matches one of p's unexpired secrets. expired reports a match with an
// expired secret.
func secretMatches(p *store.PrincipalRecord, secret string, now time.Time) (ok, expired bool) {
	for i := range p.Secrets {
		sec := &p.Secrets[i]
		if !hmac.Equal(hashSecret(sec.Salt, secret), sec.Hash) {
			continue
		}
		if !sec.ExpiresAt.IsZero() && !sec.ExpiresAt.After(now) {
			expired = true
			continue
		}
		return true, false
	}
	return false, expired
}

// makeSecret returns a new secret and its stored form.
func (s *Service) makeSecret() (string, store.Secret, error) {
	secret, err := newSecret()
	if err != nil {
		return "", store.Secret{}, err
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", store.Secret{}, err
	}
	return secret, store.Secret{
		ID:        uuid.NewString(),
		Hint:      secret[:hintLen],
		Hash:      hashSecret(salt, secret),
		Salt:      salt,
		CreatedAt: s.now(),
	}, nil
}

// CreateServicePrincipal creates an application's service principal in a
// tenant (making the tenant known) with one client secret, which is returned
// once and stored only hashed. EInvalid if the tenant ID is not valid.
func (s *Service) CreateServicePrincipal(ctx context.Context, tenantID, displayName string) (cobalt.Principal, string, error) {
	if err := s.AddTenant(ctx, tenantID); err != nil {
		return cobalt.Principal{}, "", err
	}
	secret, rec, err := s.makeSecret()
	if err != nil {
		return cobalt.Principal{}, "", err
	}
	p, err := s.store.PrincipalCreate(ctx, store.PrincipalRecord{
		Principal: cobalt.Principal{
			ObjectID: uuid.NewString(), ClientID: uuid.NewString(), TenantID: tenantID,
			Kind: cobalt.KindServicePrincipal, DisplayName: displayName,
		},
		Secrets: []store.Secret{rec},
	})
	if err != nil {
		return cobalt.Principal{}, "", fmt.Errorf("create service principal: %w", err)
	}
	s.log.Info("login: service principal created", logkey.ObjectID, p.ObjectID, logkey.ClientID, p.ClientID, logkey.TenantID, tenantID)
	return p.Principal, secret, nil
}

// AddSecret adds a client secret to a service principal and returns it; it is
// shown once. ENotFound if there is no such principal, EInvalid if it is a
// managed identity (which never has secrets).
func (s *Service) AddSecret(ctx context.Context, objectID string) (string, error) {
	secret, rec, err := s.makeSecret()
	if err != nil {
		return "", err
	}
	_, err = s.store.PrincipalUpdate(ctx, objectID, func(p *store.PrincipalRecord) error {
		if p.Kind == cobalt.KindManagedIdentity {
			return cobalt.Errorf(cobalt.EInvalid, "a managed identity cannot have client secrets")
		}
		p.Secrets = append(p.Secrets, rec)
		return nil
	})
	s.forgetPrincipals()
	if err != nil {
		return "", fmt.Errorf("add secret: %w", err)
	}
	s.log.Info("login: client secret added", logkey.ObjectID, objectID, logkey.SecretID, rec.ID)
	return secret, nil
}

// CreateManagedIdentityPrincipal creates the principal behind a managed
// identity whose ARM resource ID is resourceID. It has no secret: the token
// endpoint refuses it, and its tokens come from IssueToken.
func (s *Service) CreateManagedIdentityPrincipal(ctx context.Context, tenantID, displayName, resourceID string) (cobalt.Principal, error) {
	if resourceID == "" {
		return cobalt.Principal{}, cobalt.Errorf(cobalt.EInvalid, "a managed identity needs a resource ID").WithTarget("resourceId")
	}
	if err := s.AddTenant(ctx, tenantID); err != nil {
		return cobalt.Principal{}, err
	}
	p, err := s.store.PrincipalCreate(ctx, store.PrincipalRecord{
		Principal: cobalt.Principal{
			ObjectID: uuid.NewString(), ClientID: uuid.NewString(), TenantID: tenantID,
			Kind: cobalt.KindManagedIdentity, DisplayName: displayName, ResourceID: resourceID,
		},
	})
	if err != nil {
		return cobalt.Principal{}, fmt.Errorf("create managed identity principal: %w", err)
	}
	s.log.Info("login: managed identity principal created", logkey.ObjectID, p.ObjectID, logkey.ClientID, p.ClientID, logkey.TenantID, tenantID)
	return p.Principal, nil
}

// DeletePrincipal deletes a principal; ENotFound if there is none. Tokens
// already issued to it stay valid until they expire, as on Entra.
func (s *Service) DeletePrincipal(ctx context.Context, objectID string) error {
	err := s.store.PrincipalDelete(ctx, objectID)
	s.forgetPrincipals()
	if err != nil {
		return fmt.Errorf("delete principal: %w", err)
	}
	s.log.Info("login: principal deleted", logkey.ObjectID, objectID)
	return nil
}

// principalKey identifies a principal in the token endpoint's cache.
type principalKey struct{ tenant, clientID string }

// cachedPrincipal is a principal read from the store, reusable until
// (by the wall clock, whatever Config.Now says).
type cachedPrincipal struct {
	rec   store.PrincipalRecord
	until time.Time
}

// principalByClientID returns a tenant's principal by client ID, from the
// cache when a recent read is there. Only principals that exist are cached, so
// the cache holds at most one entry per principal.
func (s *Service) principalByClientID(ctx context.Context, tenantID, clientID string) (store.PrincipalRecord, error) {
	key := principalKey{tenantID, clientID}
	if v, ok := s.principals.Load(key); ok {
		if c := v.(cachedPrincipal); s.now().Before(c.until) {
			return c.rec, nil
		}
		s.principals.Delete(key)
	}
	p, err := s.store.PrincipalGetByClientID(ctx, tenantID, clientID)
	if err != nil {
		return p, err
	}
	if s.cfg.PrincipalCacheTTL > 0 {
		s.principals.Store(key, cachedPrincipal{rec: p, until: s.now().Add(s.cfg.PrincipalCacheTTL)})
	}
	return p, nil
}

// forgetPrincipals empties the principal cache after a change made here.
func (s *Service) forgetPrincipals() {
	s.principals.Clear()
}
