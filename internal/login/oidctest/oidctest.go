// Package oidctest is a tiny external OpenID Connect issuer for tests of
// workload identity federation: it serves a discovery document and a JWKS
// over HTTPS on a loopback address, signs tokens with go-jose (independently
// of the login service's own signer), rotates its keys on demand and counts
// how often its documents are fetched.
package oidctest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Key is one signing key of the issuer.
type Key struct {
	KID     string
	Private *rsa.PrivateKey
}

// Issuer is a running test issuer. Its methods are safe for concurrent use.
type Issuer struct {
	// URL is the issuer URL, https://host:port with no trailing slash.
	URL string
	srv *httptest.Server

	mu      sync.Mutex
	keys    []Key // keys[0] signs; all are published
	fetches atomic.Int64
	// JWKSURI, when set, replaces the jwks_uri the discovery document names.
	jwksURI string
}

// Start starts an issuer on 127.0.0.1. With cert nil it serves httptest's
// own certificate (see RootCAs) and its URL names 127.0.0.1; with a
// certificate for "localhost" its URL names localhost.
func Start(t testing.TB, cert *tls.Certificate) *Issuer {
	t.Helper()
	is := &Issuer{}
	is.keys = []Key{NewKey(t)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		is.fetches.Add(1)
		is.mu.Lock()
		jwks := is.jwksURI
		is.mu.Unlock()
		if jwks == "" {
			jwks = is.URL + "/keys"
		}
		writeJSON(w, map[string]any{"issuer": is.URL, "jwks_uri": jwks,
			"id_token_signing_alg_values_supported": []string{"RS256"}, "response_types_supported": []string{"id_token"},
			"subject_types_supported": []string{"public"}})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		is.fetches.Add(1)
		writeJSON(w, is.JWKS())
	})
	is.srv = httptest.NewUnstartedServer(mux)
	if cert != nil {
		is.srv.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}}
	}
	is.srv.StartTLS()
	t.Cleanup(is.srv.Close)
	is.URL = is.srv.URL
	if cert != nil {
		is.URL = strings.Replace(is.URL, "127.0.0.1", "localhost", 1)
	}
	return is
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// RootCAs returns a pool that trusts httptest's certificate (for Start with nil).
func (is *Issuer) RootCAs() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(is.srv.Certificate())
	return pool
}

// Fetches returns how many discovery and key set requests the issuer served.
func (is *Issuer) Fetches() int64 { return is.fetches.Load() }

// NewKey returns a fresh RSA key with a random key ID.
func NewKey(t testing.TB) Key {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 9)
	_, _ = rand.Read(id)
	return Key{KID: base64.RawURLEncoding.EncodeToString(id), Private: k}
}

// Rotate replaces the issuer's keys with a new one, which signs from now on
// and is the only key published; it returns the new key.
func (is *Issuer) Rotate(t testing.TB) Key {
	k := NewKey(t)
	is.mu.Lock()
	defer is.mu.Unlock()
	is.keys = []Key{k}
	return k
}

// SetJWKSURI makes the discovery document name u as its jwks_uri.
func (is *Issuer) SetJWKSURI(u string) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.jwksURI = u
}

// JWKS returns the published key set.
func (is *Issuer) JWKS() jose.JSONWebKeySet {
	is.mu.Lock()
	defer is.mu.Unlock()
	var set jose.JSONWebKeySet
	for _, k := range is.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.Private.PublicKey, KeyID: k.KID, Algorithm: "RS256", Use: "sig"})
	}
	return set
}

// Claims returns the claims of a token from this issuer for subject and
// audience, valid for ten minutes from now.
func (is *Issuer) Claims(subject, audience string, now time.Time) map[string]any {
	return map[string]any{"iss": is.URL, "sub": subject, "aud": audience,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}
}

// Sign signs claims with the issuer's current key (RS256).
func (is *Issuer) Sign(t testing.TB, claims map[string]any) string {
	is.mu.Lock()
	k := is.keys[0]
	is.mu.Unlock()
	return SignWith(t, k, claims)
}

// SignWith signs claims with k (RS256), naming k.KID in the header.
func SignWith(t testing.TB, k Key, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: k.Private, KeyID: k.KID}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// Unsigned returns claims as a JWT with "alg":"none" and no signature.
func Unsigned(t testing.TB, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc.EncodeToString(payload) + "."
}
