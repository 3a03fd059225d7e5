package batch

import (
	"github.com/cobaltbatch/cobalt"
	"time"
)

// Spec is a decoded pool request: the user-settable properties of a pool and
// which of them the request carried. It is what both renderings decode to.
type Spec struct {
	// Pool holds the values; only the fields named in Present are meaningful.
	Pool Pool
	// Present names the canonical properties the request carried (see the Field constants).
	Present map[Field]bool
	// ResizeRequested tells that the request set scale settings.
	ResizeRequested bool
}

// Field names a group of user-settable pool properties.
type Field string

// The user-settable property groups.
const (
	FDisplayName  Field = "displayName"
	FVMSize       Field = "vmSize"
	FVMConfig     Field = "virtualMachineConfiguration"
	FScale        Field = "scale"
	FInterNode    Field = "enableInterNodeCommunication"
	FNetwork      Field = "networkConfiguration"
	FStartTask    Field = "startTask"
	FTaskSlots    Field = "taskSlotsPerNode"
	FPolicy       Field = "taskSchedulingPolicy"
	FUserAccounts Field = "userAccounts"
	FMetadata     Field = "metadata"
	FMount        Field = "mountConfiguration"
	FApps         Field = "applicationPackages"
	FCerts        Field = "certificateReferences"
	FUpgrade      Field = "upgradePolicy"
	FCommMode     Field = "targetNodeCommunicationMode"
	FTags         Field = "tags"
	FIdentity     Field = "identity"
	FExtra        Field = "extra"
)

var allFields = []Field{FDisplayName, FVMSize, FVMConfig, FScale, FInterNode, FNetwork, FStartTask, FTaskSlots, FPolicy,
	FUserAccounts, FMetadata, FMount, FApps, FCerts, FUpgrade, FCommMode, FTags, FIdentity, FExtra}

// NewSpec returns an empty spec, ready for a decoder to fill.
func NewSpec() *Spec { return &Spec{Present: map[Field]bool{}} }

// Set records that the request carried the property group f.
func (s *Spec) Set(f Field) { s.Present[f] = true }

// Apply writes the spec onto p. With replace, properties the spec lacks are
// reset to their defaults (a PUT); without, they are left as they are (a PATCH).
func (s *Spec) Apply(p *Pool, replace bool) {
	var src *Pool
	for _, f := range allFields {
		if !s.Present[f] && !replace {
			continue
		}
		if !s.Present[f] {
			src = defaults()
		} else {
			src = &s.Pool
		}
		switch f {
		case FDisplayName:
			p.DisplayName = src.DisplayName
		case FVMSize:
			p.VMSize = src.VMSize
		case FVMConfig:
			p.VirtualMachineConfiguration = src.VirtualMachineConfiguration
		case FScale:
			if !s.Present[f] && !p.CreationTime.IsZero() {
				// A PUT without scale settings keeps the current scale of an existing pool.
				continue
			}
			p.TargetDedicatedNodes, p.TargetLowPriorityNodes = src.TargetDedicatedNodes, src.TargetLowPriorityNodes
			p.ResizeTimeout, p.NodeDeallocationOption = src.ResizeTimeout, src.NodeDeallocationOption
			p.EnableAutoScale, p.AutoScaleFormula, p.AutoScaleEvaluationInterval = src.EnableAutoScale, src.AutoScaleFormula, src.AutoScaleEvaluationInterval
		case FInterNode:
			p.EnableInterNodeCommunication = src.EnableInterNodeCommunication
		case FNetwork:
			p.NetworkConfiguration = src.NetworkConfiguration
		case FStartTask:
			p.StartTask = src.StartTask
		case FTaskSlots:
			p.TaskSlotsPerNode = src.TaskSlotsPerNode
		case FPolicy:
			p.TaskSchedulingPolicy = src.TaskSchedulingPolicy
		case FUserAccounts:
			p.UserAccounts = src.UserAccounts
		case FMetadata:
			p.Metadata = src.Metadata
		case FMount:
			p.MountConfiguration = src.MountConfiguration
		case FApps:
			p.ApplicationPackages = src.ApplicationPackages
		case FCerts:
			p.CertificateReferences = src.CertificateReferences
		case FUpgrade:
			p.UpgradePolicy = src.UpgradePolicy
		case FCommMode:
			p.TargetNodeCommunicationMode = src.TargetNodeCommunicationMode
		case FTags:
			p.Tags = src.Tags
		case FIdentity:
			p.Identity = src.Identity
		case FExtra:
			p.Extra = src.Extra
		}
	}
}

// defaults returns a pool with every user-settable property at its default.
func defaults() *Pool {
	return &Pool{Pool: cobalt.Pool{ResizeTimeout: DefaultResizeTimeout, TaskSlotsPerNode: 1,
		TaskSchedulingPolicy: cobalt.TaskSchedulingPolicy{NodeFillType: FillSpread}, NodeDeallocationOption: DeallocRequeue}}
}

// NewPool returns a new pool with the given ID, created now, with spec applied.
func NewPool(id string, spec *Spec, now time.Time) *Pool {
	p := defaults()
	p.ID = id
	spec.Apply(p, true)
	p.State, p.AllocationState = PoolActive, AllocSteady
	p.CreationTime, p.LastModified, p.StateTransitionTime, p.AllocationStateTransitionTime = now, now, now, now
	return p
}
