package imds

import (
	"strconv"
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
	// length is the Content-Length header's value, made once per body.
	length []string
}

const maxBodies = 4096

// body returns the token body for these arguments, from the cache when the
// token and expires_in match the entry. The caller must not modify it.
func (c *bodyCache) body(now time.Time, resource string, tok Token, echoKey, echo string) *cachedBody {
	k := bodyKey{resource: resource, echoKey: echoKey, echo: echo, clientID: tok.ClientID}
	sec := expiresIn(now, tok)
	c.mu.RLock()
	e := c.entries[k]
	c.mu.RUnlock()
	if e != nil && e.expiresIn == sec && e.token == tok.AccessToken {
		return e
	}
	b := tokenBody(now, resource, tok, echoKey, echo)
	e = &cachedBody{token: tok.AccessToken, expiresIn: sec, body: b, length: []string{strconv.Itoa(len(b))}}
	c.mu.Lock()
	if c.entries == nil || len(c.entries) >= maxBodies {
		c.entries = map[bodyKey]*cachedBody{}
	}
	c.entries[k] = e
	c.mu.Unlock()
	return e
}
