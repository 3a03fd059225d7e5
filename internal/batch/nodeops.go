package batch

import (
	"context"
	"encoding/json"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/errwire"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// Agent commands for reimage and deallocation (see nodeproto.HeartbeatResponse).
const (
	cmdReimage              = "reimage"
	cmdReimageAfterTasks    = "reimage:aftertasks"
	cmdDeallocate           = "deallocate"
	cmdDeallocateAfterTasks = "deallocate:aftertasks"
	cmdReboot               = "reboot"
)

// Batch's error codes for node states.
const (
	reasonNodeBeingRebooted = "NodeBeingRebooted"
	reasonNodeBeingReimaged = "NodeBeingReimaged"
)

// nodeOption checks a nodeReimageOption / nodeDeallocateOption (the same
// four values as nodeDeallocationOption) and returns it in data-plane
// spelling, requeue when empty.
func nodeOption(name, v string) (string, error) {
	if v == "" {
		return DeallocRequeue, nil
	}
	if !knownEnum("nodeDeallocationOption", v) {
		return "", invalidValue(name, "The value '%s' of %s is not valid.", trunc(v), name)
	}
	return toDP("nodeDeallocationOption", v), nil
}

// afterTasks says whether an option lets the node's running tasks finish.
func afterTasks(option string) bool {
	return option == DeallocTaskCompletion || option == DeallocRetainedData
}

// nodeBusyConflict refuses an operation on a node in a state that excludes it.
func nodeBusyConflict(n *Node) error {
	switch n.State {
	case NodeRebooting:
		return cobalt.Errorf(cobalt.EConflict, "The node is being rebooted.").WithReason(reasonNodeBeingRebooted)
	case NodeReimaging:
		return cobalt.Errorf(cobalt.EConflict, "The node is being reimaged.").WithReason(reasonNodeBeingReimaged)
	case NodeLeavingPool, NodeDeallocating, NodeDeallocated:
		return cobalt.Errorf(cobalt.EConflict, "The operation is not allowed while the node is %s.", n.State).
			WithReason(errwire.ReasonOperationInvalidForCurrentState)
	}
	return nil
}

// NodeReimage reinstalls a node's operating system (data-plane reimage):
// the node goes to reimaging, its agent stops its tasks (requeue,
// terminate) or lets them finish (taskcompletion, retaineddata), puts the
// node's file systems back to its image, registers again (starting) and
// reruns the start task.
func (s *Service) NodeReimage(ctx context.Context, accountKey, poolID, nodeID, option string) error {
	return s.commandNode(ctx, accountKey, poolID, nodeID, "nodeReimageOption", option, NodeReimaging, cmdReimage, cmdReimageAfterTasks,
		func(n *Node) { n.Users = nil }) // a reimaged node has none of its users
}

// NodeDeallocate deallocates a node (data-plane deallocate): deallocating
// while its agent stops its tasks or lets them finish, then deallocated.
func (s *Service) NodeDeallocate(ctx context.Context, accountKey, poolID, nodeID, option string) error {
	return s.commandNode(ctx, accountKey, poolID, nodeID, "nodeDeallocateOption", option, NodeDeallocating, cmdDeallocate, cmdDeallocateAfterTasks, nil)
}

// commandNode puts a node that is not busy into state and queues cmd for
// its agent, or cmdAfterTasks when the option lets running tasks finish;
// also, if given, changes the node further.
func (s *Service) commandNode(ctx context.Context, accountKey, poolID, nodeID, optionName, option, state, cmd, cmdAfterTasks string, also func(*Node)) error {
	opt, err := nodeOption(optionName, option)
	if err != nil {
		return err
	}
	if _, err := s.NodeGet(ctx, accountKey, poolID, nodeID); err != nil {
		return err
	}
	if afterTasks(opt) {
		cmd = cmdAfterTasks
	}
	_, err = s.updateNode(ctx, nodeID, func(n *Node, _ *store.NodeRecord) error {
		if err := nodeBusyConflict(n); err != nil {
			return err
		}
		n.State, n.StateTransitionTime = state, s.now()
		if also != nil {
			also(n)
		}
		n.Commands = append(removeCmd(n.Commands, cmd), cmd)
		return nil
	})
	return err
}

// NodeStart starts a deallocated node (data-plane start): starting, then
// what its start sequence reports.
func (s *Service) NodeStart(ctx context.Context, accountKey, poolID, nodeID string) error {
	if _, err := s.NodeGet(ctx, accountKey, poolID, nodeID); err != nil {
		return err
	}
	_, err := s.updateNode(ctx, nodeID, func(n *Node, _ *store.NodeRecord) error {
		if n.State != NodeDeallocated {
			return cobalt.Errorf(cobalt.EConflict, "Only a deallocated node can be started; the node is %s.", n.State).
				WithReason(errwire.ReasonOperationInvalidForCurrentState)
		}
		n.State, n.StateTransitionTime = NodeStarting, s.now()
		n.Commands = append(removeCmd(n.Commands, cmdReboot), cmdReboot)
		return nil
	})
	return err
}

// RemoteLogin is where a node's SSH server is reached.
type RemoteLogin struct {
	// IPAddress is the address of the node's host ("" when not known),
	// where the node's agent accepts logins besides 127.0.0.1.
	IPAddress string
	Port      int
}

// NodeRemoteLogin returns the node's SSH port, as its agent reported it; a
// node without one (process isolation, or not started) gets 409.
func (s *Service) NodeRemoteLogin(ctx context.Context, accountKey, poolID, nodeID string) (RemoteLogin, error) {
	n, err := s.NodeGet(ctx, accountKey, poolID, nodeID)
	if err != nil {
		return RemoteLogin{}, err
	}
	if n.State == NodeDeallocated || n.State == NodeDeallocating || n.RemoteLoginPort == 0 {
		return RemoteLogin{}, cobalt.Errorf(cobalt.EConflict, "The node has no remote login endpoint in its current state.").
			WithReason("NodeNotReady")
	}
	return RemoteLogin{IPAddress: n.IPAddress, Port: n.RemoteLoginPort}, nil
}

// NodeExtension is one VM extension of a node: the pool's
// virtualMachineConfiguration.extensions entry (data-plane JSON, without
// protectedSettings) and its provisioning state.
type NodeExtension struct {
	Name              string
	Extension         json.RawMessage
	ProvisioningState string
}

// NodeExtensions returns the VM extensions of a node: those of its pool's
// virtualMachineConfiguration, each provisioned with the node.
func (s *Service) NodeExtensions(ctx context.Context, accountKey, poolID, nodeID string) ([]NodeExtension, error) {
	if _, err := s.NodeGet(ctx, accountKey, poolID, nodeID); err != nil {
		return nil, err
	}
	p, err := s.PoolGet(ctx, accountKey, poolID)
	if err != nil {
		return nil, err
	}
	vc := p.VirtualMachineConfiguration
	if vc == nil || len(vc.Extra["extensions"]) == 0 {
		return nil, nil
	}
	var raws []map[string]json.RawMessage
	if err := json.Unmarshal(vc.Extra["extensions"], &raws); err != nil {
		return nil, nil // not an array of objects: the pool has no extension a node could carry
	}
	var out []NodeExtension
	for _, r := range raws {
		var name string
		if err := json.Unmarshal(r["name"], &name); err != nil || name == "" {
			continue
		}
		delete(r, "protectedSettings") // a secret: never shown, as on Batch
		b, err := json.Marshal(r)
		if err != nil {
			return nil, err
		}
		out = append(out, NodeExtension{Name: name, Extension: b, ProvisioningState: "Succeeded"})
	}
	return out, nil
}

// NodeExtensionGet returns one VM extension of a node, or 404 ResourceNotFound.
func (s *Service) NodeExtensionGet(ctx context.Context, accountKey, poolID, nodeID, name string) (NodeExtension, error) {
	exts, err := s.NodeExtensions(ctx, accountKey, poolID, nodeID)
	if err != nil {
		return NodeExtension{}, err
	}
	for _, e := range exts {
		if e.Name == name {
			return e, nil
		}
	}
	return NodeExtension{}, cobalt.Errorf(cobalt.ENotFound, "The extension '%s' does not exist on the node.", trunc(name)).
		WithReason("ResourceNotFound")
}
