package bearer

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/cobaltbatch/cobalt"
)

// DefaultLeeway is the clock skew tolerated on nbf and exp when Config.Leeway is 0.
const DefaultLeeway = 2 * time.Minute

// Refresh policy of the cached key set.
const (
	// refreshInterval is how long a fetched key set is used before it is fetched again.
	refreshInterval = 5 * time.Minute
	// unknownKIDBurst and unknownKIDEvery limit fetches caused by tokens with an
	// unknown kid: a burst of a few, then one per interval.
	unknownKIDBurst = 3
	unknownKIDEvery = 10 * time.Second
	// retryAfterError is how soon a failed periodic fetch is retried; the
	// previous key set stays in use meanwhile.
	retryAfterError = 30 * time.Second
)

// maxTokenBytes bounds the size of a token that is parsed at all.
const maxTokenBytes = 16 << 10

// KeySource provides the published signing keys. The login service
// implements it; so does [RemoteKeys].
type KeySource interface {
	KeySet(ctx context.Context) (jose.JSONWebKeySet, error)
}

// Config configures a Validator.
type Config struct {
	// Keys provides the signing keys.
	Keys KeySource
	// TenantID, when set, is the only tenant (tid claim) accepted.
	TenantID string
	// Issuers lists the accepted iss values, usually the login service's
	// IssuerV1 and IssuerV2 of the tenant. A token is valid only if its issuer is listed.
	Issuers []string
	// IssuerKnown, when set, is asked about an issuer not in Issuers, once
	// the token's signature has verified: replicas of one installation share
	// its keys but each issues tokens under its own authority URL. It must
	// be safe for concurrent use.
	IssuerKnown func(ctx context.Context, iss string) bool
	// Now is the clock for nbf and exp and for the age of the cached key set;
	// nil means time.Now.
	Now func() time.Time
	// Leeway is the tolerated clock skew; 0 means DefaultLeeway, negative means none.
	Leeway time.Duration
}

// Validator validates bearer tokens. It is safe for concurrent use.
type Validator struct {
	cfg     Config
	issuers map[string]bool

	mu      sync.Mutex
	keys    jose.JSONWebKeySet
	fetched time.Time // cfg.Now of the last fetch; zero if none
	tokens  float64   // refill bucket for unknown-kid fetches
	last    time.Time // cfg.Now of the last bucket update
}

// New returns a Validator on cfg.
func New(cfg Config) *Validator {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = DefaultLeeway
	} else if cfg.Leeway < 0 {
		cfg.Leeway = 0
	}
	v := &Validator{cfg: cfg, issuers: map[string]bool{}, tokens: unknownKIDBurst}
	for _, iss := range cfg.Issuers {
		v.issuers[iss] = true
	}
	return v
}

// Messages of the validation errors.
const (
	MsgMalformed = "The token is malformed."
	MsgSignature = "Signature validation failed."
	MsgExpired   = "The token is expired."
	MsgNotYet    = "The token is not yet valid."
	MsgIssuer    = "Issuer validation failed."
	MsgAudience  = "Audience validation failed."
	MsgTenant    = "Tenant validation failed."
)

// unauthorized returns the validation error with an ARM-style reason.
func unauthorized(reason, msg string) *cobalt.Error {
	return &cobalt.Error{Code: cobalt.EUnauthorized, Reason: reason, Message: msg}
}

func invalid(msg string) *cobalt.Error { return unauthorized("InvalidAuthenticationToken", msg) }

// audience is the aud claim: a string or an array of strings.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*a = audience{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	*a = l
	return nil
}

// claims are the claims the validator reads.
type claims struct {
	Aud      audience `json:"aud"`
	Iss      string   `json:"iss"`
	Exp      *float64 `json:"exp"`
	Nbf      *float64 `json:"nbf"`
	Oid      string   `json:"oid"`
	Tid      string   `json:"tid"`
	AppID    string   `json:"appid"`
	Azp      string   `json:"azp"`
	XmsMirid string   `json:"xms_mirid"`
}

// Validate checks a raw JWT: RS256 signature by a published key, issuer in
// Config.Issuers, an audience among audiences (compared with and without a
// trailing slash), nbf and exp within the leeway, and tid == Config.TenantID.
// It returns the caller the token names, or an *cobalt.Error of code
// EUnauthorized whose message says why (MsgSignature, MsgExpired, MsgIssuer,
// MsgAudience, ...).
func (v *Validator) Validate(ctx context.Context, raw string, audiences ...string) (cobalt.Caller, error) {
	if raw == "" || len(raw) > maxTokenBytes || strings.Count(raw, ".") != 2 {
		return cobalt.Caller{}, invalid(MsgMalformed)
	}
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil || len(jws.Signatures) != 1 {
		var alg *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &alg) {
			return cobalt.Caller{}, invalid(MsgSignature)
		}
		return cobalt.Caller{}, invalid(MsgMalformed)
	}
	h := jws.Signatures[0].Header
	if h.Algorithm != string(jose.RS256) {
		return cobalt.Caller{}, invalid(MsgSignature)
	}
	key, err := v.key(ctx, h.KeyID)
	if err != nil {
		return cobalt.Caller{}, err
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return cobalt.Caller{}, invalid(MsgSignature)
	}
	var c claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return cobalt.Caller{}, invalid(MsgMalformed)
	}
	now := v.cfg.Now()
	if c.Exp == nil || now.After(unix(*c.Exp).Add(v.cfg.Leeway)) {
		return cobalt.Caller{}, unauthorized("ExpiredAuthenticationToken", MsgExpired)
	}
	if c.Nbf != nil && now.Add(v.cfg.Leeway).Before(unix(*c.Nbf)) {
		return cobalt.Caller{}, invalid(MsgNotYet)
	}
	if !v.issuers[c.Iss] && (v.cfg.IssuerKnown == nil || !v.cfg.IssuerKnown(ctx, c.Iss)) {
		return cobalt.Caller{}, invalid(MsgIssuer)
	}
	if !audienceMatches(c.Aud, audiences) {
		return cobalt.Caller{}, unauthorized("InvalidAuthenticationTokenAudience", MsgAudience)
	}
	if c.Tid == "" || v.cfg.TenantID != "" && c.Tid != v.cfg.TenantID {
		return cobalt.Caller{}, unauthorized("InvalidAuthenticationTokenTenant", MsgTenant)
	}
	if c.Oid == "" {
		return cobalt.Caller{}, invalid(MsgMalformed)
	}
	client := c.AppID
	if client == "" {
		client = c.Azp
	}
	return cobalt.Caller{ObjectID: c.Oid, ClientID: client, TenantID: c.Tid, ManagedIdentityID: c.XmsMirid}, nil
}

// unix converts a NumericDate to a time, saturating absurd values.
func unix(f float64) time.Time {
	const limit = 1 << 40 // seconds, about 35,000 years
	switch {
	case f != f: // NaN
		return time.Unix(0, 0)
	case f > limit:
		return time.Unix(limit, 0)
	case f < -limit:
		return time.Unix(-limit, 0)
	}
	return time.Unix(int64(f), 0)
}

// audienceMatches reports whether any aud value equals an accepted audience,
// ignoring one trailing slash on either side.
func audienceMatches(aud audience, accepted []string) bool {
	for _, a := range aud {
		if a == "" {
			continue
		}
		for _, b := range accepted {
			if strings.TrimSuffix(a, "/") == strings.TrimSuffix(b, "/") {
				return true
			}
		}
	}
	return false
}

// key returns the public key with the given kid, refreshing the cached key set
// when it is stale, or when the kid is unknown and the refresh budget allows.
func (v *Validator) key(ctx context.Context, kid string) (any, error) {
	if kid == "" {
		return nil, invalid(MsgSignature)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	at := v.cfg.Now()
	if v.fetched.IsZero() || at.Sub(v.fetched) > refreshInterval {
		if err := v.fetchLocked(ctx, at); err != nil && v.fetched.IsZero() {
			return nil, err
		}
	}
	if k := lookup(v.keys, kid); k != nil {
		return k, nil
	}
	// Unknown kid: a key may have been published since the last fetch.
	v.tokens += at.Sub(v.last).Seconds() / unknownKIDEvery.Seconds()
	if v.tokens > unknownKIDBurst {
		v.tokens = unknownKIDBurst
	}
	v.last = at
	if v.tokens < 1 {
		return nil, invalid(MsgSignature)
	}
	v.tokens--
	if err := v.fetchLocked(ctx, at); err != nil {
		return nil, err
	}
	if k := lookup(v.keys, kid); k != nil {
		return k, nil
	}
	return nil, invalid(MsgSignature)
}

func (v *Validator) fetchLocked(ctx context.Context, at time.Time) error {
	set, err := v.cfg.Keys.KeySet(ctx)
	if err != nil {
		if !v.fetched.IsZero() {
			// Keep the keys we have and try again a little later, not on every request.
			v.fetched = at.Add(retryAfterError - refreshInterval)
		}
		return &cobalt.Error{Code: cobalt.EInternal, Message: "The signing keys are unavailable."}
	}
	v.keys, v.fetched = set, at
	return nil
}

// lookup returns the RS256 signing key with the kid, or nil.
func lookup(set jose.JSONWebKeySet, kid string) any {
	for _, k := range set.Key(kid) {
		if (k.Use == "" || k.Use == "sig") && (k.Algorithm == "" || k.Algorithm == string(jose.RS256)) && k.IsPublic() {
			return k.Key
		}
	}
	return nil
}

// FromHeader extracts the token from an "Authorization: Bearer <token>"
// header. present is false when there is no Authorization header; err (an
// EUnauthorized *cobalt.Error) is set when the header is there but is not a
// bearer token.
func FromHeader(r *http.Request) (token string, present bool, err error) {
	h := r.Header.Values("Authorization")
	if len(h) == 0 {
		return "", false, nil
	}
	if len(h) > 1 {
		return "", true, invalid("The request has more than one Authorization header.")
	}
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h[0]), " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" || strings.ContainsAny(tok, " \t") {
		return "", true, invalid("The Authorization header is not a bearer token: it must be 'Bearer <token>'.")
	}
	return tok, true, nil
}
