package login

import (
	"crypto/sha256"
	"encoding/base64"
	"sync"
	"time"
)

// Lifetimes of the user flows' one-time grants, as Entra's.
const (
	codeLifetime    = 10 * time.Minute
	refreshLifetime = 24 * time.Hour
	// maxGrants bounds each table, so that a flood of sign-ins cannot grow
	// memory without end.
	maxGrants = 100_000
)

// PublicClient is an application registration of a public client (one
// with no secret, such as the portal's backend-for-frontend, which proves
// possession with PKCE): its client ID and the exact redirect URIs it may use.
type PublicClient struct {
	ClientID     string
	DisplayName  string
	RedirectURIs []string
	// PostLogoutRedirectURIs are where the logout endpoint may send the browser.
	PostLogoutRedirectURIs []string
}

// codeGrant is what an authorization code stands for.
type codeGrant struct {
	tenantID, clientID, redirectURI string
	challenge                       string // S256 code challenge
	objectID                        string
	resource, scp                   string
	nonce                           string
	openid                          bool
	expires                         time.Time
}

// refreshGrant is what a refresh token stands for. Every refresh token
// belongs to a family started by one sign-in; redeeming one replaces it
// with the next, and redeeming a replaced one again revokes the family (it
// was stolen or replayed).
type refreshGrant struct {
	family             string
	tenantID, clientID string
	objectID           string
	expires            time.Time
	used               bool
}

// grants keeps public clients and the one-time grants of the user flows in
// memory: codes and refresh tokens do not survive a restart, and a replica
// honours only its own (sign in again).
type grants struct {
	mu       sync.Mutex
	clients  map[string]PublicClient
	codes    map[string]*codeGrant    // sha256(code) -> grant
	refresh  map[string]*refreshGrant // sha256(token) -> grant
	families map[string]bool          // revoked families
}

func newGrants() *grants {
	return &grants{clients: map[string]PublicClient{}, codes: map[string]*codeGrant{},
		refresh: map[string]*refreshGrant{}, families: map[string]bool{}}
}

// grantKey is the table key of a code or token: its SHA-256, so that the
// tables never hold a usable credential.
func grantKey(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// newGrantSecret returns 32 random bytes, base64url.
func newGrantSecret() string { return randomString(base64.RawURLEncoding, 32) }

// RegisterPublicClient registers (or replaces) a public client application
// in every tenant, as a first-party application is on Entra.
func (s *Service) RegisterPublicClient(c PublicClient) {
	g := s.grants
	g.mu.Lock()
	defer g.mu.Unlock()
	g.clients[c.ClientID] = c
}

func (g *grants) client(id string) (PublicClient, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	c, ok := g.clients[id]
	return c, ok
}

// sweep drops expired grants. Called with g.mu held.
func (g *grants) sweep(now time.Time) {
	for k, c := range g.codes {
		if now.After(c.expires) {
			delete(g.codes, k)
		}
	}
	for k, r := range g.refresh {
		if now.After(r.expires) {
			delete(g.refresh, k)
		}
	}
}

// addCode stores a code grant and returns the code; "" when the table is full.
func (g *grants) addCode(c *codeGrant, now time.Time) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.codes) >= maxGrants {
		g.sweep(now)
		if len(g.codes) >= maxGrants {
			return ""
		}
	}
	code := newGrantSecret()
	g.codes[grantKey(code)] = c
	return code
}

// takeCode removes and returns a code's grant; ok false if there is none,
// which includes a code already redeemed.
func (g *grants) takeCode(code string) (*codeGrant, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := grantKey(code)
	c, ok := g.codes[k]
	delete(g.codes, k)
	return c, ok
}

// addRefresh stores a refresh grant and returns its token; "" when full.
func (g *grants) addRefresh(r *refreshGrant, now time.Time) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.refresh) >= maxGrants {
		g.sweep(now)
		if len(g.refresh) >= maxGrants {
			return ""
		}
	}
	tok := newGrantSecret()
	g.refresh[grantKey(tok)] = r
	return tok
}

// useRefresh marks a refresh token used and returns its grant. A token used
// before revokes its family; ok is false then, and for unknown, expired and
// revoked tokens.
func (g *grants) useRefresh(tok string, now time.Time) (refreshGrant, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r, ok := g.refresh[grantKey(tok)]
	if !ok || g.families[r.family] || now.After(r.expires) {
		return refreshGrant{}, false
	}
	if r.used {
		g.families[r.family] = true
		return refreshGrant{}, false
	}
	r.used = true
	return *r, true
}

// revokeUser revokes every refresh token family of a user with a client.
func (g *grants) revokeUser(objectID, clientID string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for k, r := range g.refresh {
		if r.objectID == objectID && r.clientID == clientID {
			g.families[r.family] = true
			delete(g.refresh, k)
		}
	}
}
