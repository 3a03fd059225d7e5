package batch

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"strings"
	"sync"
	"time"

	"github.com/cobaltbatch/cobalt"
)

// NodeAuthCacheTTL bounds how long a node verified from the store may
// authenticate a heartbeat or a lease without another store read: a change
// of the node made anywhere (its removal, its reimage, its host's removal,
// which clears its credential) refuses its leases within this time at most.
// Heartbeats see any change at once, whatever the age of the cached node
// (NodeAuthenticateHeartbeat), since their write is a compare-and-swap on
// the version verified (a miss re-reads the node and checks the credential
// against it in the same transaction), and every other node request reads
// the node from the store.
const NodeAuthCacheTTL = 10 * time.Second

// authCache keeps, per node, the node as the store last confirmed it
// (read, or touched at its version) and the hash of the credential that
// matched it. Entries are immutable; a confirmation replaces one. Its zero
// value is ready.
type authCache struct {
	mu      sync.Mutex
	m       map[string]*authEntry
	inserts int
}

type authEntry struct {
	hash    [sha256.Size]byte
	node    *Node
	checked time.Time // when the store last confirmed node.Version
}

func (c *authCache) get(id string) *authEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[id]
}

// put records n, verified with the credential hashed to h, as of checked.
func (c *authCache) put(n *Node, h [sha256.Size]byte, checked time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*authEntry{}
	}
	c.m[n.ID] = &authEntry{hash: h, node: n, checked: checked}
	c.inserts++
	if c.inserts%4096 == 0 {
		// Nodes that stopped calling (removed, their pool deleted) leave.
		for id, e := range c.m {
			if checked.Sub(e.checked) > NodeAuthCacheTTL {
				delete(c.m, id)
			}
		}
	}
}

// touched records that the node's heartbeat moved it from version to
// version+1 and changed nothing else: the entry verified at version is
// confirmed as of at.
func (c *authCache) touched(id string, version int64, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[id]
	if e == nil || e.node.Version != version {
		return
	}
	n := *e.node
	n.Version = version + 1
	n.HeartbeatAt = at
	c.m[id] = &authEntry{hash: e.hash, node: &n, checked: at}
}

func (c *authCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, id)
}

// NodeAuthenticateCached is NodeAuthenticate for leases: it answers from
// the node the store confirmed within NodeAuthCacheTTL when the credential
// is the one that matched it, without a store read. The node it returns is
// Cached: a lease that finds work must call NodeRevalidate first.
func (s *Service) NodeAuthenticateCached(ctx context.Context, credential string) (*Node, error) {
	return s.authCached(ctx, credential, NodeAuthCacheTTL)
}

// NodeAuthenticateHeartbeat is NodeAuthenticate for heartbeats: it answers
// from the cached node whatever its age, since NodeHeartbeat's write checks
// a Cached node against the store (a compare-and-swap on the version the
// cache confirmed; a miss reads the node and checks the credential again).
// A heartbeat delayed past the TTL by load then costs no more than one
// that is not.
func (s *Service) NodeAuthenticateHeartbeat(ctx context.Context, credential string) (*Node, error) {
	return s.authCached(ctx, credential, 0)
}

// authCached answers from a cache entry confirmed within maxAge (any age
// when maxAge is 0), else from the store.
func (s *Service) authCached(ctx context.Context, credential string, maxAge time.Duration) (*Node, error) {
	id, secret, ok := strings.Cut(credential, ".")
	if !ok || id == "" || secret == "" || len(credential) > 512 {
		return nil, unauthorized()
	}
	h := sha256.Sum256([]byte(secret))
	if e := s.auth.get(id); e != nil && (maxAge == 0 || s.now().Sub(e.checked) < maxAge) && subtle.ConstantTimeCompare(h[:], e.hash[:]) == 1 {
		n := *e.node
		n.cached = true
		return &n, nil
	}
	return s.NodeAuthenticate(ctx, credential)
}

// NodeRevalidate returns n as the store holds it now if the credential that
// authenticated n still matches it (EUnauthorized otherwise, as for a
// removed node); a node not from the cache is returned as it is.
func (s *Service) NodeRevalidate(ctx context.Context, n *Node) (*Node, error) {
	if !n.cached {
		return n, nil
	}
	r, err := s.cfg.Store.NodeGet(ctx, n.ID)
	if cobalt.IsCode(err, cobalt.ENotFound) {
		s.auth.drop(n.ID)
		return nil, unauthorized()
	}
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(n.credHash[:], r.CredentialHash) != 1 {
		s.auth.drop(n.ID)
		return nil, unauthorized()
	}
	out, err := decodeNode(r)
	if err != nil {
		return nil, err
	}
	out.credHash = n.credHash
	s.auth.put(out, n.credHash, s.now())
	return out, nil
}

// Cached reports whether n was authenticated from the cache.
func (n *Node) Cached() bool { return n.cached }
