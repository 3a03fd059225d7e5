package hostapi

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"runtime"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/batch"
	"github.com/cobaltbatch/cobalt/internal/errwire"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/store"
	"github.com/google/uuid"
)

// Config configures the service.
type Config struct {
	Store  store.Store
	Logger *slog.Logger
	Now    func() time.Time
	// Heartbeat is how often hosts report (default 5 s); Lease is how long
	// a host stays ready without a report (default 30 s), and it is lost
	// batch.HostGrace(Lease) later.
	Heartbeat time.Duration
	Lease     time.Duration
	// Nodes issues the credentials of joined hosts' nodes (nil: none are).
	Nodes NodeCredentials
	// IssueFilesCert, if set, certifies a host's file API key (PKIX DER)
	// for dnsName: the installation CA's pki.CA.IssueFor.
	IssueFilesCert func(pubDER []byte, dnsName string, ttl time.Duration) ([]byte, error)
}

// NodeCredentials issues a joined host's node its credential, once (the
// pool service).
type NodeCredentials interface {
	MintHostNodeCredential(ctx context.Context, hostID, nodeID string) (batch.HostNodeLaunch, error)
}

// Service keeps hosts.
type Service struct {
	cfg Config
	log *slog.Logger
}

// New returns the service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("hostapi: a store is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 5 * time.Second
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 30 * time.Second
	}
	return &Service{cfg: cfg, log: cfg.Logger}, nil
}

// DefaultTokenLifetime is how long a join token is good for by default.
const DefaultTokenLifetime = time.Hour

// CreateJoinToken stores a new one-time join token valid for ttl and returns
// it; only its hash is kept.
func (s *Service) CreateJoinToken(ctx context.Context, ttl time.Duration) (string, time.Time, error) {
	if ttl <= 0 {
		ttl = DefaultTokenLifetime
	}
	tok, hash := newJoinToken()
	now := s.cfg.Now()
	exp := now.Add(ttl)
	if err := s.cfg.Store.JoinTokenCreate(ctx, store.JoinToken{Hash: hash, ExpiresAt: exp, CreatedAt: now}); err != nil {
		return "", time.Time{}, err
	}
	_ = s.cfg.Store.AuditAppend(ctx, store.AuditRecord{Time: now, Kind: "host.token.created", Actor: "admin",
		Fields: map[string]string{"expires": exp.UTC().Format(time.RFC3339)}})
	return tok, exp, nil
}

// unauthorized is the one answer to every bad token or credential.
func unauthorized(msg string) error {
	return cobalt.Errorf(cobalt.EUnauthorized, "%s", msg).WithReason(errwire.ReasonUnauthorized)
}

// Join exchanges a join token for a new host and its credential.
func (s *Service) Join(ctx context.Context, token, name, address string, c Capacity) (store.HostRecord, string, error) {
	hostID := uuid.NewString()
	now := s.cfg.Now()
	if err := s.cfg.Store.JoinTokenUse(ctx, hashOf(token), hostID, now); err != nil {
		if cobalt.IsCode(err, cobalt.ENotFound) {
			return store.HostRecord{}, "", unauthorized("The join token is not valid: unknown, used or expired.")
		}
		return store.HostRecord{}, "", err
	}
	cred, hash := newCredential(hostID)
	h, err := s.cfg.Store.HostCreate(ctx, store.HostRecord{ID: hostID, Name: name, Address: address, State: store.HostReady,
		CredentialHash: hash, Cores: c.Cores, MemoryBytes: c.MemoryBytes, MaxNodes: c.MaxNodes,
		HeartbeatAt: now, LeaseExpiry: now.Add(s.cfg.Lease)})
	if err != nil {
		return store.HostRecord{}, "", err
	}
	_ = s.cfg.Store.AuditAppend(ctx, store.AuditRecord{Time: now, Kind: "host.joined", Actor: hostID, Subject: hostID,
		Fields: map[string]string{"name": name, "address": address}})
	s.log.Info("host joined", logkey.Host, hostID, logkey.Addr, address)
	return h, cred, nil
}

// Capacity is a host's offer, validated.
type Capacity struct {
	Cores       int
	MemoryBytes int64
	MaxNodes    int
}

// Authenticate returns the host a credential belongs to: EUnauthorized for
// a malformed or wrong credential and for a revoked host.
func (s *Service) Authenticate(ctx context.Context, cred string) (store.HostRecord, error) {
	hostID, secret, ok := parseCredential(cred)
	if !ok {
		return store.HostRecord{}, unauthorized("The host credential is not valid.")
	}
	h, err := s.cfg.Store.HostGet(ctx, hostID)
	if cobalt.IsCode(err, cobalt.ENotFound) || (err == nil && (!secretMatches(secret, h.CredentialHash) || h.State == store.HostRevoked)) {
		return store.HostRecord{}, unauthorized("The host credential is not valid.")
	}
	return h, err
}

// Heartbeat renews the host's lease and records its capacity; it returns
// the host and the nodes placed on it.
func (s *Service) Heartbeat(ctx context.Context, h store.HostRecord, c Capacity) (store.HostRecord, []store.NodeRecord, error) {
	now := s.cfg.Now()
	h, err := s.cfg.Store.HostUpdate(ctx, h.ID, func(r *store.HostRecord) error {
		if r.State == store.HostRevoked {
			return unauthorized("The host credential is not valid.")
		}
		r.State = store.HostReady
		r.Cores, r.MemoryBytes, r.MaxNodes = c.Cores, c.MemoryBytes, c.MaxNodes
		r.HeartbeatAt, r.LeaseExpiry = now, now.Add(s.cfg.Lease)
		return nil
	})
	if err != nil {
		return h, nil, err
	}
	var nodes []store.NodeRecord
	page := store.Page{Limit: 1000}
	for {
		list, next, err := s.cfg.Store.NodeList(ctx, store.NodeListParams{HostID: h.ID, Page: page})
		if err != nil {
			return h, nil, err
		}
		nodes = append(nodes, list...)
		if next == "" {
			return h, nodes, nil
		}
		page.Token = next
	}
}

// List returns every host.
func (s *Service) List(ctx context.Context) ([]store.HostRecord, error) {
	var out []store.HostRecord
	page := store.Page{Limit: 1000}
	for {
		list, next, err := s.cfg.Store.HostList(ctx, page)
		if err != nil {
			return nil, err
		}
		out = append(out, list...)
		if next == "" {
			return out, nil
		}
		page.Token = next
	}
}

// Remove revokes a host: its credential is refused from now on.
func (s *Service) Remove(ctx context.Context, hostID string) error {
	_, err := s.cfg.Store.HostUpdate(ctx, hostID, func(r *store.HostRecord) error {
		if r.Local {
			return cobalt.Errorf(cobalt.EInvalid, "The local host cannot be removed; start cobalt up with --no-local-host instead.")
		}
		r.State, r.CredentialHash = store.HostRevoked, nil
		return nil
	})
	if err != nil {
		return err
	}
	// The host's nodes lose their credentials, and their leases end now:
	// the pool service's lease sweep finds them lost (unusable, their tasks
	// requeued) as if the host had gone silent.
	if err := s.revokeNodes(ctx, hostID); err != nil {
		return err
	}
	_ = s.cfg.Store.AuditAppend(ctx, store.AuditRecord{Time: s.cfg.Now(), Kind: "host.removed", Actor: "admin", Subject: hostID})
	s.log.Info("host removed", logkey.Host, hostID)
	return nil
}

// revokeNodes clears the credentials of the host's nodes and ends their leases.
func (s *Service) revokeNodes(ctx context.Context, hostID string) error {
	now := s.cfg.Now()
	page := store.Page{Limit: 1000}
	for {
		nodes, next, err := s.cfg.Store.NodeList(ctx, store.NodeListParams{HostID: hostID, Page: page})
		if err != nil {
			return err
		}
		for _, n := range nodes {
			_, err := s.cfg.Store.NodeUpdate(ctx, n.ID, func(r *store.NodeRecord) error {
				r.CredentialHash = nil
				if r.LeaseExpiry.IsZero() || r.LeaseExpiry.After(now) {
					r.LeaseExpiry = now
				}
				return nil
			})
			if err != nil && !cobalt.IsCode(err, cobalt.ENotFound) {
				return err
			}
		}
		if next == "" {
			return nil
		}
		page.Token = next
	}
}

// Sweep marks ready hosts whose lease expired as lost, and returns them.
func (s *Service) Sweep(ctx context.Context) ([]store.HostRecord, error) {
	hosts, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	// A host is given up only a grace past its lease, when its node agents,
	// cut off as long, have killed their tasks (batch.FenceAfter).
	due := now.Add(-batch.HostGrace(s.cfg.Lease))
	var lost []store.HostRecord
	for _, h := range hosts {
		if h.Local || h.State != store.HostReady || h.LeaseExpiry.IsZero() || h.LeaseExpiry.After(due) {
			continue
		}
		u, err := s.cfg.Store.HostUpdate(ctx, h.ID, func(r *store.HostRecord) error {
			if r.State != store.HostReady || r.LeaseExpiry.After(due) {
				return errStale
			}
			r.State = store.HostLost
			return nil
		})
		if errors.Is(err, errStale) || cobalt.IsCode(err, cobalt.EPreconditionFailed) {
			continue
		}
		if err != nil {
			return lost, err
		}
		s.log.Warn("host lost: no heartbeat within its lease and grace", logkey.Host, h.ID)
		// Its nodes are given up: their credentials are refused and their
		// leases end now, so the allocator declares them unusable, requeues
		// their tasks and replaces them on other hosts.
		if err := s.revokeNodes(ctx, h.ID); err != nil {
			return lost, err
		}
		lost = append(lost, u)
	}
	return lost, nil
}

var errStale = errors.New("host renewed meanwhile")

// Run sweeps lost hosts every heartbeat interval until ctx is done.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("host sweep failed", logkey.Err, err)
			}
		}
	}
}

// LocalHostID is the host record of the control plane's own node provider.
const LocalHostID = "local"

// EnsureLocal creates or refreshes the local host's record: the control
// plane runs nodes itself, with maxNodes of capacity, at address.
func (s *Service) EnsureLocal(ctx context.Context, address string, maxNodes int) error {
	now := s.cfg.Now()
	_, err := s.cfg.Store.HostUpdate(ctx, LocalHostID, func(r *store.HostRecord) error {
		r.Address, r.MaxNodes, r.State, r.HeartbeatAt = address, maxNodes, store.HostReady, now
		return nil
	})
	if !cobalt.IsCode(err, cobalt.ENotFound) {
		return err
	}
	name, _ := os.Hostname()
	_, err = s.cfg.Store.HostCreate(ctx, store.HostRecord{ID: LocalHostID, Name: name, Address: address, State: store.HostReady,
		Local: true, Cores: runtime.NumCPU(), MaxNodes: maxNodes, HeartbeatAt: now})
	if cobalt.IsCode(err, cobalt.EConflict) {
		return nil // another replica made it
	}
	return err
}
