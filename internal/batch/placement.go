package batch

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// slot is one host's room as the allocator sees it during one pass.
type slot struct {
	host   store.HostRecord
	nodes  int // every node placed on the host
	inPool int // the pool's nodes on the host
}

// placer chooses hosts for a pool's new nodes: ready hosts with room, the
// one with the fewest of the pool's nodes first (a pool spreads across
// hosts), then the least loaded, then by ID. A pool with inter-node
// communication stays on one host instead: its nodes' private network is a
// switch on that host (see the agent's inter-node network), so it goes
// where the pool already has nodes, or to the host with the most room.
type placer struct {
	slots []*slot
	// together keeps the pool on one host.
	together bool
	// none: no host records at all (a store without hosts): every node goes
	// to the local provider as before hosts existed.
	none bool
}

// newPlacer reads the hosts and their node counts.
func (s *Service) newPlacer(ctx context.Context, accountKey, poolID string, together bool) (*placer, error) {
	var hosts []store.HostRecord
	page := store.Page{Limit: 1000}
	for {
		list, next, err := s.cfg.Store.HostList(ctx, page)
		if err != nil {
			return nil, err
		}
		hosts = append(hosts, list...)
		if next == "" {
			break
		}
		page.Token = next
	}
	pl := &placer{none: len(hosts) == 0, together: together}
	for _, h := range hosts {
		if h.State != store.HostReady || h.MaxNodes <= 0 {
			continue
		}
		if h.Local && (h.ID != s.cfg.LocalHostID || s.cfg.Nodes == nil) {
			continue // the local host of a process that does not run nodes
		}
		sl := &slot{host: h}
		np := store.NodeListParams{HostID: h.ID, Page: store.Page{Limit: 1000}}
		for {
			rs, next, err := s.cfg.Store.NodeList(ctx, np)
			if err != nil {
				return nil, err
			}
			for _, r := range rs {
				sl.nodes++
				if r.AccountKey == accountKey && r.PoolKey == poolID {
					sl.inPool++
				}
			}
			if next == "" {
				break
			}
			np.Page.Token = next
		}
		pl.slots = append(pl.slots, sl)
	}
	return pl, nil
}

// together1 narrows free to the host the pool is on, when it is on one:
// the host with most of the pool's nodes (after a host loss a pool can be
// on two until the lost host's nodes are removed). With none of the pool's
// nodes anywhere, every free host may take it.
func (pl *placer) together1(free []*slot) []*slot {
	var home *slot
	for _, sl := range pl.slots {
		if sl.inPool > 0 && (home == nil || sl.inPool > home.inPool || sl.inPool == home.inPool && sl.host.ID < home.host.ID) {
			home = sl
		}
	}
	if home == nil {
		return free
	}
	if home.nodes < home.host.MaxNodes {
		return []*slot{home}
	}
	return nil
}

// errNoHostRoom is returned when no ready host has room for another node.
var errNoHostRoom = errors.New("no ready host has room for another node")

// place returns the host of the next node and counts it.
func (pl *placer) place() (store.HostRecord, error) {
	var free []*slot
	for _, sl := range pl.slots {
		if sl.nodes < sl.host.MaxNodes {
			free = append(free, sl)
		}
	}
	if pl.together {
		free = pl.together1(free)
	}
	if len(free) == 0 {
		return store.HostRecord{}, errNoHostRoom
	}
	sort.Slice(free, func(i, j int) bool {
		a, b := free[i], free[j]
		if pl.together {
			if a.inPool != b.inPool {
				return a.inPool > b.inPool
			}
			if ra, rb := a.host.MaxNodes-a.nodes, b.host.MaxNodes-b.nodes; ra != rb {
				return ra > rb
			}
			return a.host.ID < b.host.ID
		}
		if a.inPool != b.inPool {
			return a.inPool < b.inPool
		}
		if a.nodes != b.nodes {
			return a.nodes < b.nodes
		}
		return a.host.ID < b.host.ID
	})
	free[0].nodes++
	free[0].inPool++
	return free[0].host, nil
}

// replaceLostNodes removes from their pools the nodes of joined hosts that
// the control plane gave up (the host was lost or removed, or never started
// the node): unusable or offline, without a credential, already declared
// lost by expireNodes (which requeued their tasks). Each such pool resizes
// back to its targets, and the allocator places the replacements on hosts
// with room. The host's heartbeat no longer lists the removed nodes, so its
// agent stops them if it comes back.
func (s *Service) replaceLostNodes(ctx context.Context) error {
	rs, _, err := s.cfg.Store.NodeList(ctx, store.NodeListParams{States: []string{NodeUnusable, NodeOffline}, Page: store.Page{Limit: 1000}})
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range rs {
		if r.HostID == "" || r.HostID == s.cfg.LocalHostID || len(r.CredentialHash) != 0 || !r.LeaseExpiry.IsZero() {
			continue
		}
		if err := s.replaceNode(ctx, r); err != nil {
			errs = append(errs, fmt.Errorf("node %s: %w", r.ID, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Service) replaceNode(ctx context.Context, r store.NodeRecord) error {
	n, err := decodeNode(r)
	if err != nil {
		return err
	}
	if err := s.removeNode(ctx, n, true); err != nil {
		return err
	}
	s.log.Warn("node given up on its host removed from its pool", logkey.Node, n.ID, logkey.Pool, n.PoolID, logkey.Host, r.HostID)
	now := s.now()
	_, err = s.updatePool(ctx, r.AccountKey, r.PoolKey, func(p *Pool, _ int64) error {
		if p.State != PoolDeleting && p.AllocationState == AllocSteady {
			s.startResize(p, now)
		}
		return nil
	})
	if cobalt.IsCode(err, cobalt.ENotFound) {
		return nil
	}
	return err
}
