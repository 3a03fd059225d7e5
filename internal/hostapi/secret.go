package hostapi

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"strings"
)

// Prefixes make the two kinds of secrets recognisable in a paste.
const (
	joinTokenPrefix  = "cjt_"
	credentialPrefix = "chc_"
)

// newSecret returns 32 random bytes, base64url-encoded.
func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashOf(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// newJoinToken returns a join token and its hash.
func newJoinToken() (string, []byte) {
	t := joinTokenPrefix + newSecret()
	return t, hashOf(t)
}

// newCredential returns a host credential ("chc_HOSTID.SECRET") and the
// hash of its secret.
func newCredential(hostID string) (string, []byte) {
	secret := newSecret()
	return credentialPrefix + hostID + "." + secret, hashOf(secret)
}

// parseCredential splits a credential into the host ID and the secret.
func parseCredential(cred string) (hostID, secret string, ok bool) {
	rest, ok := strings.CutPrefix(cred, credentialPrefix)
	if !ok {
		return "", "", false
	}
	hostID, secret, ok = strings.Cut(rest, ".")
	if !ok || hostID == "" || secret == "" || len(cred) > 256 {
		return "", "", false
	}
	return hostID, secret, true
}

// secretMatches compares a presented secret with a stored hash in constant time.
func secretMatches(secret string, hash []byte) bool {
	return len(hash) == sha256.Size && subtle.ConstantTimeCompare(hashOf(secret), hash) == 1
}
