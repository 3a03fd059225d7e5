package batch

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/errwire"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
	"github.com/cobaltbatch/cobalt/internal/store"
)

var errLeaseHeld = errors.New("allocator lease held by another replica")

// Run runs the allocator until ctx ends: it first restarts this host's nodes
// (RecoverNodes), then reconciles each pool's nodes with its targets,
// removes deleted pools, and declares silent nodes lost.
// It wakes on every local change (Wake) and every PollInterval.
func (s *Service) Run(ctx context.Context) error {
	// The allocator lease's owner is this run's random ID: replicas that share
	// an injected clock must still tell their leases apart.
	owner := "alloc-" + rand.Text()
	// Nodes of this host whose agents ended with an earlier process come
	// back first, before a pass could declare them lost.
	if _, err := s.RecoverNodes(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("node recovery failed", logkey.Err, err)
	}
	t := time.NewTicker(s.cfg.PollInterval)
	defer t.Stop()
	for {
		s.sampleIfDue(ctx)
		if err := s.Reconcile(ctx, owner); err != nil && ctx.Err() == nil {
			s.log.Warn("allocator pass failed", logkey.Err, err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.wake:
		case <-t.C:
		}
	}
}

type poolCounts map[string]int // by node state

// Reconcile runs one allocator pass as owner (a replica's name).
func (s *Service) Reconcile(ctx context.Context, owner string) error {
	if err := s.expireNodes(ctx); err != nil {
		return fmt.Errorf("expire nodes: %w", err)
	}
	if err := s.replaceLostNodes(ctx); err != nil {
		return fmt.Errorf("replace nodes of lost hosts: %w", err)
	}
	all, err := s.cfg.Store.NodeCounts(ctx, "", "")
	if err != nil {
		return err
	}
	counts := map[[2]string]poolCounts{}
	total := 0
	for _, c := range all {
		k := [2]string{c.AccountKey, c.PoolKey}
		if counts[k] == nil {
			counts[k] = poolCounts{}
		}
		counts[k][c.State] += c.Count
		total += c.Count
	}
	page := store.Page{Limit: 500}
	var errs []error
	seen := map[[2]string]bool{}
	for {
		ps, next, err := s.cfg.Store.PoolList(ctx, store.PoolListParams{Page: page})
		if err != nil {
			return err
		}
		for _, r := range ps {
			seen[[2]string{r.AccountKey, r.Key}] = true
			p, err := decodePool(r)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			c := counts[[2]string{r.AccountKey, r.Key}]
			if !s.needsWork(p, c) {
				continue
			}
			_, err = s.reconcilePool(ctx, owner, r.AccountKey, r.ID, &total)
			if err != nil && !errors.Is(err, errLeaseHeld) && !cobalt.IsCode(err, cobalt.ENotFound) {
				errs = append(errs, fmt.Errorf("pool %s: %w", r.ID, err))
			}
		}
		if next == "" {
			break
		}
		page.Token = next
	}
	// Nodes whose pool is gone (a pool deleted while a node was being made).
	for k := range counts {
		if !seen[k] {
			if err := s.removeNodesWhere(ctx, store.NodeListParams{AccountKey: k[0], PoolKey: k[1]}); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func activeCount(c poolCounts) int {
	n := 0
	for st, k := range c {
		if st != NodeLeavingPool {
			n += k
		}
	}
	return n
}

func (s *Service) needsWork(p *Pool, c poolCounts) bool {
	if p.State == PoolDeleting || p.AllocationState != AllocSteady || s.autoScaleDue(p, s.now()) {
		return true
	}
	n := activeCount(c)
	if n != p.CurrentDedicatedNodes+p.CurrentLowPriorityNodes {
		return true
	}
	return p.IdentityWarning != "" && n == 0
}

// reconcilePool takes the pool's allocator lease and brings its nodes to its targets.
func (s *Service) reconcilePool(ctx context.Context, owner, accountKey, poolID string, total *int) (int, error) {
	now := s.now()
	p, err := s.updatePool(ctx, accountKey, poolID, func(p *Pool, _ int64) error {
		if p.AllocatorOwner != "" && p.AllocatorOwner != owner && now.Before(p.AllocatorUntil) {
			return errLeaseHeld
		}
		p.AllocatorOwner, p.AllocatorUntil = owner, now.Add(10*time.Second)
		if s.autoScaleDue(p, now) {
			s.evaluateAutoScale(p, now)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if p.State == PoolDeleting {
		if err := s.removeAllNodes(ctx, accountKey, poolID); err != nil {
			return 0, err
		}
		err := s.cfg.Store.PoolDelete(ctx, accountKey, poolID)
		if err == nil {
			s.log.Info("pool deleted", logkey.Pool, p.ID)
		}
		return 0, err
	}
	nodes, err := s.poolNodes(ctx, accountKey, poolID)
	if err != nil {
		return 0, err
	}
	var ded, low []*Node
	for _, n := range nodes {
		if n.State == NodeLeavingPool {
			continue
		}
		if n.IsDedicated {
			ded = append(ded, n)
		} else {
			low = append(low, n)
		}
	}
	var resizeErr *cobalt.ResizeError
	added := 0
	switch p.AllocationState {
	case AllocResizing:
		if now.Sub(p.Resize.StartTime) > p.Resize.ResizeTimeout {
			resizeErr = &cobalt.ResizeError{Code: errwire.CodeAllocationTimedOut, Message: "The resize did not complete within the resize timeout."}
			break
		}
		for _, kind := range []struct {
			dedicated bool
			have      []*Node
			want      int
		}{{true, ded, p.TargetDedicatedNodes}, {false, low, p.TargetLowPriorityNodes}} {
			switch {
			case len(kind.have) < kind.want:
				need := kind.want - len(kind.have)
				room := s.cfg.MaxNodes - *total
				if s.cfg.LocalHostID != "" || s.cfg.HostPlacement {
					// Hosts bound the nodes: each its own capacity (placer).
					room = need
				}
				if need > room {
					need = max(room, 0)
					resizeErr = &cobalt.ResizeError{Code: errwire.CodeAccountCoreQuotaReached, Message: fmt.Sprintf(
						"The node capacity of this Cobalt installation (%d nodes) has been reached; the pool could not be resized to its target.", s.cfg.MaxNodes),
						Values: []cobalt.NameValue{{Name: "MaxNodes", Value: fmt.Sprint(s.cfg.MaxNodes)}}}
				}
				made, err := s.allocateNodes(ctx, p, kind.dedicated, need)
				added += made
				*total += made
				if err != nil {
					return added, err
				}
				if made < need && resizeErr == nil {
					resizeErr = &cobalt.ResizeError{Code: errwire.CodeAccountCoreQuotaReached, Message: "No ready host of this Cobalt installation has room for more nodes; the pool could not be resized to its target."}
				}
			case len(kind.have) > kind.want:
				if err := s.shrink(ctx, kind.have, len(kind.have)-kind.want, p.Resize.NodeDeallocationOption); err != nil {
					return added, err
				}
			}
		}
	}
	// Recount and settle the pool's state.
	nodes, err = s.poolNodes(ctx, accountKey, poolID)
	if err != nil {
		return added, err
	}
	curD, curL := 0, 0
	for _, n := range nodes {
		if n.State == NodeLeavingPool {
			continue
		}
		if n.IsDedicated {
			curD++
		} else {
			curL++
		}
	}
	_, err = s.updatePool(ctx, accountKey, poolID, func(p *Pool, _ int64) error {
		if p.AllocatorOwner != owner {
			return errLeaseHeld
		}
		t := s.now()
		p.CurrentDedicatedNodes, p.CurrentLowPriorityNodes = curD, curL
		if curD+curL == 0 && p.IdentityWarning != "" {
			p.IdentityWarning = ""
		}
		switch {
		case p.AllocationState == AllocStopping:
			p.TargetDedicatedNodes, p.TargetLowPriorityNodes = curD, curL
			p.AllocationState, p.AllocationStateTransitionTime = AllocSteady, t
		case p.AllocationState == AllocResizing && resizeErr != nil:
			p.Resize.Errors = []cobalt.ResizeError{*resizeErr}
			p.AllocationState, p.AllocationStateTransitionTime = AllocSteady, t
		case p.AllocationState == AllocResizing && curD == p.TargetDedicatedNodes && curL == p.TargetLowPriorityNodes:
			p.Resize.Errors = nil
			p.AllocationState, p.AllocationStateTransitionTime = AllocSteady, t
		}
		p.AllocatorOwner, p.AllocatorUntil = "", time.Time{}
		return nil
	})
	return added, err
}

func (s *Service) poolNodes(ctx context.Context, accountKey, poolID string) ([]*Node, error) {
	var out []*Node
	page := store.Page{Limit: 1000}
	for {
		rs, next, err := s.cfg.Store.NodeList(ctx, store.NodeListParams{AccountKey: accountKey, PoolKey: poolID, Page: page})
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			n, err := decodeNode(r)
			if err != nil {
				return nil, err
			}
			out = append(out, n)
		}
		if next == "" {
			return out, nil
		}
		page.Token = next
	}
}

// allocateNodes creates k node records for the pool, each with a fresh
// credential and the pool's identities at this moment, and starts them.
func (s *Service) allocateNodes(ctx context.Context, p *Pool, dedicated bool, k int) (int, error) {
	if k <= 0 {
		return 0, nil
	}
	var first int64
	cur, err := s.updatePool(ctx, p.AccountKey, p.ID, func(x *Pool, _ int64) error {
		first = x.NodeSeq + 1
		x.NodeSeq += int64(k)
		return nil
	})
	if err != nil {
		return 0, err
	}
	acct, err := s.AccountByID(ctx, cur.AccountKey)
	if err != nil {
		return 0, err
	}
	ids := cur.Identities()
	snap, err := json.Marshal(identityRecords(nodeIdentities(ids)))
	if err != nil {
		return 0, err
	}
	now := s.now()
	ts := strings.ToLower(now.Format("20060102t150405z"))
	cfg, autoFiles := s.nodeConfig(cur, acct)
	pl, err := s.newPlacer(ctx, cur.AccountKey, cur.ID, cur.EnableInterNodeCommunication)
	if err != nil {
		return 0, err
	}
	var launches []NodeLaunch
	made := 0
	// Nodes are stored a chunk per transaction: one commit for many nodes.
	for lo := 0; lo < k; lo += nodeCreateChunk {
		var (
			recs  []store.NodeRecord
			chunk []NodeLaunch
		)
		full := false
		for i := lo; i < min(k, lo+nodeCreateChunk); i++ {
			id := fmt.Sprintf("tvm-%d_%d-%s", cur.NodePrefix, first+int64(i), ts)
			hostID, addr, remote := s.cfg.LocalHostID, s.cfg.PublicAddress, false
			if !pl.none {
				h, err := pl.place()
				if err != nil {
					s.log.Warn("node not allocated", logkey.Pool, cur.ID, logkey.Err, err)
					full = true
					break
				}
				hostID, addr, remote = h.ID, h.Address, !h.Local
			}
			// A node on a joined host gets its credential when that host
			// asks for it (MintHostNodeCredential); until then it has none.
			cred, hash := newCredential(id)
			if remote {
				cred, hash = "", nil
			}
			n := &Node{Node: cobalt.Node{ID: id, PoolID: cur.ID, State: NodeCreating, IsDedicated: dedicated, VMSize: cur.VMSize, SchedulingState: "enabled",
				StateTransitionTime: now, AllocationTime: now, HostID: hostID, IPAddress: addr}, Config: cfg, AutoStorageFiles: autoFiles}
			n.Config.NodeID = id
			r := store.NodeRecord{ID: id, AccountKey: cur.AccountKey, PoolKey: cur.ID, CredentialHash: hash, Identities: snap,
				LeaseExpiry: now.Add(s.cfg.StartTimeout)}
			if err := encodeNodeBody(n, &r); err != nil {
				return 0, err
			}
			recs = append(recs, r)
			if !remote {
				chunk = append(chunk, NodeLaunch{NodeID: id, PoolID: cur.ID, AccountName: acct.Name, Credential: cred, RootDir: s.nodeRootDir(id)})
			}
		}
		if len(recs) == 0 {
			break
		}
		if _, err := s.cfg.Store.NodeCreateMany(ctx, recs); err != nil {
			s.startNodes(ctx, launches)
			return made, err
		}
		if _, err := s.cfg.Store.PoolGet(ctx, cur.AccountKey, cur.ID); cobalt.IsCode(err, cobalt.ENotFound) {
			// The pool was deleted meanwhile: its deleter may have missed these nodes.
			for _, r := range recs {
				_ = s.cfg.Store.NodeDelete(ctx, r.ID)
			}
			break
		}
		made += len(recs)
		launches = append(launches, chunk...)
		if full {
			break
		}
	}
	s.log.Info("nodes allocated", logkey.Pool, cur.ID, logkey.Count, made, logkey.Dedicated, dedicated)
	s.startNodes(ctx, launches)
	return made, nil
}

// nodeCreateChunk is how many nodes allocateNodes stores per transaction.
const nodeCreateChunk = 256

// startNodes starts the agents of stored nodes through the node provider
// and waits until each has started (or failed to, which marks it unusable).
func (s *Service) startNodes(ctx context.Context, launches []NodeLaunch) {
	if s.cfg.Nodes != nil {
		var wg sync.WaitGroup
		for _, l := range launches {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.cfg.Nodes.StartNode(context.WithoutCancel(ctx), l); err != nil {
					s.log.Warn("start node failed", logkey.Node, l.NodeID, logkey.Err, err)
					_, _ = s.updateNode(context.WithoutCancel(ctx), l.NodeID, func(n *Node, _ *store.NodeRecord) error {
						n.State, n.StateTransitionTime = NodeUnusable, s.now()
						n.Errors = append(n.Errors, cobalt.ResizeError{Code: errwire.CodeNodeStartFailed, Message: "The node provider could not start the node."})
						return nil
					})
				}
			}()
		}
		wg.Wait()
	}
}

func nodeIdentities(ids []cobalt.UserAssignedIdentity) []cobalt.UserAssignedIdentity {
	if ids == nil {
		return []cobalt.UserAssignedIdentity{}
	}
	return ids
}

// nodeConfig returns the configuration of a node allocated now, and the
// index and container of each start-task resource file naming an
// auto-storage container, resolved when the node registers.
func (s *Service) nodeConfig(p *Pool, acct *cobalt.Account) (nodeproto.NodeConfig, map[int]string) {
	cfg := nodeproto.NodeConfig{PoolID: p.ID, AccountName: acct.Name, VMSize: strings.ToLower(p.VMSize), Location: firstNonEmpty(acct.Location, s.cfg.Location),
		SubscriptionID: acct.SubscriptionID, ResourceGroup: acct.ResourceGroup, TenantID: acct.TenantID, TaskSlotsPerNode: p.TaskSlotsPerNode,
		AuthorityHost: s.cfg.AuthorityHost, ForwardPorts: s.cfg.ForwardPorts, Identities: []nodeproto.Identity{},
		InterNode: p.EnableInterNodeCommunication}
	var autoFiles map[int]string
	for _, i := range p.Identities() {
		cfg.Identities = append(cfg.Identities, nodeproto.Identity{ResourceID: i.ResourceID, ClientID: i.ClientID, PrincipalID: i.PrincipalID})
	}
	// The pool's named users, without their passwords: the node creates them.
	for _, u := range p.UserAccounts {
		cfg.UserAccounts = append(cfg.UserAccounts, nodeproto.UserAccount{Name: u.Name, ElevationLevel: string(u.ElevationLevel)})
	}
	if st := p.StartTask; st != nil {
		ns := &nodeproto.StartTask{CommandLine: st.CommandLine, MaxTaskRetryCount: st.MaxTaskRetryCount, WaitForSuccess: st.WaitForSuccess}
		for _, e := range st.EnvironmentSettings {
			ns.Environment = append(ns.Environment, nodeproto.EnvironmentSetting{Name: e.Name, Value: e.Value})
		}
		for i, rf := range st.ResourceFiles {
			if rf.AutoStorageContainerName != "" {
				if autoFiles == nil {
					autoFiles = map[int]string{}
				}
				autoFiles[i] = rf.AutoStorageContainerName
			}
			nrf := nodeproto.ResourceFile{StorageContainerURL: rf.StorageContainerURL, HTTPURL: rf.HTTPURL, BlobPrefix: rf.BlobPrefix,
				FilePath: rf.FilePath, FileMode: rf.FileMode}
			if rf.IdentityReference != nil {
				nrf.IdentityResourceID = rf.IdentityReference.ResourceID
			}
			ns.ResourceFiles = append(ns.ResourceFiles, nrf)
		}
		if u := st.UserIdentity; u != nil {
			ns.UserIdentity.UserName = u.UserName
			if u.AutoUser != nil {
				ns.UserIdentity.AutoUserScope, ns.UserIdentity.AutoUserElevation = string(u.AutoUser.Scope), string(u.AutoUser.ElevationLevel)
			}
		}
		// Decoded when the pool was validated: an undecodable value runs
		// without a container no more than it did before.
		ns.Container, _ = startTaskContainer(st.ContainerSettings)
		cfg.StartTask = ns
	}
	cfg.Containers = nodeContainers(p)
	cfg.Mounts = s.nodeMounts(p)
	// Registry passwords are not kept in the node record: the node gets
	// them from the pool when it registers (registrySecrets).
	stripRegistryPasswords(&cfg)
	for _, port := range registryPorts(cfg.Containers, cfg.StartTask, s.cfg.PublicAddress) {
		if !slices.Contains(cfg.ForwardPorts, port) {
			cfg.ForwardPorts = append(slices.Clone(cfg.ForwardPorts), port)
		}
	}
	return cfg, autoFiles
}

// shrink removes k of the given nodes: those not running tasks first.
func (s *Service) shrink(ctx context.Context, nodes []*Node, k int, option string) error {
	rank := func(n *Node) int {
		switch n.State {
		case NodeCreating, NodeUnusable, NodeStartTaskFailed, NodeOffline:
			return 0
		case NodeStarting, NodeWaitingForStartTask, NodeRebooting:
			return 1
		case NodeIdle:
			return 2
		default:
			return 3
		}
	}
	sorted := append([]*Node(nil), nodes...)
	sort.SliceStable(sorted, func(i, j int) bool { return rank(sorted[i]) < rank(sorted[j]) })
	for _, n := range sorted[:k] {
		if err := s.deallocate(ctx, n, option); err != nil {
			return err
		}
	}
	return nil
}

// deallocate takes a node out of its pool. A node that runs no task goes at
// once. A running node goes at once with requeue and terminate (its tasks
// are requeued through the dispatcher's NodeLost) and leaves after its tasks
// with taskcompletion and retaineddata.
func (s *Service) deallocate(ctx context.Context, n *Node, option string) error {
	busy := n.State == NodeRunning || len(n.RunningLeases) > 0
	if busy && (option == DeallocTaskCompletion || option == DeallocRetainedData) {
		_, err := s.updateNode(ctx, n.ID, func(x *Node, _ *store.NodeRecord) error {
			x.State, x.StateTransitionTime, x.DeallocationOption = NodeLeavingPool, s.now(), option
			return nil
		})
		return err
	}
	return s.removeNode(ctx, n, busy)
}

// removeNode stops a node and deletes its record; lost (or a node that may
// run tasks) publishes NodeLost first, so that its tasks are requeued.
func (s *Service) removeNode(ctx context.Context, n *Node, lost bool) error {
	if lost || n.State == NodeRunning || len(n.RunningLeases) > 0 {
		if err := s.publishNodeLost(ctx, n.Ref()); err != nil {
			return fmt.Errorf("requeue tasks of node %s: %w", n.ID, err)
		}
	}
	if s.cfg.Nodes != nil {
		if err := s.cfg.Nodes.StopNode(ctx, n.ID); err != nil {
			s.log.Warn("stop node failed", logkey.Node, n.ID, logkey.Err, err)
		}
	}
	if err := s.cfg.Store.NodeDelete(ctx, n.ID); err != nil && !cobalt.IsCode(err, cobalt.ENotFound) {
		return err
	}
	return nil
}

// removeAllNodes stops and deletes every node of a pool.
func (s *Service) removeAllNodes(ctx context.Context, accountKey, poolID string) error {
	return s.removeNodesWhere(ctx, store.NodeListParams{AccountKey: accountKey, PoolKey: poolID})
}

// removeNodesWhere stops and deletes every node the params select.
func (s *Service) removeNodesWhere(ctx context.Context, params store.NodeListParams) error {
	params.Page = store.Page{Limit: 5000}
	rs, _, err := s.cfg.Store.NodeList(ctx, params)
	if err != nil {
		return err
	}
	var nodes []*Node
	for _, r := range rs {
		n, err := decodeNode(r)
		if err != nil {
			return err
		}
		nodes = append(nodes, n)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(nodes))
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.removeNode(ctx, n, n.State == NodeRunning)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// expireNodes declares nodes whose lease expired lost: unusable (or offline
// if it never registered), with their tasks requeued.
func (s *Service) expireNodes(ctx context.Context) error {
	now := s.now()
	rs, _, err := s.cfg.Store.NodeList(ctx, store.NodeListParams{ExpiredBefore: now, Page: store.Page{Limit: 500}})
	if err != nil {
		return err
	}
	for _, r := range rs {
		if r.State == NodeUnusable || r.State == NodeOffline {
			continue
		}
		n, err := s.updateNode(ctx, r.ID, func(x *Node, rec *store.NodeRecord) error {
			if rec.LeaseExpiry.IsZero() || !rec.LeaseExpiry.Before(now) {
				return errLeaseHeld
			}
			if x.State == NodeLeavingPool {
				x.State = NodeOffline
			} else {
				x.State = NodeUnusable
			}
			x.StateTransitionTime = now
			x.Errors = append(x.Errors, cobalt.ResizeError{Code: errwire.CodeNodeHeartbeatLost, Message: "The node stopped reporting to the control plane."})
			rec.LeaseExpiry = time.Time{}
			return nil
		})
		if errors.Is(err, errLeaseHeld) || cobalt.IsCode(err, cobalt.ENotFound) {
			continue
		}
		if err != nil {
			return err
		}
		s.log.Warn("node lost", logkey.Node, n.ID, logkey.Pool, n.PoolID)
		if err := s.publishNodeLost(ctx, n.Ref()); err != nil {
			s.log.Warn("requeue tasks of lost node failed", logkey.Node, n.ID, logkey.Err, err)
		}
		if n.State == NodeOffline {
			_ = s.removeNode(ctx, n, false)
		}
	}
	return nil
}
