package batch

import (
	"encoding/json"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/batchwire"
)

// Pool is a stored pool: the domain pool and the pool service's own
// bookkeeping of it, which no client sees.
type Pool struct {
	cobalt.Pool
	// NodePrefix and NodeSeq make node IDs: tvm-<NodePrefix>_<NodeSeq>-<time>.
	NodePrefix int64
	NodeSeq    int64
	// AllocatorOwner and AllocatorUntil are the allocator lease: the one
	// replica that may create and remove this pool's nodes until then.
	AllocatorOwner string
	AllocatorUntil time.Time
}

// Pool states, allocation states, node deallocation options and fill types
// (data-plane spelling), as the root package declares them.
const (
	PoolActive   = cobalt.PoolActive
	PoolDeleting = cobalt.PoolDeleting

	AllocSteady   = cobalt.AllocSteady
	AllocResizing = cobalt.AllocResizing
	AllocStopping = cobalt.AllocStopping

	DeallocRequeue        = cobalt.DeallocRequeue
	DeallocTerminate      = cobalt.DeallocTerminate
	DeallocTaskCompletion = cobalt.DeallocTaskCompletion
	DeallocRetainedData   = cobalt.DeallocRetainedData

	FillSpread = cobalt.FillSpread
	FillPack   = cobalt.FillPack
)

// Defaults of a new pool.
const (
	DefaultResizeTimeout = 15 * time.Minute
	// DefaultAutoScaleInterval is how often an autoscale formula runs when the request names no interval.
	DefaultAutoScaleInterval = 15 * time.Minute
	MinResizeTimeout         = 5 * time.Minute
)

// identityKeys returns the pool's identities by lower-case resource ID.
func identityKeys(p *cobalt.Pool) map[string]cobalt.UserAssignedIdentity {
	out := map[string]cobalt.UserAssignedIdentity{}
	for _, i := range p.Identities() {
		out[lower(i.ResourceID)] = i
	}
	return out
}

// poolRecord is the persisted form of a pool: the JSON body of its row, as
// every release has written it. Its sub-records are also the shapes the
// renderings write where the wire and the row agree.
type poolRecord struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName,omitempty"`
	VMSize      string `json:"vmSize"`

	VirtualMachineConfiguration *vmConfigRecord `json:"virtualMachineConfiguration,omitempty"`

	TargetDedicatedNodes   int           `json:"targetDedicatedNodes"`
	TargetLowPriorityNodes int           `json:"targetLowPriorityNodes"`
	ResizeTimeout          time.Duration `json:"resizeTimeout"`
	NodeDeallocationOption string        `json:"nodeDeallocationOption,omitempty"`

	EnableAutoScale             bool             `json:"enableAutoScale,omitempty"`
	AutoScaleFormula            string           `json:"autoScaleFormula,omitempty"`
	AutoScaleEvaluationInterval time.Duration    `json:"autoScaleEvaluationInterval,omitempty"`
	AutoScaleRun                *autoScaleRecord `json:"autoScaleRun,omitempty"`

	EnableInterNodeCommunication bool                       `json:"enableInterNodeCommunication,omitempty"`
	NetworkConfiguration         json.RawMessage            `json:"networkConfiguration,omitempty"`
	StartTask                    *startTaskRecord           `json:"startTask,omitempty"`
	TaskSlotsPerNode             int                        `json:"taskSlotsPerNode"`
	TaskSchedulingPolicy         schedulingPolicyRecord     `json:"taskSchedulingPolicy"`
	UserAccounts                 json.RawMessage            `json:"userAccounts,omitempty"`
	Metadata                     []nameValueRecord          `json:"metadata,omitempty"`
	MountConfiguration           json.RawMessage            `json:"mountConfiguration,omitempty"`
	ApplicationPackages          []appPackageRecord         `json:"applicationPackages,omitempty"`
	CertificateReferences        json.RawMessage            `json:"certificateReferences,omitempty"`
	UpgradePolicy                json.RawMessage            `json:"upgradePolicy,omitempty"`
	TargetNodeCommunicationMode  string                     `json:"targetNodeCommunicationMode,omitempty"`
	Tags                         map[string]string          `json:"tags,omitempty"`
	Identity                     *poolIdentityRecord        `json:"identity,omitempty"`
	Extra                        map[string]json.RawMessage `json:"extra,omitempty"`

	State                         string             `json:"state"`
	StateTransitionTime           time.Time          `json:"stateTransitionTime"`
	AllocationState               string             `json:"allocationState"`
	AllocationStateTransitionTime time.Time          `json:"allocationStateTransitionTime"`
	CreationTime                  time.Time          `json:"creationTime"`
	LastModified                  time.Time          `json:"lastModified"`
	CurrentDedicatedNodes         int                `json:"currentDedicatedNodes"`
	CurrentLowPriorityNodes       int                `json:"currentLowPriorityNodes"`
	Resize                        resizeStatusRecord `json:"resize"`
	IdentityWarning               string             `json:"identityWarning,omitempty"`
	NodePrefix                    int64              `json:"nodePrefix"`
	NodeSeq                       int64              `json:"nodeSeq"`
	AllocatorOwner                string             `json:"allocatorOwner,omitempty"`
	AllocatorUntil                time.Time          `json:"allocatorUntil"`
}

type resizeStatusRecord struct {
	TargetDedicatedNodes   int                 `json:"targetDedicatedNodes"`
	TargetLowPriorityNodes int                 `json:"targetLowPriorityNodes"`
	ResizeTimeout          time.Duration       `json:"resizeTimeout"`
	NodeDeallocationOption string              `json:"nodeDeallocationOption,omitempty"`
	StartTime              time.Time           `json:"startTime"`
	Errors                 []resizeErrorRecord `json:"errors,omitempty"`
}

type resizeErrorRecord struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Values  []nameValueRecord `json:"values,omitempty"`
}

type autoScaleRecord struct {
	Timestamp time.Time          `json:"timestamp"`
	Results   string             `json:"results,omitempty"`
	Error     *resizeErrorRecord `json:"error,omitempty"`
}

type vmConfigRecord struct {
	ImageReference         imageReferenceRecord       `json:"imageReference"`
	NodeAgentSkuID         string                     `json:"nodeAgentSkuId"`
	ContainerConfiguration *containerConfigRecord     `json:"containerConfiguration,omitempty"`
	Extra                  map[string]json.RawMessage `json:"extra,omitempty"`
}

type imageReferenceRecord struct {
	Publisher               string `json:"publisher,omitempty"`
	Offer                   string `json:"offer,omitempty"`
	Sku                     string `json:"sku,omitempty"`
	Version                 string `json:"version,omitempty"`
	ID                      string `json:"id,omitempty"`
	SharedGalleryImageID    string `json:"sharedGalleryImageId,omitempty"`
	CommunityGalleryImageID string `json:"communityGalleryImageId,omitempty"`
}

type containerConfigRecord struct {
	Type                string           `json:"type"`
	ContainerImageNames []string         `json:"containerImageNames,omitempty"`
	ContainerRegistries []registryRecord `json:"containerRegistries,omitempty"`
}

type registryRecord struct {
	Username          string                   `json:"username,omitempty"`
	Password          string                   `json:"password,omitempty"`
	RegistryServer    string                   `json:"registryServer,omitempty"`
	IdentityReference *identityReferenceRecord `json:"identityReference,omitempty"`
}

type startTaskRecord struct {
	CommandLine         string               `json:"commandLine"`
	ResourceFiles       []resourceFileRecord `json:"resourceFiles,omitempty"`
	EnvironmentSettings []nameValueRecord    `json:"environmentSettings,omitempty"`
	UserIdentity        *userIdentityRecord  `json:"userIdentity,omitempty"`
	MaxTaskRetryCount   int                  `json:"maxTaskRetryCount"`
	WaitForSuccess      bool                 `json:"waitForSuccess"`
	ContainerSettings   json.RawMessage      `json:"containerSettings,omitempty"`
}

type userIdentityRecord struct {
	UserName string          `json:"userName,omitempty"`
	AutoUser *autoUserRecord `json:"autoUser,omitempty"`
}

type autoUserRecord struct {
	Scope          string `json:"scope,omitempty"`
	ElevationLevel string `json:"elevationLevel,omitempty"`
}

type appPackageRecord struct {
	ID      string `json:"id"`
	Version string `json:"version,omitempty"`
}

type schedulingPolicyRecord struct {
	NodeFillType    string `json:"nodeFillType"`
	JobDefaultOrder string `json:"jobDefaultOrder,omitempty"`
}

// userAccountRecord is a user account as rows keep it: ARM's shape and
// enum spelling ("Admin", "Batch"), as every release has written it.
type userAccountRecord struct {
	Name                     string             `json:"name"`
	Password                 string             `json:"password,omitempty"`
	ElevationLevel           string             `json:"elevationLevel,omitempty"`
	LinuxUserConfiguration   *linuxUserRecord   `json:"linuxUserConfiguration,omitempty"`
	WindowsUserConfiguration *windowsUserRecord `json:"windowsUserConfiguration,omitempty"`
}

type linuxUserRecord struct {
	UID           *int   `json:"uid,omitempty"`
	GID           *int   `json:"gid,omitempty"`
	SSHPrivateKey string `json:"sshPrivateKey,omitempty"`
}

type windowsUserRecord struct {
	LoginMode string `json:"loginMode,omitempty"`
}

// The persisted form shares the parts both wire formats write alike.
type (
	nameValueRecord         = batchwire.NameValue
	identityReferenceRecord = batchwire.IdentityReference
	resourceFileRecord      = batchwire.ResourceFile
)

type poolIdentityRecord struct {
	Type       string           `json:"type"`
	Identities []identityRecord `json:"userAssignedIdentities,omitempty"`
}

// identityRecord is the persisted form of one user-assigned identity with its
// principal (pools, accounts and nodes store it alike).
type identityRecord struct {
	ResourceID  string `json:"resourceId"`
	ClientID    string `json:"clientId,omitempty"`
	PrincipalID string `json:"principalId,omitempty"`
	TenantID    string `json:"tenantId,omitempty"`
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
