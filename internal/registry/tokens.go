package registry

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/go-jose/go-jose/v4"

	"github.com/cobaltbatch/cobalt"
)

// Token lifetimes: ACR's refresh tokens last three hours; access tokens are
// short so that a role removed is felt soon (grants are evaluated when the
// access token is issued).
const (
	refreshTTL = 3 * time.Hour
	accessTTL  = time.Hour
	// tokenLeeway is the clock skew tolerated on nbf and exp.
	tokenLeeway = time.Minute
	// maxRegistryTokenBytes bounds a token that is parsed at all.
	maxRegistryTokenBytes = 16 << 10
)

// issuer is the iss of every token a registry issues, as ACR writes it.
const issuer = "Azure Container Registry"

// Kinds of tokens; each is signed with its own key, so one kind is never
// accepted as the other.
const (
	kindRefresh = "refresh"
	kindAccess  = "access"
)

// tokenClaims are the claims of ACR refresh and access tokens.
type tokenClaims struct {
	JTI       string `json:"jti"`
	Sub       string `json:"sub"`
	NBF       int64  `json:"nbf"`
	EXP       int64  `json:"exp"`
	IAT       int64  `json:"iat"`
	ISS       string `json:"iss"`
	AUD       string `json:"aud"`
	Version   string `json:"version"`
	GrantType string `json:"grant_type,omitempty"`
	// Tenant is the principal's tenant (refresh tokens of Entra principals).
	Tenant      string       `json:"tenant,omitempty"`
	Permissions *permissions `json:"permissions,omitempty"`
	Roles       []string     `json:"roles"`
	// Admin marks the admin user (Sub is then the registry's name).
	Admin  bool     `json:"admin,omitempty"`
	Access []Access `json:"access,omitempty"`
}

type permissions struct {
	Actions    []string `json:"actions"`
	NotActions []string `json:"notActions"`
}

// signingKey derives the key of one kind of token of one registry from the
// seal key: every replica sharing the seal key validates the same tokens,
// and a token of one registry is void at another.
func signingKey(seal []byte, kind string, reg cobalt.Registry) ([]byte, error) {
	return hkdf.Key(sha256.New, seal, []byte("cobalt registry tokens"),
		"cobalt/registry/"+kind+"-token/v1\x00"+strings.ToLower(reg.ID.String()), 32)
}

// sign issues a token of a kind for reg.
func (s *Service) sign(kind string, reg cobalt.Registry, c tokenClaims) (string, error) {
	key, err := signingKey(s.cfg.SealKey, kind, reg)
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	payload = stdBase64Safe(payload)
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	obj, err := sig.Sign(payload)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}

// stdBase64Safe escapes the bytes that, as the third byte of a base64
// group, encode to "-" or "_" in base64url: '>', '?', '~', DEL and every
// non-ASCII byte (no sextet of other ASCII input reaches 62). The Azure Go
// SDK decodes the payload with base64.StdEncoding to read exp, which fails
// on those characters. JSON output holds them only inside strings, where
// \u escapes mean the same; json.Marshal escapes '>' already.
func stdBase64Safe(b []byte) []byte {
	safe := true
	for _, c := range b {
		if c == '?' || c == '~' || c >= 0x7f {
			safe = false
			break
		}
	}
	if safe {
		return b
	}
	var out strings.Builder
	for _, r := range string(b) {
		switch {
		case r == '?' || r == '~' || r >= 0x7f && r <= 0xffff:
			fmt.Fprintf(&out, `\u%04x`, r)
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(&out, `\u%04x\u%04x`, r1, r2)
		default:
			out.WriteRune(r)
		}
	}
	return []byte(out.String())
}

// newClaims returns the common claims of a token for reg issued now.
func (s *Service) newClaims(loginServer, sub string, ttl time.Duration) tokenClaims {
	now := s.now()
	var id [16]byte
	_, _ = rand.Read(id[:])
	return tokenClaims{JTI: hex.EncodeToString(id[:]), Sub: sub, NBF: now.Add(-5 * time.Minute).Unix(),
		IAT: now.Unix(), EXP: now.Add(ttl).Unix(), ISS: issuer, AUD: loginServer, Version: "1.0", Roles: []string{}}
}

// Messages of token validation failures (never the token itself).
var (
	errTokenInvalid = errors.New("the token is invalid")
	errTokenExpired = errors.New("the token is expired")
)

// verify checks a token of a kind for reg: its signature by the kind's key,
// issuer, audience (the login server), and lifetime.
func (s *Service) verify(kind string, reg cobalt.Registry, loginServer, raw string) (tokenClaims, error) {
	if raw == "" || len(raw) > maxRegistryTokenBytes || strings.Count(raw, ".") != 2 {
		return tokenClaims{}, errTokenInvalid
	}
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.HS256})
	if err != nil || len(jws.Signatures) != 1 {
		return tokenClaims{}, errTokenInvalid
	}
	key, err := signingKey(s.cfg.SealKey, kind, reg)
	if err != nil {
		return tokenClaims{}, err
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return tokenClaims{}, errTokenInvalid
	}
	var c tokenClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return tokenClaims{}, errTokenInvalid
	}
	now := s.now()
	if c.ISS != issuer || !strings.EqualFold(c.AUD, loginServer) || c.Sub == "" {
		return tokenClaims{}, errTokenInvalid
	}
	if now.Add(-tokenLeeway).After(time.Unix(c.EXP, 0)) {
		return tokenClaims{}, errTokenExpired
	}
	if now.Add(tokenLeeway).Before(time.Unix(c.NBF, 0)) {
		return tokenClaims{}, errTokenInvalid
	}
	if kind == kindRefresh && c.GrantType != "refresh_token" {
		return tokenClaims{}, errTokenInvalid
	}
	return c, nil
}
