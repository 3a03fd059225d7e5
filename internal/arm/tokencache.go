package arm

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/cobaltbatch/cobalt"
)

// tokenCache remembers the callers of bearer tokens that validated, until
// shortly before each token expires, so that a client's stream of requests
// with one token pays for one RS256 verification. Entries are keyed by the
// token's SHA-256, not the token.
type tokenCache struct {
	mu      sync.Mutex
	entries map[[32]byte]tokenEntry
}

type tokenEntry struct {
	caller cobalt.Caller
	until  time.Time
}

// tokenCacheMax bounds the entries; tokenCacheFor bounds how long one is used.
const (
	tokenCacheMax = 10000
	tokenCacheFor = 5 * time.Minute
)

func newTokenCache() *tokenCache { return &tokenCache{entries: map[[32]byte]tokenEntry{}} }

func (c *tokenCache) get(raw string, now time.Time) (cobalt.Caller, bool) {
	k := sha256.Sum256([]byte(raw))
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok {
		return cobalt.Caller{}, false
	}
	if !now.Before(e.until) {
		delete(c.entries, k)
		return cobalt.Caller{}, false
	}
	return e.caller, true
}

// put caches the caller of a token that has just validated, until its exp
// claim (read from the verified payload) or tokenCacheFor, whichever is sooner.
func (c *tokenCache) put(raw string, caller cobalt.Caller, now time.Time) {
	exp, ok := tokenExpiry(raw)
	if !ok {
		return
	}
	until := now.Add(tokenCacheFor)
	if exp.Before(until) {
		until = exp
	}
	if !now.Before(until) {
		return
	}
	k := sha256.Sum256([]byte(raw))
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= tokenCacheMax {
		clear(c.entries)
	}
	c.entries[k] = tokenEntry{caller: caller, until: until}
}

// tokenExpiry reads the exp claim of a JWT that has already been verified.
func tokenExpiry(raw string) (time.Time, bool) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, false
	}
	var c struct {
		Exp *float64 `json:"exp"`
	}
	if err := json.Unmarshal(payload, &c); err != nil || c.Exp == nil || *c.Exp <= 0 || *c.Exp > 1<<40 {
		return time.Time{}, false
	}
	return time.Unix(int64(*c.Exp), 0), true
}
