package agent

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/imds"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// tokenCache is the node's token cache over the node API: one entry per
// (identity, resource), refreshed at half-life. It implements
// imds.TokenSource.
type tokenCache struct {
	api    *client
	nodeID string
	now    func() time.Time
	// ids returns the node's identity set (from its registration).
	ids func() []nodeproto.Identity

	mu      sync.RWMutex
	entries map[cacheKey]*cacheEntry
}

type cacheEntry struct {
	tok   atomic.Pointer[cachedToken]
	fetch sync.Mutex // one fetch at a time per key
}

// cachedToken holds a token and, on the agent's own clock (which may differ
// from the control plane's), when to refresh it and when it expires.
type cachedToken struct {
	tok       imds.Token
	refreshAt time.Time
	expiresAt time.Time
}

// maxCacheEntries bounds the cache: past it, expired and empty entries are
// evicted, and if that is not enough, every entry (tokens are re-fetched).
const maxCacheEntries = 4096

// evictLocked makes room in the cache; c.mu is held.
func (c *tokenCache) evictLocked() {
	now := c.now()
	for k, e := range c.entries {
		if ct := e.tok.Load(); ct == nil || !now.Before(ct.expiresAt) {
			delete(c.entries, k)
		}
	}
	if len(c.entries) >= maxCacheEntries {
		clear(c.entries)
	}
}

// expiryMargin is how long before expiry a cached token is no longer served
// even when a refresh fails.
const expiryMargin = 5 * time.Minute

// cacheKey names an entry: the identity's resource ID as the node's identity
// set spells it (SelectIdentity returns the set's own entry, whatever case a
// request used), and the resource. A struct of the two strings, so that a
// lookup, which runs on every IMDS token request, allocates nothing.
type cacheKey struct {
	identity, resource string
}

// Token implements imds.TokenSource.
func (c *tokenCache) Token(ctx context.Context, req imds.TokenRequest) (imds.Token, error) {
	id, err := imds.SelectIdentity(c.ids(), req)
	if err != nil {
		return imds.Token{}, err
	}
	key := cacheKey{id.ResourceID, req.Resource}
	c.mu.RLock()
	e := c.entries[key]
	c.mu.RUnlock()
	if e == nil {
		c.mu.Lock()
		if e = c.entries[key]; e == nil {
			if len(c.entries) >= maxCacheEntries {
				c.evictLocked()
			}
			e = &cacheEntry{}
			c.entries[key] = e
		}
		c.mu.Unlock()
	}
	now := c.now()
	if ct := e.tok.Load(); ct != nil && !req.BypassCache && now.Before(ct.refreshAt) {
		return ct.tok, nil
	}
	e.fetch.Lock()
	defer e.fetch.Unlock()
	now = c.now()
	// Another caller may have refreshed while this one waited.
	if ct := e.tok.Load(); ct != nil && !req.BypassCache && now.Before(ct.refreshAt) {
		return ct.tok, nil
	}
	tok, err := c.fetchToken(ctx, id, req)
	if err != nil {
		if ct := e.tok.Load(); ct != nil && !req.BypassCache && !cobalt.IsCode(err, cobalt.ENotFound) &&
			!cobalt.IsCode(err, cobalt.EForbidden) && now.Before(ct.expiresAt.Add(-expiryMargin)) {
			return ct.tok, nil // the token service is unavailable: serve the still-valid token
		}
		if cobalt.IsCode(err, cobalt.ENotFound) || cobalt.IsCode(err, cobalt.EForbidden) {
			e.tok.Store(nil)
		}
		return imds.Token{}, err
	}
	life := tok.ExpiresOn.Sub(tok.IssuedAt)
	e.tok.Store(&cachedToken{tok: tok, refreshAt: now.Add(life / 2), expiresAt: now.Add(life)})
	return tok, nil
}

func (c *tokenCache) fetchToken(ctx context.Context, id nodeproto.Identity, req imds.TokenRequest) (imds.Token, error) {
	if req.TaskID == "" && req.Caller != nil {
		req.TaskID = req.Caller()
	}
	var resp nodeproto.TokenResponse
	err := c.api.call(ctx, nodeproto.PathToken, nodeproto.TokenRequest{
		NodeID:     c.nodeID,
		Resource:   req.Resource,
		ResourceID: id.ResourceID,
		TaskID:     req.TaskID,
	}, &resp, 30*time.Second)
	if err != nil {
		return imds.Token{}, err
	}
	if resp.AccessToken == "" {
		return imds.Token{}, cobalt.Errorf(cobalt.EInternal, "node api returned an empty token")
	}
	issued := resp.IssuedAt
	if issued.IsZero() {
		issued = c.now()
	}
	clientID := resp.Identity.ClientID
	if clientID == "" {
		clientID = id.ClientID
	}
	return imds.Token{
		AccessToken: resp.AccessToken,
		IssuedAt:    issued,
		NotBefore:   resp.NotBefore,
		ExpiresOn:   resp.ExpiresOn,
		ClientID:    clientID,
	}, nil
}

// taskToken is the token function taskrun uses for resource files.
func (c *tokenCache) taskToken(ctx context.Context, identityResourceID, resource string) (string, error) {
	tok, err := c.Token(ctx, imds.TokenRequest{Resource: resource, ResourceID: identityResourceID})
	if err != nil {
		return "", err
	}
	return tok.AccessToken, nil
}
