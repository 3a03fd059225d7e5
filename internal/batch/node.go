package batch

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/errwire"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// Node states (data-plane spelling), as the root package declares them.
const (
	NodeCreating            = cobalt.NodeCreating
	NodeStarting            = cobalt.NodeStarting
	NodeWaitingForStartTask = cobalt.NodeWaitingForStartTask
	NodeStartTaskFailed     = cobalt.NodeStartTaskFailed
	NodeIdle                = cobalt.NodeIdle
	NodeRunning             = cobalt.NodeRunning
	NodeUnusable            = cobalt.NodeUnusable
	NodeOffline             = cobalt.NodeOffline
	NodeLeavingPool         = cobalt.NodeLeavingPool
	NodeRebooting           = cobalt.NodeRebooting
	NodeReimaging           = cobalt.NodeReimaging
	NodeDeallocating        = cobalt.NodeDeallocating
	NodeDeallocated         = cobalt.NodeDeallocated
)

// Node is a stored compute node: the domain node and what the pool service
// keeps for its agent and its allocator.
type Node struct {
	cobalt.Node
	// StartTaskInfo is the start task's progress as the agent reports it.
	StartTaskInfo *nodeproto.StartTaskInfo
	// Config is the node's configuration, fixed at allocation.
	Config nodeproto.NodeConfig
	// Commands are pending commands for the agent ("reboot", "remove").
	Commands []string
	// DeallocationOption is how the node leaves its pool, once it must.
	DeallocationOption string
	// AutoStorageFiles maps the index of each start-task resource file that
	// names an auto-storage container to the container's name; its URL is
	// made at every registration (see resolveStartTaskFiles).
	AutoStorageFiles map[int]string
	// Users are the node's user accounts (data-plane node users), with
	// bcrypt password hashes only.
	Users []nodeproto.NodeUser
	// RemoteLoginPort is the host port of the node's SSH server, as its
	// agent reports it (0: none).
	RemoteLoginPort int
	// LogUploads are the service-log uploads the node has yet to report;
	// LogResults those it reported, until their requests read them.
	LogUploads []nodeproto.LogUpload
	LogResults []nodeproto.LogUploadResult

	// credHash is the hash of the credential that authenticated the node
	// (zero for a node read otherwise); cached says it came from the
	// authentication cache (nodeauth.go).
	credHash [sha256.Size]byte
	cached   bool
}

// nodeBody is the JSON body of a node record.
type nodeBody struct {
	PoolID              string               `json:"poolId"`
	IsDedicated         bool                 `json:"isDedicated"`
	VMSize              string               `json:"vmSize"`
	SchedulingState     string               `json:"schedulingState"`
	StateTransitionTime time.Time            `json:"stateTransitionTime"`
	AllocationTime      time.Time            `json:"allocationTime"`
	LastBootTime        time.Time            `json:"lastBootTime"`
	Errors              []resizeErrorRecord  `json:"errors,omitempty"`
	Commands            []string             `json:"commands,omitempty"`
	Config              nodeproto.NodeConfig `json:"config"`
	RunningLeases       []string             `json:"runningLeases,omitempty"`
	DeallocationOption  string               `json:"deallocationOption,omitempty"`
	AgentVersion        string               `json:"agentVersion,omitempty"`
	Isolation           string               `json:"isolation,omitempty"`
	// IPAddress is the address of the node's host at allocation.
	IPAddress string `json:"ipAddress,omitempty"`
	// AutoStorageFiles maps the index of each start-task resource file that
	// names an auto-storage container to the container's name; its URL is
	// made at every registration (see resolveStartTaskFiles).
	AutoStorageFiles map[int]string              `json:"autoStorageFiles,omitempty"`
	Users            []nodeproto.NodeUser        `json:"users,omitempty"`
	RemoteLoginPort  int                         `json:"remoteLoginPort,omitempty"`
	LogUploads       []nodeproto.LogUpload       `json:"logUploads,omitempty"`
	LogResults       []nodeproto.LogUploadResult `json:"logResults,omitempty"`
}

func decodeNode(r store.NodeRecord) (*Node, error) {
	var b nodeBody
	if err := json.Unmarshal(r.Body, &b); err != nil {
		return nil, fmt.Errorf("decode node %s: %w", r.ID, err)
	}
	n := &Node{Node: cobalt.Node{ID: r.ID, AccountKey: r.AccountKey, PoolID: b.PoolID, State: r.State, SchedulingState: b.SchedulingState,
		IsDedicated: b.IsDedicated, VMSize: b.VMSize, StateTransitionTime: b.StateTransitionTime, AllocationTime: b.AllocationTime,
		LastBootTime: b.LastBootTime, Errors: resizeErrors(b.Errors), RunningLeases: b.RunningLeases, AgentVersion: b.AgentVersion,
		Isolation: b.Isolation, HeartbeatAt: r.HeartbeatAt, Version: r.Version, HostID: r.HostID, IPAddress: b.IPAddress},
		Config: b.Config, Commands: b.Commands, DeallocationOption: b.DeallocationOption, AutoStorageFiles: b.AutoStorageFiles,
		Users: b.Users, RemoteLoginPort: b.RemoteLoginPort, LogUploads: b.LogUploads, LogResults: b.LogResults}
	var ids []identityRecord
	if err := json.Unmarshal(r.Identities, &ids); err != nil {
		return nil, fmt.Errorf("decode node %s identities: %w", r.ID, err)
	}
	n.Identities = identities(ids)
	if len(r.StartTaskInfo) > 0 {
		n.StartTaskInfo = &nodeproto.StartTaskInfo{}
		if err := json.Unmarshal(r.StartTaskInfo, n.StartTaskInfo); err != nil {
			return nil, fmt.Errorf("decode node %s start task: %w", r.ID, err)
		}
	}
	return n, nil
}

func encodeNodeBody(n *Node, r *store.NodeRecord) error {
	b, err := json.Marshal(nodeBody{PoolID: n.PoolID, IsDedicated: n.IsDedicated, VMSize: n.VMSize, SchedulingState: n.SchedulingState,
		StateTransitionTime: n.StateTransitionTime, AllocationTime: n.AllocationTime, LastBootTime: n.LastBootTime,
		Errors: resizeErrorRecords(n.Errors), Commands: n.Commands, Config: n.Config, RunningLeases: n.RunningLeases,
		DeallocationOption: n.DeallocationOption, AgentVersion: n.AgentVersion, Isolation: n.Isolation, AutoStorageFiles: n.AutoStorageFiles,
		Users: n.Users, RemoteLoginPort: n.RemoteLoginPort, IPAddress: n.IPAddress, LogUploads: n.LogUploads, LogResults: n.LogResults})
	if err != nil {
		return err
	}
	r.Body, r.State, r.HostID = b, n.State, n.HostID
	if n.StartTaskInfo != nil {
		if r.StartTaskInfo, err = json.Marshal(n.StartTaskInfo); err != nil {
			return err
		}
	}
	return nil
}

// newCredential returns a node credential "<nodeID>.<secret>" and the hash stored for it.
func newCredential(nodeID string) (string, []byte) {
	var b [32]byte
	_, _ = rand.Read(b[:])
	secret := base64.RawURLEncoding.EncodeToString(b[:])
	h := sha256.Sum256([]byte(secret))
	return nodeID + "." + secret, h[:]
}

func unauthorized() error {
	return cobalt.Errorf(cobalt.EUnauthorized, "The node credential is not valid.").WithReason(errwire.ReasonUnauthorized)
}

// NodeAuthenticate returns the node a credential belongs to. The hash
// comparison is constant-time; an unknown node, a wrong secret and a removed
// node all give the same EUnauthorized error.
func (s *Service) NodeAuthenticate(ctx context.Context, credential string) (*Node, error) {
	id, secret, ok := strings.Cut(credential, ".")
	if !ok || id == "" || secret == "" || len(credential) > 512 {
		return nil, unauthorized()
	}
	r, err := s.cfg.Store.NodeGet(ctx, id)
	if cobalt.IsCode(err, cobalt.ENotFound) {
		return nil, unauthorized()
	}
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(h[:], r.CredentialHash) != 1 {
		s.auth.drop(id)
		return nil, unauthorized()
	}
	n, err := decodeNode(r)
	if err != nil {
		return nil, err
	}
	n.credHash = h
	s.auth.put(n, h, s.now())
	return n, nil
}

// NodeRegister records that a node's agent started and returns the node's
// configuration, fixed at allocation (identities included).
func (s *Service) NodeRegister(ctx context.Context, n *Node, req nodeproto.RegisterRequest) (nodeproto.NodeConfig, error) {
	now := s.now()
	hostID := ""
	out, err := s.updateNode(ctx, n.ID, func(x *Node, r *store.NodeRecord) error {
		hostID = r.HostID
		if x.State == NodeCreating || x.State == NodeRebooting || x.State == NodeUnusable || x.State == NodeReimaging {
			x.State, x.StateTransitionTime = NodeStarting, now
			x.Errors = nil // a restarted agent reports its own anew
		}
		x.LastBootTime, x.AgentVersion, x.Isolation = now, req.AgentVersion, req.Isolation
		x.Commands = removeCmd(removeCmd(removeCmd(x.Commands, "reboot"), cmdReimage), cmdReimageAfterTasks)
		if x.State == NodeDeallocating || x.State == NodeDeallocated {
			// A restarted agent of a deallocated node stays deallocated.
			x.Commands = append(removeCmd(x.Commands, cmdDeallocate), cmdDeallocate)
		}
		x.RunningLeases = nil // a registering agent runs nothing yet
		r.HeartbeatAt, r.LeaseExpiry = now, now.Add(s.cfg.HeartbeatTimeout)
		return nil
	})
	if err != nil {
		return nodeproto.NodeConfig{}, err
	}
	cfg := out.Config
	// Ports are read at every registration, since they may change across
	// restarts: the control plane's current ones join those fixed at
	// allocation, and the node's own Batch account's data plane, on its own
	// port, is reached from inside a node namespace like the other services.
	ports := slices.Clone(cfg.ForwardPorts)
	ports = append(ports, s.cfg.ForwardPorts...)
	if acct, err := s.AccountByID(ctx, out.AccountKey); err == nil {
		if port := endpointPort(acct.Endpoint); port > 0 {
			ports = append(ports, port)
		}
	} else if !cobalt.IsCode(err, cobalt.ENotFound) {
		return nodeproto.NodeConfig{}, err
	}
	var uniq []int
	for _, p := range ports {
		if !slices.Contains(uniq, p) {
			uniq = append(uniq, p)
		}
	}
	cfg.ForwardPorts = uniq
	cfg.AzureNamesPort = s.cfg.AzureNamesPort
	cfg.PublicAddress = s.cfg.PublicAddress
	cfg.LoginAddress = out.IPAddress
	if hostID != "" && hostID != s.cfg.LocalHostID {
		// A joined host's node may be cut off from the control plane while
		// its tasks run: it kills them before they are requeued elsewhere.
		cfg.FenceMillis = s.fence().Milliseconds()
	}
	s.resolveStartTaskFiles(ctx, out, &cfg)
	s.registrySecrets(ctx, out, &cfg)
	return cfg, nil
}

// endpointPort returns the port of a host:port account endpoint, 0 if none.
func endpointPort(hostPort string) int {
	_, p, err := net.SplitHostPort(hostPort)
	if err != nil {
		return 0
	}
	port, err := strconv.Atoi(p)
	if err != nil || port <= 0 || port > 65535 {
		return 0
	}
	return port
}

// agentStates are the states a node agent may report.
var agentStates = map[string]bool{NodeStarting: true, NodeWaitingForStartTask: true, NodeStartTaskFailed: true,
	NodeIdle: true, NodeRunning: true, NodeUnusable: true, NodeDeallocated: true}

// NodeHeartbeat records a node's report and returns its pending commands.
func (s *Service) NodeHeartbeat(ctx context.Context, n *Node, req nodeproto.HeartbeatRequest) ([]string, error) {
	if !agentStates[req.State] {
		return nil, cobalt.Errorf(cobalt.EInvalid, "The node state '%s' cannot be reported by an agent.", trunc(req.State)).WithReason(errwire.ReasonInvalidRequest)
	}
	now := s.now()
	if cmds, ok, err := s.touchHeartbeat(ctx, n, req, now); ok || err != nil {
		return cmds, err
	}
	if n.cached && heartbeatOnly(n, req) {
		// The node moved since the cache confirmed it (another replica took
		// its last heartbeat, or it changed): read it, check the credential
		// again, and touch it at its current version if that is all.
		fresh, err := s.NodeRevalidate(ctx, n)
		if err != nil {
			return nil, err
		}
		n = fresh
		if cmds, ok, err := s.touchHeartbeat(ctx, n, req, now); ok || err != nil {
			return cmds, err
		}
	}
	var leave bool
	// The node changed since it was authenticated (or the heartbeat changes
	// it): the full update reads it, and the credential that authenticated
	// a cached node must still be its own.
	s.auth.drop(n.ID)
	out, err := s.updateNode(ctx, n.ID, func(x *Node, r *store.NodeRecord) error {
		if n.credHash != ([sha256.Size]byte{}) && subtle.ConstantTimeCompare(n.credHash[:], r.CredentialHash) != 1 {
			return unauthorized()
		}
		leave = false
		switch {
		case x.State == NodeDeallocating && req.State == NodeDeallocated:
			x.State, x.StateTransitionTime = NodeDeallocated, now
			x.Commands = removeCmd(removeCmd(x.Commands, cmdDeallocate), cmdDeallocateAfterTasks)
		case req.State == NodeDeallocated || x.State == NodeDeallocating || x.State == NodeDeallocated || x.State == NodeReimaging:
			// Those states change only by the control plane's command (or
			// the node's registration after a reimage).
		case x.State == NodeLeavingPool:
			// Leaving with taskcompletion/retaineddata: goes once idle.
			if req.State == NodeIdle || req.State == NodeStartTaskFailed || req.State == NodeUnusable {
				leave = true
			}
		default:
			st := req.State
			if st == NodeIdle && x.SchedulingState == "disabled" {
				st = NodeOffline
			}
			if x.State != st {
				x.State, x.StateTransitionTime = st, now
			}
		}
		if req.StartTaskInfo != nil {
			x.StartTaskInfo = req.StartTaskInfo
		}
		if req.State == NodeUnusable && len(req.Errors) > 0 {
			x.Errors = agentErrors(req.Errors)
		}
		x.RunningLeases = req.RunningLeases
		if req.RemoteLoginPort >= 0 && req.RemoteLoginPort <= 65535 {
			x.RemoteLoginPort = req.RemoteLoginPort
		}
		recordLogResults(x, req.LogUploads)
		r.HeartbeatAt, r.LeaseExpiry = now, now.Add(s.cfg.HeartbeatTimeout)
		return nil
	})
	if n.cached && cobalt.IsCode(err, cobalt.ENotFound) {
		// Removed since the cache confirmed it: refused as if read now.
		return nil, unauthorized()
	}
	if err != nil {
		return nil, err
	}
	if leave {
		s.Wake()
		if err := s.removeNode(ctx, out, false); err != nil {
			return nil, err
		}
		return []string{"remove"}, nil
	}
	return out.Commands, nil
}

func removeCmd(cmds []string, c string) []string {
	var out []string
	for _, x := range cmds {
		if x != c {
			out = append(out, x)
		}
	}
	return out
}

// updateNode applies fn to a node under compare-and-swap, retrying when another writer won.
func (s *Service) updateNode(ctx context.Context, nodeID string, fn func(n *Node, r *store.NodeRecord) error) (*Node, error) {
	for attempt := 0; ; attempt++ {
		var out *Node
		_, err := s.cfg.Store.NodeUpdate(ctx, nodeID, func(r *store.NodeRecord) error {
			n, err := decodeNode(*r)
			if err != nil {
				return err
			}
			if err := fn(n, r); err != nil {
				return err
			}
			out = n
			return encodeNodeBody(n, r)
		})
		if cobalt.IsCode(err, cobalt.EPreconditionFailed) && cobalt.ErrorReason(err) == "" && attempt < 20 {
			continue
		}
		if cobalt.IsCode(err, cobalt.ENotFound) && cobalt.ErrorReason(err) == "" {
			return nil, nodeNotFound(nodeID)
		}
		return out, err
	}
}

func nodeNotFound(id string) error {
	return cobalt.Errorf(cobalt.ENotFound, "The specified compute node '%s' does not exist.", trunc(id)).WithReason(errwire.ReasonNodeNotFound)
}

// NodeList lists a pool's nodes.
func (s *Service) NodeList(ctx context.Context, accountKey, poolID string, page store.Page) ([]*Node, string, error) {
	if _, err := s.PoolGet(ctx, accountKey, poolID); err != nil {
		return nil, "", err
	}
	rs, next, err := s.cfg.Store.NodeList(ctx, store.NodeListParams{AccountKey: accountKey, PoolKey: poolID, Page: page})
	if err != nil {
		return nil, "", err
	}
	out := make([]*Node, 0, len(rs))
	for _, r := range rs {
		n, err := decodeNode(r)
		if err != nil {
			return nil, "", err
		}
		out = append(out, n)
	}
	return out, next, nil
}

// NodeGet returns one node of a pool, or 404 NodeNotFound.
func (s *Service) NodeGet(ctx context.Context, accountKey, poolID, nodeID string) (*Node, error) {
	r, err := s.cfg.Store.NodeGet(ctx, nodeID)
	if cobalt.IsCode(err, cobalt.ENotFound) || (err == nil && (r.AccountKey != lower(accountKey) || r.PoolKey != lower(poolID))) {
		return nil, nodeNotFound(nodeID)
	}
	if err != nil {
		return nil, err
	}
	return decodeNode(r)
}

// NodeReboot asks a node to reboot: its agent gets a "reboot" command at its next heartbeat.
func (s *Service) NodeReboot(ctx context.Context, accountKey, poolID, nodeID string) error {
	if _, err := s.NodeGet(ctx, accountKey, poolID, nodeID); err != nil {
		return err
	}
	_, err := s.updateNode(ctx, nodeID, func(n *Node, _ *store.NodeRecord) error {
		if err := nodeBusyConflict(n); err != nil && n.State != NodeRebooting {
			return err
		}
		n.State, n.StateTransitionTime = NodeRebooting, s.now()
		n.Commands = append(removeCmd(n.Commands, "reboot"), "reboot")
		return nil
	})
	return err
}

// NodeRemove removes nodes from a pool (data-plane removenodes): the pool's
// target shrinks by the nodes removed; option is the node deallocation option.
func (s *Service) NodeRemove(ctx context.Context, accountKey, poolID string, nodeIDs []string, option string) error {
	if len(nodeIDs) == 0 || len(nodeIDs) > 100 {
		return invalidValue("nodeList", "nodeList must name between 1 and 100 nodes.")
	}
	if option == "" {
		option = DeallocRequeue
	}
	if !knownEnum("nodeDeallocationOption", option) {
		return invalidValue("nodeDeallocationOption", "The value '%s' of nodeDeallocationOption is not valid.", trunc(option))
	}
	option = toDP("nodeDeallocationOption", option)
	var nodes []*Node
	for _, id := range nodeIDs {
		n, err := s.NodeGet(ctx, accountKey, poolID, id)
		if err != nil {
			return err
		}
		nodes = append(nodes, n)
	}
	_, err := s.updatePool(ctx, accountKey, poolID, func(p *Pool, _ int64) error {
		if p.State == PoolDeleting {
			return poolBeingDeleted(poolID)
		}
		if p.AllocationState != AllocSteady {
			return cobalt.Errorf(cobalt.EConflict, "Nodes can only be removed from a pool whose allocation state is steady.").WithReason(errwire.ReasonPoolNotSteady)
		}
		for _, n := range nodes {
			if n.IsDedicated && p.TargetDedicatedNodes > 0 {
				p.TargetDedicatedNodes--
			} else if !n.IsDedicated && p.TargetLowPriorityNodes > 0 {
				p.TargetLowPriorityNodes--
			}
		}
		p.NodeDeallocationOption = option
		s.startResize(p, s.now())
		return nil
	})
	if err != nil {
		return err
	}
	for _, n := range nodes {
		if err := s.deallocate(ctx, n, option); err != nil {
			return err
		}
	}
	s.Wake()
	return nil
}

// NodeSetScheduling enables or disables task scheduling on a node (data
// plane enablescheduling / disablescheduling). A node with scheduling
// disabled gets no new leases and shows "offline" while idle.
func (s *Service) NodeSetScheduling(ctx context.Context, accountKey, poolID, nodeID string, enabled bool) error {
	if _, err := s.NodeGet(ctx, accountKey, poolID, nodeID); err != nil {
		return err
	}
	_, err := s.updateNode(ctx, nodeID, func(n *Node, _ *store.NodeRecord) error {
		now := s.now()
		if enabled {
			n.SchedulingState = "enabled"
			if n.State == NodeOffline {
				n.State, n.StateTransitionTime = NodeIdle, now
			}
			return nil
		}
		n.SchedulingState = "disabled"
		if n.State == NodeIdle {
			n.State, n.StateTransitionTime = NodeOffline, now
		}
		return nil
	})
	return err
}
