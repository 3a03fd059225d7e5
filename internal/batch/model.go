package batch

import (
	"encoding/json"
	"time"
)

// Pool is the canonical pool model. Both the management-plane (ARM) JSON and
// the data-plane JSON are renderings of it (see arm.go and dataplane.go); the
// store keeps it as JSON. Enumerations hold the data plane's spelling
// ("steady", "requeue", "spread", "dockerCompatible"); the ARM rendering maps
// them to ARM's ("Steady", "Requeue", "Spread", "DockerCompatible").
// Sub-objects that Cobalt passes through without acting on them are kept as
// raw JSON in the ARM shape.
type Pool struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName,omitempty"`
	VMSize      string `json:"vmSize"`

	VirtualMachineConfiguration *VirtualMachineConfiguration `json:"virtualMachineConfiguration,omitempty"`

	// Fixed scale (when EnableAutoScale is false).
	TargetDedicatedNodes   int           `json:"targetDedicatedNodes"`
	TargetLowPriorityNodes int           `json:"targetLowPriorityNodes"`
	ResizeTimeout          time.Duration `json:"resizeTimeout"`
	// NodeDeallocationOption is the option of the current or last resize.
	NodeDeallocationOption string `json:"nodeDeallocationOption,omitempty"`

	EnableAutoScale             bool          `json:"enableAutoScale,omitempty"`
	AutoScaleFormula            string        `json:"autoScaleFormula,omitempty"`
	AutoScaleEvaluationInterval time.Duration `json:"autoScaleEvaluationInterval,omitempty"`
	AutoScaleRun                *AutoScaleRun `json:"autoScaleRun,omitempty"`

	EnableInterNodeCommunication bool                          `json:"enableInterNodeCommunication,omitempty"`
	NetworkConfiguration         json.RawMessage               `json:"networkConfiguration,omitempty"`
	StartTask                    *StartTask                    `json:"startTask,omitempty"`
	TaskSlotsPerNode             int                           `json:"taskSlotsPerNode"`
	TaskSchedulingPolicy         TaskSchedulingPolicy          `json:"taskSchedulingPolicy"`
	UserAccounts                 json.RawMessage               `json:"userAccounts,omitempty"`
	Metadata                     []NameValue                   `json:"metadata,omitempty"`
	MountConfiguration           json.RawMessage               `json:"mountConfiguration,omitempty"`
	ApplicationPackages          []ApplicationPackageReference `json:"applicationPackages,omitempty"`
	CertificateReferences        json.RawMessage               `json:"certificateReferences,omitempty"`
	UpgradePolicy                json.RawMessage               `json:"upgradePolicy,omitempty"`
	TargetNodeCommunicationMode  string                        `json:"targetNodeCommunicationMode,omitempty"`
	Tags                         map[string]string             `json:"tags,omitempty"`
	Identity                     *PoolIdentity                 `json:"identity,omitempty"`
	// Extra keeps unknown ARM pool properties (under "properties") so they round-trip.
	Extra map[string]json.RawMessage `json:"extra,omitempty"`

	// Read-only runtime state.
	State                         string       `json:"state"`
	StateTransitionTime           time.Time    `json:"stateTransitionTime"`
	AllocationState               string       `json:"allocationState"`
	AllocationStateTransitionTime time.Time    `json:"allocationStateTransitionTime"`
	CreationTime                  time.Time    `json:"creationTime"`
	LastModified                  time.Time    `json:"lastModified"`
	CurrentDedicatedNodes         int          `json:"currentDedicatedNodes"`
	CurrentLowPriorityNodes       int          `json:"currentLowPriorityNodes"`
	Resize                        ResizeStatus `json:"resize"`
	// IdentityWarning is set while nodes carry an identity set that differs
	// from the pool's (after an identity update on a pool with nodes).
	IdentityWarning string `json:"identityWarning,omitempty"`
	// NodePrefix and NodeSeq make node IDs: tvm-<NodePrefix>_<NodeSeq>-<time>.
	NodePrefix int64 `json:"nodePrefix"`
	NodeSeq    int64 `json:"nodeSeq"`
	// AllocatorOwner and AllocatorUntil are the allocator lease: the one
	// replica that may create and remove this pool's nodes until then.
	AllocatorOwner string    `json:"allocatorOwner,omitempty"`
	AllocatorUntil time.Time `json:"allocatorUntil"`
	// ETag is filled from the store version when the pool is read.
	ETag string `json:"-"`
	// AccountKey is filled from the store when the pool is read.
	AccountKey string `json:"-"`
}

// ResizeStatus describes the current (allocation state resizing) or last
// (steady) resize of a pool.
type ResizeStatus struct {
	TargetDedicatedNodes   int           `json:"targetDedicatedNodes"`
	TargetLowPriorityNodes int           `json:"targetLowPriorityNodes"`
	ResizeTimeout          time.Duration `json:"resizeTimeout"`
	NodeDeallocationOption string        `json:"nodeDeallocationOption,omitempty"`
	StartTime              time.Time     `json:"startTime"`
	Errors                 []ResizeError `json:"errors,omitempty"`
}

// ResizeError is an error of a resize.
type ResizeError struct {
	Code    string      `json:"code"`
	Message string      `json:"message"`
	Values  []NameValue `json:"values,omitempty"`
}

// VirtualMachineConfiguration is the pool's node image and node agent.
type VirtualMachineConfiguration struct {
	ImageReference         ImageReference          `json:"imageReference"`
	NodeAgentSkuID         string                  `json:"nodeAgentSkuId"`
	ContainerConfiguration *ContainerConfiguration `json:"containerConfiguration,omitempty"`
	// Extra keeps the other properties (dataDisks, osDisk, ...) in ARM shape.
	Extra map[string]json.RawMessage `json:"extra,omitempty"`
}

// ImageReference names a node image.
type ImageReference struct {
	Publisher               string `json:"publisher,omitempty"`
	Offer                   string `json:"offer,omitempty"`
	Sku                     string `json:"sku,omitempty"`
	Version                 string `json:"version,omitempty"`
	ID                      string `json:"id,omitempty"`
	SharedGalleryImageID    string `json:"sharedGalleryImageId,omitempty"`
	CommunityGalleryImageID string `json:"communityGalleryImageId,omitempty"`
}

// ContainerConfiguration enables container tasks on a pool.
type ContainerConfiguration struct {
	// Type is "dockerCompatible" or "criCompatible".
	Type                string              `json:"type"`
	ContainerImageNames []string            `json:"containerImageNames,omitempty"`
	ContainerRegistries []ContainerRegistry `json:"containerRegistries,omitempty"`
}

// ContainerRegistry is a private registry, with a user name and password or an identity.
type ContainerRegistry struct {
	Username          string             `json:"username,omitempty"`
	Password          string             `json:"password,omitempty"`
	RegistryServer    string             `json:"registryServer,omitempty"`
	IdentityReference *IdentityReference `json:"identityReference,omitempty"`
}

// IdentityReference names one of the pool's user-assigned identities.
type IdentityReference struct {
	ResourceID string `json:"resourceId"`
}

// StartTask runs on every node when it joins the pool.
type StartTask struct {
	CommandLine         string          `json:"commandLine"`
	ResourceFiles       []ResourceFile  `json:"resourceFiles,omitempty"`
	EnvironmentSettings []NameValue     `json:"environmentSettings,omitempty"`
	UserIdentity        *UserIdentity   `json:"userIdentity,omitempty"`
	MaxTaskRetryCount   int             `json:"maxTaskRetryCount"`
	WaitForSuccess      bool            `json:"waitForSuccess"`
	ContainerSettings   json.RawMessage `json:"containerSettings,omitempty"`
}

// ResourceFile is a file downloaded to a node before a task runs.
type ResourceFile struct {
	AutoStorageContainerName string             `json:"autoStorageContainerName,omitempty"`
	StorageContainerURL      string             `json:"storageContainerUrl,omitempty"`
	HTTPURL                  string             `json:"httpUrl,omitempty"`
	BlobPrefix               string             `json:"blobPrefix,omitempty"`
	FilePath                 string             `json:"filePath,omitempty"`
	FileMode                 string             `json:"fileMode,omitempty"`
	IdentityReference        *IdentityReference `json:"identityReference,omitempty"`
}

// UserIdentity is the user a task runs as: a named user account or an auto user.
type UserIdentity struct {
	UserName string    `json:"userName,omitempty"`
	AutoUser *AutoUser `json:"autoUser,omitempty"`
}

// AutoUser is Batch's auto user. Scope is "task" or "pool"; ElevationLevel
// is "nonadmin" or "admin".
type AutoUser struct {
	Scope          string `json:"scope,omitempty"`
	ElevationLevel string `json:"elevationLevel,omitempty"`
}

// NameValue is a name/value pair (metadata, environment settings).
type NameValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// ApplicationPackageReference names an application package. ID is the
// application's ARM ID (management plane) or application ID (data plane).
type ApplicationPackageReference struct {
	ID      string `json:"id"`
	Version string `json:"version,omitempty"`
}

// TaskSchedulingPolicy says how tasks are spread over nodes. NodeFillType is
// "spread" or "pack".
type TaskSchedulingPolicy struct {
	NodeFillType    string `json:"nodeFillType"`
	JobDefaultOrder string `json:"jobDefaultOrder,omitempty"`
}

// PoolIdentity is the set of user-assigned identities of a pool. Type is
// "UserAssigned" or "None".
type PoolIdentity struct {
	Type       string         `json:"type"`
	Identities []IdentityInfo `json:"userAssignedIdentities,omitempty"`
}

// IdentityInfo is one user-assigned identity with its principal.
type IdentityInfo struct {
	ResourceID  string `json:"resourceId"`
	ClientID    string `json:"clientId,omitempty"`
	PrincipalID string `json:"principalId,omitempty"`
	TenantID    string `json:"tenantId,omitempty"`
}

// Pool states, allocation states, node deallocation options and fill types
// (data-plane spelling).
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

// Defaults of a new pool.
const (
	DefaultResizeTimeout = 15 * time.Minute
	MinResizeTimeout     = 5 * time.Minute
)

// identityKeys returns the lower-case resource IDs of the pool's identities.
func (p *Pool) identityKeys() map[string]IdentityInfo {
	out := map[string]IdentityInfo{}
	if p.Identity != nil {
		for _, i := range p.Identity.Identities {
			out[lower(i.ResourceID)] = i
		}
	}
	return out
}

// Identities returns the pool's user-assigned identities (nil for none).
func (p *Pool) Identities() []IdentityInfo {
	if p.Identity == nil {
		return nil
	}
	return p.Identity.Identities
}

// TargetNodes returns the total target node count.
func (p *Pool) TargetNodes() int { return p.TargetDedicatedNodes + p.TargetLowPriorityNodes }
