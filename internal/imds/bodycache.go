package imds

import (
	"sync"
	"time"
)

// bodyCache keeps the last token body written for each (resource, identity
// selector): while the token and the second are the same (expires_in counts
// whole seconds), the bytes are the same and are written again as they are.
// It is bounded: past maxBodies entries it starts over.
type bodyCache struct {
	mu      sync.RWMutex
	entries map[bodyKey]*cachedBody
}

type bodyKey struct {
	resource, echoKey, echo, clientID string
}

type cachedBody struct {
	token     string
	expiresIn int64
	body      []byte
}

const maxBodies = 4096

// body returns the token body for these arguments, from the cache when the
// token and expires_in match the entry.
func (c *bodyCache) body(now time.Time, resource string, tok Token, echoKey, echo string) []byte {
	k := bodyKey{resource: resource, echoKey: echoKey, echo: echo, clientID: tok.ClientID}
	sec := expiresIn(now, tok)
	c.mu.RLock()
	e := c.entries[k]
	c.mu.RUnlock()
	if e != nil && e.expiresIn == sec && e.token == tok.AccessToken {
		return e.body
	}
	b := tokenBody(now, resource, tok, echoKey, echo)
	c.mu.Lock()
	if c.entries == nil || len(c.entries) >= maxBodies {
		c.entries = map[bodyKey]*cachedBody{}
	}
	c.entries[k] = &cachedBody{token: tok.AccessToken, expiresIn: sec, body: b}
	c.mu.Unlock()
	return b
}
