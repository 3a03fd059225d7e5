package batch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/decoded"
	"github.com/cobaltbatch/cobalt/internal/errwire"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// NodeLaunch is what a NodeProvider needs to start a node agent.
type NodeLaunch struct {
	NodeID      string
	PoolID      string
	AccountName string
	// Credential is the node's secret credential for the node API.
	Credential string
	// RootDir is the node's root directory (AZ_BATCH_NODE_ROOT_DIR).
	RootDir string
}

// NodeProvider starts and stops nodes for the allocator. StartNode must
// return quickly (start the agent in the background); both must be safe for
// concurrent use and idempotent.
type NodeProvider interface {
	StartNode(ctx context.Context, n NodeLaunch) error
	StopNode(ctx context.Context, nodeID string) error
}

// Config configures the pool service.
type Config struct {
	Store  store.Store
	Logger *slog.Logger
	Now    func() time.Time
	// Nodes starts and stops nodes; nil means nodes are created but never started.
	Nodes NodeProvider
	// Identities resolves user-assigned identities; needed for pool identities.
	Identities IdentityLookup
	// MaxNodes is the installation's node capacity (default 64).
	MaxNodes int
	// NodeRootDir is the directory under which each node gets its root directory.
	NodeRootDir string
	// HeartbeatTimeout is how long a node may stay silent before it is
	// declared lost (default 30s); StartTimeout how long a new node may take
	// to register (default 2m).
	HeartbeatTimeout time.Duration
	StartTimeout     time.Duration
	// HostLease is how long a joined host stays ready without a report
	// (default DefaultHostLease); its nodes' agents fence themselves after
	// FenceAfter(HostLease, HeartbeatTimeout) without the control plane.
	HostLease time.Duration
	// PollInterval is how often the allocator looks at the store without being
	// woken (default 1s): changes made by other replicas are seen within it.
	PollInterval time.Duration
	// Location, AuthorityHost and ForwardPorts go into every node's configuration.
	Location      string
	AuthorityHost string
	ForwardPorts  []int
	// AzureNamesPort is the control plane's listener for Azure's public
	// hostnames, which every node resolves to itself and forwards there.
	AzureNamesPort int
	// PublicAddress is the control plane's public address, which every
	// node reaches its services at (nodeproto.NodeConfig.PublicAddress).
	PublicAddress string
	// LocalHostID is the host record of this process's node provider (""
	// for none): the nodes it allocates are recorded on it, with
	// PublicAddress as their ipAddress.
	LocalHostID string
	// HostPlacement bounds nodes by their hosts' capacity instead of
	// MaxNodes even without a local host (set when LocalHostID is "").
	HostPlacement bool
	// BlobEndpoint is the blob service's root URL (https://127.0.0.1:PORT);
	// resource files naming an autoStorageContainerName resolve to
	// BlobEndpoint/{auto-storage account}/{container}?{SAS}.
	BlobEndpoint string
	// StorageAccounts gives the keys that sign auto-storage SAS URLs.
	StorageAccounts StorageAccounts
	// AutoScale sets the metric sampling behind autoscale formulas.
	AutoScale AutoScaleOptions
}

// Service is the pool service. All its state is in the store.
type Service struct {
	cfg     Config
	log     *slog.Logger
	wake    chan struct{}
	renders renderCache
	pools   *decoded.Cache[store.PoolRecord, *Pool] // Pool's decodings (poolcache.go)
	samples sampler
	touches toucher   // heartbeats written together (heartbeat.go)
	auth    authCache // nodes verified recently (nodeauth.go)

	subMu        sync.RWMutex
	nodeLostSubs []NodeLostFunc
}

// New returns a pool service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("batch: a store is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxNodes <= 0 {
		cfg.MaxNodes = 64
	}
	if cfg.HeartbeatTimeout <= 0 {
		cfg.HeartbeatTimeout = 30 * time.Second
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 2 * time.Minute
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	s := &Service{cfg: cfg, log: cfg.Logger, wake: make(chan struct{}, 1), pools: newPoolDecodes()}
	s.cfg.Store = poolWrites{Store: cfg.Store, gen: &s.renders.gen}
	return s, nil
}

// Wake makes the allocator look at the store now.
func (s *Service) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC() }

// PoolNotFound is the error for a missing pool.
func poolNotFound(id string) error {
	return cobalt.Errorf(cobalt.ENotFound, "The specified pool '%s' does not exist.", trunc(id)).WithReason(errwire.ReasonPoolNotFound)
}

func poolBeingDeleted(id string) error {
	return cobalt.Errorf(cobalt.EConflict, "The specified pool '%s' has been marked for deletion and is being reclaimed.", trunc(id)).WithReason(errwire.ReasonPoolBeingDeleted)
}

// ETagOf formats a pool version as an ETag (W/"0x<HEX>").
func ETagOf(version int64) string { return fmt.Sprintf("W/\"0x%X\"", version) }

func decodePool(r store.PoolRecord) (*Pool, error) {
	var rec poolRecord
	if err := json.Unmarshal(r.Body, &rec); err != nil {
		return nil, fmt.Errorf("decode pool %s: %w", r.ID, err)
	}
	p := poolFromRecord(rec)
	p.ID, p.State, p.AllocationState = r.ID, r.State, r.AllocationState
	p.ETag, p.AccountKey = ETagOf(r.Version), r.AccountKey
	return p, nil
}

func encodePool(p *Pool, r *store.PoolRecord) error {
	b, err := json.Marshal(poolToRecord(p))
	if err != nil {
		return err
	}
	r.Body, r.State, r.AllocationState, r.ID = b, p.State, p.AllocationState, p.ID
	return nil
}

// updatePool applies fn to the decoded pool under compare-and-swap, retrying
// when another writer won. fn may be called several times.
func (s *Service) updatePool(ctx context.Context, accountKey, poolID string, fn func(p *Pool, version int64) error) (*Pool, error) {
	for attempt := 0; ; attempt++ {
		var out *Pool
		rec, err := s.cfg.Store.PoolUpdate(ctx, accountKey, poolID, func(r *store.PoolRecord) error {
			p, err := decodePool(*r)
			if err != nil {
				return err
			}
			if err := fn(p, r.Version); err != nil {
				return err
			}
			out = p
			return encodePool(p, r)
		})
		if cobalt.IsCode(err, cobalt.EPreconditionFailed) && cobalt.ErrorReason(err) == "" && attempt < 20 {
			continue
		}
		if cobalt.IsCode(err, cobalt.ENotFound) && cobalt.ErrorReason(err) == "" {
			return nil, poolNotFound(poolID)
		}
		if err != nil {
			return nil, err
		}
		out.ETag = ETagOf(rec.Version)
		out.AccountKey = rec.AccountKey
		return out, nil
	}
}

// conditionNotMet is the 412 of a failed If-Match / If-None-Match.
func conditionNotMet() error {
	return cobalt.Errorf(cobalt.EPreconditionFailed, "The condition specified using HTTP conditional header(s) is not met.").WithReason(errwire.ReasonConditionNotMet)
}

// matchETag evaluates an If-Match value against a pool's ETag ("" = no condition).
func matchETag(ifMatch, etag string) bool {
	if ifMatch == "" || ifMatch == "*" {
		return true
	}
	norm := func(s string) string { return strings.TrimPrefix(strings.TrimSpace(s), "W/") }
	for _, v := range strings.Split(ifMatch, ",") {
		if norm(v) == norm(etag) {
			return true
		}
	}
	return false
}

// Conditions are the HTTP preconditions of a write.
type Conditions struct {
	IfMatch, IfNoneMatch string
}

// PoolPut creates or replaces a pool from the management plane (ARM PUT).
// The spec's identities are resolved and checked. It returns the pool,
// whether it was created, and a warning ("" for none) when the identities of
// a pool with nodes changed.
func (s *Service) PoolPut(ctx context.Context, acct *cobalt.Account, poolID string, spec *Spec, c Conditions) (*Pool, bool, string, error) {
	if err := ValidatePoolID(poolID, true); err != nil {
		return nil, false, "", err
	}
	if spec.Present[FIdentity] {
		if err := s.ResolveIdentities(ctx, acct, spec.Pool.Identity); err != nil {
			return nil, false, "", err
		}
	}
	_, err := s.cfg.Store.PoolGet(ctx, acct.Key(), poolID)
	if cobalt.IsCode(err, cobalt.ENotFound) {
		if c.IfMatch != "" {
			return nil, false, "", conditionNotMet()
		}
		p := NewPool(poolID, spec, s.now())
		if err := Validate(p, true); err != nil {
			return nil, false, "", err
		}
		if p.Identity != nil && p.Identity.Type == "None" {
			p.Identity = nil
		}
		out, err := s.createPool(ctx, acct, p)
		if cobalt.IsCode(err, cobalt.EConflict) {
			return s.PoolPut(ctx, acct, poolID, spec, c)
		}
		return out, err == nil, "", err
	}
	if err != nil {
		return nil, false, "", err
	}
	if c.IfNoneMatch == "*" {
		return nil, false, "", conditionNotMet()
	}
	p, warn, err := s.modifyPool(ctx, acct, poolID, spec, true, true, c.IfMatch)
	return p, false, warn, err
}

// PoolPatch updates the properties a spec carries (ARM PATCH when arm, else
// the data-plane patch or update-properties).
func (s *Service) PoolPatch(ctx context.Context, acct *cobalt.Account, poolID string, spec *Spec, arm bool, c Conditions) (*Pool, string, error) {
	if arm && spec.Present[FIdentity] {
		if err := s.ResolveIdentities(ctx, acct, spec.Pool.Identity); err != nil {
			return nil, "", err
		}
	}
	return s.modifyPool(ctx, acct, poolID, spec, false, arm, c.IfMatch)
}

func (s *Service) modifyPool(ctx context.Context, acct *cobalt.Account, poolID string, spec *Spec, replace, arm bool, ifMatch string) (*Pool, string, error) {
	warn := ""
	p, err := s.updatePool(ctx, acct.Key(), poolID, func(p *Pool, _ int64) error {
		warn = ""
		if !matchETag(ifMatch, p.ETag) {
			return conditionNotMet()
		}
		if p.State == PoolDeleting {
			return poolBeingDeleted(poolID)
		}
		oldIDs := p.Identities()
		oldTargets := [2]int{p.TargetDedicatedNodes, p.TargetLowPriorityNodes}
		spec.Apply(p, replace)
		if p.Identity != nil && p.Identity.Type == "None" {
			p.Identity = nil
		}
		if err := Validate(p, arm); err != nil {
			return err
		}
		if !sameIdentities(oldIDs, p.Identities()) && p.CurrentDedicatedNodes+p.CurrentLowPriorityNodes > 0 {
			p.IdentityWarning, warn = IdentityChangeWarning, IdentityChangeWarning
		}
		now := s.now()
		p.LastModified = now
		if spec.Present[FScale] && p.EnableAutoScale {
			// The formula starts from the current targets.
			p.TargetDedicatedNodes, p.TargetLowPriorityNodes = oldTargets[0], oldTargets[1]
			s.evaluateAutoScale(p, now)
			return nil
		}
		if !p.EnableAutoScale {
			p.AutoScaleRun = nil
		}
		if spec.ResizeRequested && (oldTargets != [2]int{p.TargetDedicatedNodes, p.TargetLowPriorityNodes} || p.AllocationState != AllocSteady) {
			if p.AllocationState == AllocStopping {
				return cobalt.Errorf(cobalt.EConflict, "The pool is stopping a resize; try again when its allocation state is steady.").WithReason(errwire.ReasonPoolStopping)
			}
			s.startResize(p, now)
		}
		return nil
	})
	if err == nil {
		s.Wake()
	}
	return p, warn, err
}

func (s *Service) startResize(p *Pool, now time.Time) {
	p.AllocationState, p.AllocationStateTransitionTime = AllocResizing, now
	p.Resize = cobalt.ResizeStatus{TargetDedicatedNodes: p.TargetDedicatedNodes, TargetLowPriorityNodes: p.TargetLowPriorityNodes,
		ResizeTimeout: p.ResizeTimeout, NodeDeallocationOption: p.NodeDeallocationOption, StartTime: now}
}

func (s *Service) createPool(ctx context.Context, acct *cobalt.Account, p *Pool) (*Pool, error) {
	p.NodePrefix = 1_000_000_000 + rand.Int64N(1_000_000_000)
	if p.EnableAutoScale {
		p.TargetDedicatedNodes, p.TargetLowPriorityNodes = 0, 0
		s.evaluateAutoScale(p, p.CreationTime)
	}
	if p.TargetNodes() > 0 && p.AllocationState == AllocSteady {
		s.startResize(p, p.CreationTime)
	} else if p.AllocationState == AllocSteady {
		p.Resize = cobalt.ResizeStatus{ResizeTimeout: p.ResizeTimeout, NodeDeallocationOption: p.NodeDeallocationOption, StartTime: p.CreationTime}
	}
	var r store.PoolRecord
	r.AccountKey = acct.Key()
	if err := encodePool(p, &r); err != nil {
		return nil, err
	}
	rec, err := s.cfg.Store.PoolCreate(ctx, r)
	if cobalt.IsCode(err, cobalt.EConflict) {
		return nil, cobalt.Errorf(cobalt.EConflict, "The specified pool already exists.").WithReason(errwire.ReasonPoolExists)
	}
	if err != nil {
		return nil, err
	}
	p.ETag, p.AccountKey = ETagOf(rec.Version), rec.AccountKey
	s.Wake()
	return p, nil
}

// PoolCreate adds a pool through the data plane (which carries no identity).
func (s *Service) PoolCreate(ctx context.Context, acct *cobalt.Account, spec *Spec) (*Pool, error) {
	if err := ValidatePoolID(spec.Pool.ID, false); err != nil {
		return nil, err
	}
	p := NewPool(spec.Pool.ID, spec, s.now())
	p.Identity = nil
	if err := Validate(p, false); err != nil {
		return nil, err
	}
	return s.createPool(ctx, acct, p)
}

// PoolGet returns a pool of the account (accountKey is its ARM ID), or 404 PoolNotFound.
func (s *Service) PoolGet(ctx context.Context, accountKey, poolID string) (*Pool, error) {
	r, err := s.cfg.Store.PoolGet(ctx, accountKey, poolID)
	if cobalt.IsCode(err, cobalt.ENotFound) {
		return nil, poolNotFound(poolID)
	}
	if err != nil {
		return nil, err
	}
	return decodePool(r)
}

// PoolList lists an account's pools, with the next page's token.
func (s *Service) PoolList(ctx context.Context, accountKey string, page store.Page) ([]*Pool, string, error) {
	rs, next, err := s.cfg.Store.PoolList(ctx, store.PoolListParams{AccountKey: accountKey, Page: page})
	if err != nil {
		return nil, "", err
	}
	out := make([]*Pool, 0, len(rs))
	for _, r := range rs {
		p, err := decodePool(r)
		if err != nil {
			return nil, "", err
		}
		out = append(out, p)
	}
	return out, next, nil
}

// PoolDelete marks a pool for deletion; the allocator removes its nodes and
// then the pool. Deleting a pool that is being deleted succeeds.
func (s *Service) PoolDelete(ctx context.Context, accountKey, poolID string, c Conditions) (*Pool, error) {
	p, err := s.updatePool(ctx, accountKey, poolID, func(p *Pool, _ int64) error {
		if !matchETag(c.IfMatch, p.ETag) {
			return conditionNotMet()
		}
		if p.State != PoolDeleting {
			p.State, p.StateTransitionTime = PoolDeleting, s.now()
		}
		return nil
	})
	if err == nil {
		s.Wake()
	}
	return p, err
}

// PoolResize starts a resize to new targets (data plane). 409 when the pool
// is resizing, autoscaled or being deleted.
func (s *Service) PoolResize(ctx context.Context, accountKey, poolID string, r ResizeRequest, c Conditions) (*Pool, error) {
	if (r.TargetDedicatedNodes != nil && *r.TargetDedicatedNodes < 0) || (r.TargetLowPriorityNodes != nil && *r.TargetLowPriorityNodes < 0) {
		return nil, invalidValue("targetDedicatedNodes", "Target node counts must not be negative.")
	}
	timeout := DefaultResizeTimeout
	if r.ResizeTimeout != "" {
		d, err := ParseDuration(r.ResizeTimeout)
		if err != nil {
			return nil, invalidValue("resizeTimeout", "The value '%s' of resizeTimeout is not a valid ISO 8601 duration.", trunc(r.ResizeTimeout))
		}
		if d < MinResizeTimeout {
			return nil, invalidValue("resizeTimeout", "The resize timeout %s is shorter than the minimum of 5 minutes.", r.ResizeTimeout)
		}
		timeout = d
	}
	opt := DeallocRequeue
	if r.NodeDeallocationOption != "" {
		if !knownEnum("nodeDeallocationOption", r.NodeDeallocationOption) {
			return nil, invalidValue("nodeDeallocationOption", "The value '%s' of nodeDeallocationOption is not valid.", trunc(r.NodeDeallocationOption))
		}
		opt = toDP("nodeDeallocationOption", r.NodeDeallocationOption)
	}
	p, err := s.updatePool(ctx, accountKey, poolID, func(p *Pool, _ int64) error {
		if !matchETag(c.IfMatch, p.ETag) {
			return conditionNotMet()
		}
		switch {
		case p.State == PoolDeleting:
			return poolBeingDeleted(poolID)
		case p.EnableAutoScale:
			return cobalt.Errorf(cobalt.EConflict, "The pool is autoscaled; disable autoscale before resizing it.").WithReason(errwire.ReasonAutoScalingEnabled)
		case p.AllocationState != AllocSteady:
			return cobalt.Errorf(cobalt.EConflict, "The pool is already resizing; stop the resize or wait until it is steady.").WithReason(errwire.ReasonPoolNotSteady)
		}
		if r.TargetDedicatedNodes != nil {
			p.TargetDedicatedNodes = int(*r.TargetDedicatedNodes)
		}
		if r.TargetLowPriorityNodes != nil {
			p.TargetLowPriorityNodes = int(*r.TargetLowPriorityNodes)
		}
		p.ResizeTimeout, p.NodeDeallocationOption = timeout, opt
		p.LastModified = s.now()
		s.startResize(p, p.LastModified)
		return nil
	})
	if err == nil {
		s.Wake()
	}
	return p, err
}

// PoolStopResize stops a resize: the pool goes to "stopping", and the
// allocator then leaves it steady at its current node counts.
func (s *Service) PoolStopResize(ctx context.Context, accountKey, poolID string, c Conditions) (*Pool, error) {
	p, err := s.updatePool(ctx, accountKey, poolID, func(p *Pool, _ int64) error {
		if !matchETag(c.IfMatch, p.ETag) {
			return conditionNotMet()
		}
		if p.State == PoolDeleting {
			return poolBeingDeleted(poolID)
		}
		if p.AllocationState == AllocResizing {
			p.AllocationState, p.AllocationStateTransitionTime = AllocStopping, s.now()
		}
		return nil
	})
	if err == nil {
		s.Wake()
	}
	return p, err
}

// PoolDisableAutoScale turns autoscale off; the pool keeps its current node
// counts as fixed targets.
func (s *Service) PoolDisableAutoScale(ctx context.Context, accountKey, poolID string) (*Pool, error) {
	return s.updatePool(ctx, accountKey, poolID, func(p *Pool, _ int64) error {
		if p.State == PoolDeleting {
			return poolBeingDeleted(poolID)
		}
		if p.EnableAutoScale {
			p.EnableAutoScale, p.AutoScaleFormula, p.AutoScaleEvaluationInterval, p.AutoScaleRun = false, "", 0, nil
			p.TargetDedicatedNodes, p.TargetLowPriorityNodes = p.CurrentDedicatedNodes, p.CurrentLowPriorityNodes
			p.LastModified = s.now()
		}
		return nil
	})
}

// DeleteAccountPools removes every pool of an account with its nodes, at
// once (used when the account or its resource group is deleted). Pools go
// first, so that the allocator creates no node for them afterwards; then
// every node of the account.
func (s *Service) DeleteAccountPools(ctx context.Context, accountKey string) error {
	accountKey = strings.ToLower(accountKey)
	for {
		ps, _, err := s.cfg.Store.PoolList(ctx, store.PoolListParams{AccountKey: accountKey, Page: store.Page{Limit: 100}})
		if err != nil {
			return err
		}
		if len(ps) == 0 {
			break
		}
		for _, r := range ps {
			if err := s.cfg.Store.PoolDelete(ctx, r.AccountKey, r.Key); err != nil && !cobalt.IsCode(err, cobalt.ENotFound) {
				return err
			}
		}
	}
	return s.removeNodesWhere(ctx, store.NodeListParams{AccountKey: accountKey})
}

func (s *Service) nodeRootDir(nodeID string) string {
	if s.cfg.NodeRootDir == "" {
		return ""
	}
	return filepath.Join(s.cfg.NodeRootDir, nodeID)
}

// Pool returns the domain pool with the given ID of the Batch account with
// the given ARM ID (any case), or ENotFound (reason PoolNotFound). The jobs
// service reads pools' scheduling settings through it, on every claim: the
// pool is read from the store each time, but its decoding is shared with
// the other reads of the same record, so callers must not modify it.
func (s *Service) Pool(ctx context.Context, accountID, poolID string) (*cobalt.Pool, error) {
	r, err := s.cfg.Store.PoolGet(ctx, strings.ToLower(accountID), poolID)
	if cobalt.IsCode(err, cobalt.ENotFound) {
		return nil, poolNotFound(poolID)
	}
	if err != nil {
		return nil, err
	}
	p, err := s.pools.Get(r.AccountKey+"\x00"+r.Key, r)
	if err != nil {
		return nil, err
	}
	return &p.Pool, nil
}
