package login

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// rsaBits is the size of signing keys, as Entra's.
const rsaBits = 2048

// signingKey is an unsealed signing key, ready to sign.
type signingKey struct {
	kid      string
	signerV1 jose.Signer // header alg, kid, typ, x5t
	signerV2 jose.Signer // header alg, kid, typ
}

// keyState is an immutable snapshot of the key set, cached in memory.
type keyState struct {
	active    *signingKey // the key that signs now; nil if none can
	published jose.JSONWebKeySet
	// expires is when the snapshot must be reloaded: the refresh interval, or
	// sooner when a key starts signing, retires or leaves the set.
	expires time.Time
}

// KeySet returns the published public keys: those that sign now, those about
// to sign, and retired ones whose tokens may still be valid. It is served from
// memory and safe to call per request.
func (s *Service) KeySet(ctx context.Context) (jose.JSONWebKeySet, error) {
	st, err := s.currentKeys(ctx)
	if err != nil {
		return jose.JSONWebKeySet{}, err
	}
	return st.published, nil
}

// currentKeys returns the cached key snapshot, reloading it when it is stale.
func (s *Service) currentKeys(ctx context.Context) (*keyState, error) {
	if st := s.keys.Load(); st != nil && s.now().Before(st.expires) {
		return st, nil
	}
	s.keysMu.Lock()
	defer s.keysMu.Unlock()
	if st := s.keys.Load(); st != nil && s.now().Before(st.expires) {
		return st, nil
	}
	return s.reloadLocked(ctx)
}

// signer returns the key that signs now, creating one if none can.
func (s *Service) signer(ctx context.Context) (*signingKey, error) {
	st, err := s.currentKeys(ctx)
	if err != nil {
		return nil, err
	}
	if st.active != nil {
		return st.active, nil
	}
	if err := s.ensureSigningKey(ctx); err != nil {
		return nil, err
	}
	st, err = s.currentKeys(ctx)
	if err != nil {
		return nil, err
	}
	if st.active == nil {
		return nil, errors.New("login: no signing key is active")
	}
	return st.active, nil
}

// reloadLocked reads the keys from the store and replaces the snapshot.
// The caller holds keysMu.
func (s *Service) reloadLocked(ctx context.Context) (*keyState, error) {
	recs, err := s.store.KeyList(ctx)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	now := s.now()
	st := &keyState{expires: now.Add(s.cfg.KeyRefreshInterval)}
	soon := func(t time.Time) {
		if t.After(now) && t.Before(st.expires) {
			st.expires = t
		}
	}
	var active *store.SigningKey
	for i := range recs {
		k := &recs[i]
		soon(k.SignFrom)
		soon(k.RetiredAt)
		soon(k.PublishUntil)
		if !k.RetiredAt.IsZero() && !k.PublishUntil.After(now) {
			continue // pruned by Run; no longer published
		}
		var jwk jose.JSONWebKey
		if err := json.Unmarshal(k.PublicJWK, &jwk); err != nil {
			return nil, fmt.Errorf("decode public key %s: %w", k.KID, err)
		}
		st.published.Keys = append(st.published.Keys, jwk)
		if signsAt(k, now) && (active == nil || k.SignFrom.After(active.SignFrom)) {
			active = k
		}
	}
	if active != nil {
		st.active, err = s.unseal(active)
		if err != nil {
			return nil, err
		}
	}
	s.keys.Store(st)
	return st, nil
}

// signsAt reports whether k may sign at t.
func signsAt(k *store.SigningKey, t time.Time) bool {
	return !k.SignFrom.After(t) && (k.RetiredAt.IsZero() || t.Before(k.RetiredAt))
}

// ensureSigningKey creates a key that signs at once unless one can sign now.
func (s *Service) ensureSigningKey(ctx context.Context) error {
	s.keysMu.Lock()
	defer s.keysMu.Unlock()
	st, err := s.reloadLocked(ctx)
	if err != nil {
		return err
	}
	if st.active != nil {
		return nil
	}
	if _, err := s.createKey(ctx, s.now()); err != nil {
		return err
	}
	_, err = s.reloadLocked(ctx)
	return err
}

// RotateKeys creates a new signing key. It is published at once and signs
// after KeyActivationDelay (at once if no key can sign now); from then on, the
// keys it replaces stop signing and stay published until every token they
// signed has expired (their retirement plus the token lifetime plus ClockSkew).
func (s *Service) RotateKeys(ctx context.Context) error {
	s.keysMu.Lock()
	defer s.keysMu.Unlock()
	st, err := s.reloadLocked(ctx)
	if err != nil {
		return err
	}
	now := s.now()
	signFrom := now.Add(s.cfg.KeyActivationDelay)
	if st.active == nil {
		signFrom = now
	}
	recs, err := s.store.KeyList(ctx)
	if err != nil {
		return fmt.Errorf("list signing keys: %w", err)
	}
	nk, err := s.createKey(ctx, signFrom)
	if err != nil {
		return err
	}
	for _, k := range recs {
		if !k.RetiredAt.IsZero() && !k.RetiredAt.After(signFrom) {
			continue
		}
		_, err := s.store.KeyUpdate(ctx, k.KID, func(k *store.SigningKey) error {
			k.RetiredAt = signFrom
			k.PublishUntil = signFrom.Add(s.lifetime + s.cfg.ClockSkew)
			return nil
		})
		if err != nil && !cobalt.IsCode(err, cobalt.ENotFound) {
			return fmt.Errorf("retire signing key: %w", err)
		}
	}
	s.log.Info("login: signing key rotated", logkey.KeyID, nk.KID, logkey.SignFrom, signFrom)
	_, err = s.reloadLocked(ctx)
	return err
}

// maintain rotates the key when it is due and prunes keys whose tokens have expired.
func (s *Service) maintain(ctx context.Context) error {
	recs, err := s.store.KeyList(ctx)
	if err != nil {
		return fmt.Errorf("list signing keys: %w", err)
	}
	now := s.now()
	if s.cfg.KeyRotationPeriod > 0 && (len(recs) == 0 || !recs[0].CreatedAt.Add(s.cfg.KeyRotationPeriod).After(now)) {
		if err := s.RotateKeys(ctx); err != nil {
			return err
		}
	}
	if _, err := s.pruneKeys(ctx); err != nil {
		return err
	}
	s.keysMu.Lock()
	defer s.keysMu.Unlock()
	_, err = s.reloadLocked(ctx)
	return err
}

// pruneKeys deletes retired keys whose tokens have all expired and returns their KIDs.
func (s *Service) pruneKeys(ctx context.Context) ([]string, error) {
	recs, err := s.store.KeyList(ctx)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	now := s.now()
	var gone []string
	for _, k := range recs {
		if k.RetiredAt.IsZero() || k.PublishUntil.After(now) {
			continue
		}
		if err := s.store.KeyDelete(ctx, k.KID); err != nil && !cobalt.IsCode(err, cobalt.ENotFound) {
			return gone, fmt.Errorf("delete signing key: %w", err)
		}
		s.parsed.Delete(k.KID)
		gone = append(gone, k.KID)
		s.log.Info("login: retired signing key deleted", logkey.KeyID, k.KID)
	}
	return gone, nil
}

// createKey generates, seals and stores a key that signs from signFrom.
func (s *Service) createKey(ctx context.Context, signFrom time.Time) (store.SigningKey, error) {
	now := s.now()
	priv, err := rsa.GenerateKey(rand.Reader, rsaBits)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("generate signing key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return store.SigningKey{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "accounts.cobalt.local"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(5, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("self-sign signing key: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return store.SigningKey{}, err
	}
	thumb := sha1.Sum(der) // x5t is defined as the SHA-1 thumbprint
	kid := base64.RawURLEncoding.EncodeToString(thumb[:])
	pub, err := json.Marshal(jose.JSONWebKey{
		Key: &priv.PublicKey, KeyID: kid, Algorithm: string(jose.RS256), Use: "sig",
		Certificates: []*x509.Certificate{cert}, CertificateThumbprintSHA1: thumb[:],
	})
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("encode public key: %w", err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return store.SigningKey{}, err
	}
	sealed, err := s.seal(kid, pkcs8)
	if err != nil {
		return store.SigningKey{}, err
	}
	k, err := s.store.KeyCreate(ctx, store.SigningKey{
		KID: kid, Alg: string(jose.RS256), PublicJWK: pub, PrivateKey: sealed,
		CreatedAt: now, SignFrom: signFrom,
	})
	if err != nil {
		return k, fmt.Errorf("store signing key: %w", err)
	}
	return k, nil
}

// unseal returns the signer of a stored key, from the cache when it has been unsealed before.
func (s *Service) unseal(k *store.SigningKey) (*signingKey, error) {
	if v, ok := s.parsed.Load(k.KID); ok {
		return v.(*signingKey), nil
	}
	der, err := s.open(k.KID, k.PrivateKey)
	if err != nil {
		return nil, err
	}
	p, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("parse signing key %s: %w", k.KID, err)
	}
	priv, ok := p.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("signing key %s is not an RSA key", k.KID)
	}
	priv.Precompute()
	jwk := jose.JSONWebKey{Key: priv, KeyID: k.KID, Algorithm: string(jose.RS256)}
	sk := &signingKey{kid: k.KID}
	sk.signerV1, err = jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jwk},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("x5t", k.KID))
	if err != nil {
		return nil, err
	}
	sk.signerV2, err = jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jwk},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, err
	}
	v, _ := s.parsed.LoadOrStore(k.KID, sk)
	return v.(*signingKey), nil
}

// sealAAD binds a sealed private key to its KID.
func sealAAD(kid string) []byte { return []byte("cobalt-login-signing-key:" + kid) }

// seal encrypts a private key with AES-256-GCM under the seal key: nonce || ciphertext.
func (s *Service) seal(kid string, plain []byte) ([]byte, error) {
	gcm, err := s.gcm()
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize(), gcm.NonceSize()+len(plain)+gcm.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return gcm.Seal(nonce, nonce, plain, sealAAD(kid)), nil
}

// open decrypts a sealed private key.
func (s *Service) open(kid string, sealed []byte) ([]byte, error) {
	gcm, err := s.gcm()
	if err != nil {
		return nil, err
	}
	if len(sealed) < gcm.NonceSize() {
		return nil, fmt.Errorf("signing key %s: sealed key is truncated", kid)
	}
	plain, err := gcm.Open(nil, sealed[:gcm.NonceSize()], sealed[gcm.NonceSize():], sealAAD(kid))
	if err != nil {
		return nil, fmt.Errorf("signing key %s cannot be unsealed with this seal key (wrong key file?): %w", kid, err)
	}
	return plain, nil
}

func (s *Service) gcm() (cipher.AEAD, error) {
	b, err := aes.NewCipher(s.cfg.SealKey)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}
