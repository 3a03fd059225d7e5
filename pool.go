package cobalt

import "time"

// Pool is a Batch pool: its user-settable specification and its runtime
// state. Enumerations hold the Batch data plane's spelling ("steady",
// "requeue", "spread", "dockerCompatible"); each wire codec maps them to its
// own. Sub-objects Cobalt accepts but does not act on (network, mount,
// certificate and upgrade settings, other unknown ARM properties) are kept
// as the raw JSON the client sent, in ARM's shape, so they round-trip.
type Pool struct {
	ID          string
	DisplayName string
	VMSize      string

	VirtualMachineConfiguration *VirtualMachineConfiguration

	// Fixed scale (when EnableAutoScale is false).
	TargetDedicatedNodes   int
	TargetLowPriorityNodes int
	ResizeTimeout          time.Duration
	// NodeDeallocationOption is the option of the current or last resize.
	NodeDeallocationOption string

	// Autoscale.
	EnableAutoScale             bool
	AutoScaleFormula            string
	AutoScaleEvaluationInterval time.Duration
	AutoScaleRun                *AutoScaleRun

	EnableInterNodeCommunication bool
	// NetworkConfiguration is raw JSON (ARM shape).
	NetworkConfiguration []byte
	StartTask            *StartTask
	TaskSlotsPerNode     int
	TaskSchedulingPolicy TaskSchedulingPolicy
	// UserAccounts are the named users every node creates; tasks run as
	// one through UserIdentity.UserName.
	UserAccounts []UserAccount
	Metadata     []NameValue
	// MountConfiguration is raw JSON (ARM shape).
	MountConfiguration  []byte
	ApplicationPackages []ApplicationPackageReference
	// CertificateReferences and UpgradePolicy are raw JSON (ARM shape).
	CertificateReferences       []byte
	UpgradePolicy               []byte
	TargetNodeCommunicationMode string
	Tags                        map[string]string
	Identity                    *PoolIdentity
	// Extra keeps unknown ARM pool properties (under "properties"), each as
	// raw JSON, so that they round-trip.
	Extra map[string][]byte

	// Runtime state (read-only to clients).
	State                         string
	StateTransitionTime           time.Time
	AllocationState               string
	AllocationStateTransitionTime time.Time
	CreationTime                  time.Time
	LastModified                  time.Time
	CurrentDedicatedNodes         int
	CurrentLowPriorityNodes       int
	Resize                        ResizeStatus
	// IdentityWarning is set while nodes carry an identity set that differs
	// from the pool's (after an identity update on a pool with nodes).
	IdentityWarning string
	// ETag is the pool's entity tag, from its stored version.
	ETag string
	// AccountKey is the lower-case ARM ID of the pool's Batch account.
	AccountKey string
}

// Pool states, allocation states, node deallocation options and fill types.
const (
	PoolActive   = "active"
	PoolDeleting = "deleting"

	AllocSteady   = "steady"
	AllocResizing = "resizing"
	AllocStopping = "stopping"

	DeallocRequeue        = "requeue"
	DeallocTerminate      = "terminate"
	DeallocTaskCompletion = "taskcompletion"
	DeallocRetainedData   = "retaineddata"

	FillSpread = "spread"
	FillPack   = "pack"
)

// Identities returns the pool's user-assigned identities (nil for none).
func (p *Pool) Identities() []UserAssignedIdentity {
	if p.Identity == nil {
		return nil
	}
	return p.Identity.Identities
}

// TargetNodes returns the total target node count.
func (p *Pool) TargetNodes() int { return p.TargetDedicatedNodes + p.TargetLowPriorityNodes }

// ResizeStatus describes the current (allocation state resizing) or last
// (steady) resize of a pool.
type ResizeStatus struct {
	TargetDedicatedNodes   int
	TargetLowPriorityNodes int
	ResizeTimeout          time.Duration
	NodeDeallocationOption string
	StartTime              time.Time
	Errors                 []ResizeError
}

// ResizeError is an error of a resize, of a node, or of an autoscale
// evaluation: a Batch error code, a message and details.
type ResizeError struct {
	Code    string
	Message string
	Values  []NameValue
}

// AutoScaleRun is the result of the last evaluation of a pool's autoscale
// formula.
type AutoScaleRun struct {
	Timestamp time.Time
	// Results is "$TargetDedicatedNodes=1;$TargetLowPriorityNodes=0;$NodeDeallocationOption=requeue".
	Results string
	Error   *ResizeError
}

// VirtualMachineConfiguration is the pool's node image and node agent.
type VirtualMachineConfiguration struct {
	ImageReference         ImageReference
	NodeAgentSkuID         string
	ContainerConfiguration *ContainerConfiguration
	// Extra keeps the other properties (dataDisks, osDisk, ...) as raw JSON
	// in ARM shape.
	Extra map[string][]byte
}

// ImageReference names a node image: a marketplace image (publisher, offer,
// sku, version) or an image by ID.
type ImageReference struct {
	Publisher               string
	Offer                   string
	Sku                     string
	Version                 string
	ID                      string
	SharedGalleryImageID    string
	CommunityGalleryImageID string
}

// ContainerConfiguration enables container tasks on a pool. Type is
// "dockerCompatible" or "criCompatible".
type ContainerConfiguration struct {
	Type                string
	ContainerImageNames []string
	ContainerRegistries []ContainerRegistry
}

// StartTask runs on every node when it joins the pool.
type StartTask struct {
	CommandLine         string
	ResourceFiles       []ResourceFile
	EnvironmentSettings []NameValue
	UserIdentity        *UserIdentity
	MaxTaskRetryCount   int
	WaitForSuccess      bool
	// ContainerSettings is raw JSON (ARM shape).
	ContainerSettings []byte
}

// ApplicationPackageReference names an application package version.
// ApplicationID is the application's ARM ID (management plane) or
// application ID (data plane).
type ApplicationPackageReference struct {
	ApplicationID string
	Version       string
}

// TaskSchedulingPolicy says how tasks are spread over nodes. NodeFillType is
// "spread" or "pack"; JobDefaultOrder "none" or "creationtime".
type TaskSchedulingPolicy struct {
	NodeFillType    string
	JobDefaultOrder string
}

// PoolIdentity is the set of user-assigned identities of a pool. Type is
// "UserAssigned" or "None".
type PoolIdentity struct {
	Type       string
	Identities []UserAssignedIdentity
}

// UserAccount is a named user of a pool's nodes. ElevationLevel is empty
// (Batch's default, nonadmin) or one of the ElevationLevel values.
type UserAccount struct {
	Name                     string
	Password                 string
	ElevationLevel           ElevationLevel
	LinuxUserConfiguration   *LinuxUserConfiguration
	WindowsUserConfiguration *WindowsUserConfiguration
}

// LinuxUserConfiguration is a user account's Linux settings: its user and
// group IDs (nil lets the node choose) and the SSH private key shared by the
// pool's nodes for passwordless SSH between them.
type LinuxUserConfiguration struct {
	UID           *int
	GID           *int
	SSHPrivateKey string
}

// WindowsUserConfiguration is a user account's Windows settings. LoginMode
// is "batch" or "interactive".
type WindowsUserConfiguration struct {
	LoginMode string
}
