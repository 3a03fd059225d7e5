package nodeproto

import "time"

// Paths of the node API.
const (
	PathRegister  = "/nodeapi/v1/register"
	PathHeartbeat = "/nodeapi/v1/heartbeat"
	PathLease     = "/nodeapi/v1/lease"
	PathReport    = "/nodeapi/v1/report"
	PathReports   = "/nodeapi/v1/reports"
	PathToken     = "/nodeapi/v1/token"
)

// Error is the body of every non-2xx response.
type Error struct {
	// Code is a stable machine-readable code, for example "IdentityNotFound",
	// "MultipleIdentities", "NodeRemoved", "Unauthorized", "InvalidRequest".
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Identity is one user-assigned managed identity a node carries.
type Identity struct {
	ResourceID  string `json:"resourceId"`
	ClientID    string `json:"clientId"`
	PrincipalID string `json:"principalId"`
}

// EnvironmentSetting is a name/value pair for a task's environment.
type EnvironmentSetting struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// ResourceFile is a file a task or start task downloads before it runs, in the
// shape of Batch's ResourceFile. At most one of the URL fields is set;
// AutoStorageContainerURL is resolved by the control plane into
// StorageContainerURL before the agent sees it.
type ResourceFile struct {
	StorageContainerURL string `json:"storageContainerUrl,omitempty"`
	HTTPURL             string `json:"httpUrl,omitempty"`
	BlobPrefix          string `json:"blobPrefix,omitempty"`
	FilePath            string `json:"filePath,omitempty"`
	FileMode            string `json:"fileMode,omitempty"`
	// IdentityResourceID names the node identity whose token authenticates the
	// download; "" means anonymous or a SAS in the URL.
	IdentityResourceID string `json:"identityResourceId,omitempty"`
}

// UserIdentity says which user a task runs as.
type UserIdentity struct {
	UserName string `json:"userName,omitempty"`
	// AutoUserScope is "task" or "pool"; AutoUserElevation is "nonadmin" or "admin".
	AutoUserScope     string `json:"autoUserScope,omitempty"`
	AutoUserElevation string `json:"autoUserElevation,omitempty"`
}

// StartTask is a pool's start task as the agent runs it.
type StartTask struct {
	CommandLine       string               `json:"commandLine"`
	Environment       []EnvironmentSetting `json:"environment,omitempty"`
	ResourceFiles     []ResourceFile       `json:"resourceFiles,omitempty"`
	UserIdentity      UserIdentity         `json:"userIdentity"`
	MaxTaskRetryCount int                  `json:"maxTaskRetryCount"`
	WaitForSuccess    bool                 `json:"waitForSuccess"`
	// Container, when set, runs the start task in a container.
	Container *ContainerSettings `json:"containerSettings,omitempty"`
}

// ContainerRegistry is a registry a node pulls images from: with a user
// name and password (Basic), or with a token for one of the node's
// identities exchanged at the registry (ACR's /oauth2/exchange). Password
// is a secret: never logged.
type ContainerRegistry struct {
	Server             string `json:"registryServer"`
	Username           string `json:"username,omitempty"`
	Password           string `json:"password,omitempty"`
	IdentityResourceID string `json:"identityResourceId,omitempty"`
}

// ContainerConfiguration is a pool's container configuration: the images
// every node pulls before it becomes idle and the registries it may use.
type ContainerConfiguration struct {
	// Type is "dockerCompatible" or "criCompatible"; both run with runc.
	Type       string              `json:"type"`
	ImageNames []string            `json:"containerImageNames,omitempty"`
	Registries []ContainerRegistry `json:"containerRegistries,omitempty"`
}

// BindMount is one of Batch's node directories mounted into a task's
// container at its Azure path.
type BindMount struct {
	// Source is "Shared", "Startup", "VfsMounts", "Task", "JobPrep" or "Applications".
	Source   string `json:"source"`
	ReadOnly bool   `json:"isReadOnly,omitempty"`
}

// ContainerSettings make a start task or task run in a container.
type ContainerSettings struct {
	ImageName  string             `json:"imageName"`
	RunOptions string             `json:"containerRunOptions,omitempty"`
	Registry   *ContainerRegistry `json:"registry,omitempty"`
	// WorkingDirectory is "taskWorkingDirectory" (the default) or "containerImageDefault".
	WorkingDirectory string      `json:"workingDirectory,omitempty"`
	BindMounts       []BindMount `json:"containerHostBatchBindMounts,omitempty"`
}

// NodeError is an error a node reports (ComputeNodeError).
type NodeError struct {
	Code    string               `json:"code"`
	Message string               `json:"message"`
	Details []EnvironmentSetting `json:"errorDetails,omitempty"`
}

// NodeConfig is everything a node needs to know about itself. It is fixed at
// allocation: in particular Identities is the pool's identity set when the node
// was allocated, and later pool changes do not alter it.
type NodeConfig struct {
	NodeID           string `json:"nodeId"`
	PoolID           string `json:"poolId"`
	AccountName      string `json:"accountName"`
	VMSize           string `json:"vmSize"`
	Location         string `json:"location"`
	SubscriptionID   string `json:"subscriptionId"`
	ResourceGroup    string `json:"resourceGroup"`
	TenantID         string `json:"tenantId"`
	TaskSlotsPerNode int    `json:"taskSlotsPerNode"`
	// InterNode says the pool has enableInterNodeCommunication: the node
	// joins its pool's private network at InterNodeAddress(NodeID).
	InterNode  bool       `json:"interNode,omitempty"`
	Identities []Identity `json:"identities"`
	StartTask  *StartTask `json:"startTask,omitempty"`
	// AuthorityHost is the login service's URL, for AZURE_POD_IDENTITY_AUTHORITY_HOST-style settings.
	AuthorityHost string `json:"authorityHost"`
	// ForwardPorts are the loopback TCP ports of the control plane's services
	// that a netns node forwards into its namespace on the same 127.0.0.1:PORT.
	ForwardPorts []int `json:"forwardPorts,omitempty"`
	// AzureNamesPort is the control plane's listener for Azure's public
	// hostnames (internal/azurenames): a netns node resolves those names to
	// its loopback and forwards 127.0.0.1:443 inside to this port.
	AzureNamesPort int `json:"azureNamesPort,omitempty"`
	// PublicAddress is the control plane's public address (an IP or a DNS
	// name), which its URLs name: a netns node forwards ForwardPorts from it
	// too when it is an IP, and resolves it to its loopback when a name.
	PublicAddress string `json:"publicAddress,omitempty"`
	// LoginAddress is the address of the node's host (its ipAddress): the
	// node's SSH server is forwarded from it, besides 127.0.0.1, so that
	// remote login reaches it where remoteloginsettings says.
	LoginAddress string `json:"loginAddress,omitempty"`
	// UserAccounts are the pool's named user accounts, created in the node;
	// a task's userIdentity.username must name one of them.
	UserAccounts []UserAccount `json:"userAccounts,omitempty"`
	// Containers is the pool's container configuration, nil when the pool
	// runs no containers.
	Containers *ContainerConfiguration `json:"containerConfiguration,omitempty"`
	// Mounts are the blob containers the node mounts before its start task.
	Mounts []BlobMount `json:"mounts,omitempty"`
	// FenceMillis, when positive, is how long the agent may go without a
	// successful heartbeat before it kills its running tasks (a node on a
	// joined host, which the control plane requeues only later).
	FenceMillis int64 `json:"fenceMillis,omitempty"`
}

// BlobMount is a pool's azureBlobFileSystemConfiguration: the container at
// ContainerURL (with a SAS in its query, or reached with a token for
// IdentityResourceID) mounted at $AZ_BATCH_NODE_MOUNTS_DIR/RelativeMountPath.
type BlobMount struct {
	AccountName        string `json:"accountName"`
	ContainerName      string `json:"containerName"`
	ContainerURL       string `json:"containerUrl"`
	RelativeMountPath  string `json:"relativeMountPath"`
	IdentityResourceID string `json:"identityResourceId,omitempty"`
}

// UserAccount is one of a pool's named user accounts (without its
// password, which a node does not need).
type UserAccount struct {
	Name string `json:"name"`
	// ElevationLevel is "admin" or "nonadmin" (the default).
	ElevationLevel string `json:"elevationLevel,omitempty"`
}

// RegisterRequest is sent once when an agent starts.
type RegisterRequest struct {
	NodeID       string `json:"nodeId"`
	AgentVersion string `json:"agentVersion"`
	Hostname     string `json:"hostname"`
	// Isolation is "netns" or "process".
	Isolation string `json:"isolation"`
}

// RegisterResponse returns the node's configuration.
type RegisterResponse struct {
	Config NodeConfig `json:"config"`
}

// StartTaskInfo reports the start task's progress, in Batch's terms.
type StartTaskInfo struct {
	// State is "running" or "completed".
	State      string       `json:"state"`
	StartTime  time.Time    `json:"startTime"`
	EndTime    *time.Time   `json:"endTime,omitempty"`
	ExitCode   *int         `json:"exitCode,omitempty"`
	RetryCount int          `json:"retryCount"`
	Result     string       `json:"result,omitempty"`
	Failure    *FailureInfo `json:"failureInfo,omitempty"`
}

// FailureInfo is Batch's failure information.
type FailureInfo struct {
	// Category is "usererror" or "servererror".
	Category string               `json:"category"`
	Code     string               `json:"code"`
	Message  string               `json:"message"`
	Details  []EnvironmentSetting `json:"details,omitempty"`
}

// HeartbeatRequest reports the node's state. Agents send one every few seconds
// and at every state change.
type HeartbeatRequest struct {
	NodeID string `json:"nodeId"`
	// State is a Batch node state the agent controls: "starting",
	// "waitingforstarttask", "starttaskfailed", "idle", "running", "unusable".
	State         string         `json:"state"`
	StartTaskInfo *StartTaskInfo `json:"startTaskInfo,omitempty"`
	// RunningLeases are the task leases the agent is running.
	RunningLeases []string `json:"runningLeases,omitempty"`
	// Errors are the node's errors, sent with the "unusable" state (for
	// example a container image the node could not pull).
	Errors []NodeError `json:"errors,omitempty"`
	// RemoteLoginPort is the host port on which the node's SSH server is
	// reached (0: the node has none, as in process isolation).
	RemoteLoginPort int `json:"remoteLoginPort,omitempty"`
	// LogUploads are the results of the service-log uploads the node did
	// since its last heartbeat.
	LogUploads []LogUploadResult `json:"logUploads,omitempty"`
}

// LogUpload asks a node to upload its agent's log files that cover
// [StartTime, EndTime] to ContainerURL/Directory/, with the SAS in
// ContainerURL or a token for IdentityResourceID (one of the node's).
type LogUpload struct {
	ID                 string    `json:"id"`
	ContainerURL       string    `json:"containerUrl"`
	IdentityResourceID string    `json:"identityResourceId,omitempty"`
	Directory          string    `json:"directory"`
	StartTime          time.Time `json:"startTime"`
	EndTime            time.Time `json:"endTime"`
}

// LogUploadResult is what a node did with a LogUpload: the number of files
// it uploaded, or why it could not (Error, a message without secrets).
type LogUploadResult struct {
	ID    string `json:"id"`
	Files int    `json:"files"`
	Error string `json:"error,omitempty"`
}

// HeartbeatResponse carries commands for the agent.
type HeartbeatResponse struct {
	// Commands are "reboot", "remove" (stop, clean up, exit),
	// "terminate:<leaseID>", "reimage" (stop every task, put the node's
	// file systems back to its image, then register and start again),
	// "reimage:aftertasks" (the same once the running tasks have ended) and
	// "deallocate" / "deallocate:aftertasks" (stop every task, or wait for
	// them, then report "deallocated" until "reboot" starts the node again).
	Commands []string `json:"commands,omitempty"`
	// JobReleases are release tasks of ended jobs the node must run, once
	// each; they are sent until the node reports one started.
	JobReleases []JobTask `json:"jobReleases,omitempty"`
	// Users are the node's user accounts (Batch's node users) as they must
	// be now; the agent makes the node's accounts match.
	Users []NodeUser `json:"users,omitempty"`
	// LogUploads are the service-log uploads the node must do; each is
	// sent until the node reports its result.
	LogUploads []LogUpload `json:"logUploads,omitempty"`
}

// NodeUser is one user account of a node (Batch's compute node user). The
// node gets no clear password: PasswordHash is a bcrypt hash made by the
// control plane, which keeps only that hash.
type NodeUser struct {
	Name         string    `json:"name"`
	Admin        bool      `json:"isAdmin,omitempty"`
	ExpiryTime   time.Time `json:"expiryTime"`
	PasswordHash string    `json:"passwordHash,omitempty"`
	SSHPublicKey string    `json:"sshPublicKey,omitempty"`
}

// LeaseRequest asks for work for the free slots of a node.
type LeaseRequest struct {
	NodeID      string `json:"nodeId"`
	FreeSlots   int    `json:"freeSlots"`
	WaitSeconds int    `json:"waitSeconds"`
}

// TaskLease is a task the node must run. The lease is the node's claim on the
// task; the control plane requeues the task if the node stops heartbeating.
type TaskLease struct {
	LeaseID       string               `json:"leaseId"`
	JobID         string               `json:"jobId"`
	TaskID        string               `json:"taskId"`
	Attempt       int                  `json:"attempt"`
	CommandLine   string               `json:"commandLine"`
	Environment   []EnvironmentSetting `json:"environment,omitempty"`
	ResourceFiles []ResourceFile       `json:"resourceFiles,omitempty"`
	UserIdentity  UserIdentity         `json:"userIdentity"`
	RequiredSlots int                  `json:"requiredSlots"`
	// MaxWallClockSeconds is 0 for unlimited.
	MaxWallClockSeconds int64 `json:"maxWallClockSeconds,omitempty"`
	// Container, when set, runs the task in a container.
	Container *ContainerSettings `json:"containerSettings,omitempty"`
	// OutputFiles are uploaded after the task's process exits.
	OutputFiles []OutputFile `json:"outputFiles,omitempty"`
	// JobPreparation, when set, is the job's preparation task: the node
	// runs it (once per job instance) before the task.
	JobPreparation *JobTask `json:"jobPreparation,omitempty"`
	// MultiInstance, when set, makes the lease one instance of a
	// multi-instance task: the primary (SubtaskID 0, whose lease is the
	// task's) or a subtask (LeaseID "<primary lease>.<SubtaskID>", no
	// command line, resource or output files of its own).
	MultiInstance *MultiInstance `json:"multiInstance,omitempty"`
}

// MultiInstance is an instance's part of a multi-instance task. Every
// instance downloads CommonResourceFiles into the task directory (the
// shared directory), runs CoordinationCommandLine and reports
// EventCoordinated with its exit code; the primary repeats that report
// until its response says Proceed (every instance has coordinated), then
// runs the task's command line. A subtask keeps its lease until the
// control plane ends it (the primary completed) and reports completion.
type MultiInstance struct {
	SubtaskID               int            `json:"subtaskId"`
	NumberOfInstances       int            `json:"numberOfInstances"`
	CoordinationCommandLine string         `json:"coordinationCommandLine"`
	CommonResourceFiles     []ResourceFile `json:"commonResourceFiles,omitempty"`
	// Nodes are the node IDs of the instances, the primary's first.
	Nodes []string `json:"nodes"`
	// Hosts are the instances' addresses, in Nodes' order: the agent fills
	// them in before it runs the instance (InterNodeAddress).
	Hosts []string `json:"hosts,omitempty"`
	// Phase is set by the agent for its runner: PhaseCoordination,
	// PhaseApplication or PhaseCleanup.
	Phase string `json:"phase,omitempty"`
}

// Phases of a multi-instance task on a node.
const (
	PhaseCoordination = "coordination"
	PhaseApplication  = "application"
	// PhaseCleanup ends what the instance's coordination command left
	// running in its process group; it runs nothing.
	PhaseCleanup = "cleanup"
)

// EventCoordinated is the report of an instance whose coordination command
// has returned (ExitCode); ReportResponse.Proceed answers it.
const EventCoordinated = "coordinated"

// Kinds of JobTask.
const (
	JobTaskPreparation = "jobpreparation"
	JobTaskRelease     = "jobrelease"
)

// JobTask is a job's preparation or release task as a node runs it, in
// TaskDir(JobID, TaskID). Instance tells apart jobs that had the same ID
// (one deleted, another added). A preparation task that fails its last
// attempt with WaitForSuccess set keeps the job's tasks off the node: the
// node gives their leases back with the "released" event.
type JobTask struct {
	Kind          string               `json:"kind"`
	JobID         string               `json:"jobId"`
	Instance      string               `json:"instance"`
	TaskID        string               `json:"taskId"`
	CommandLine   string               `json:"commandLine"`
	Environment   []EnvironmentSetting `json:"environment,omitempty"`
	ResourceFiles []ResourceFile       `json:"resourceFiles,omitempty"`
	UserIdentity  UserIdentity         `json:"userIdentity"`
	Container     *ContainerSettings   `json:"containerSettings,omitempty"`
	// MaxTaskRetryCount is the preparation task's (-1: no limit).
	MaxTaskRetryCount int `json:"maxTaskRetryCount,omitempty"`
	// MaxWallClockSeconds is 0 for unlimited.
	MaxWallClockSeconds           int64 `json:"maxWallClockSeconds,omitempty"`
	WaitForSuccess                bool  `json:"waitForSuccess,omitempty"`
	RerunOnNodeRebootAfterSuccess bool  `json:"rerunOnNodeRebootAfterSuccess,omitempty"`
}

// OutputFile is a set of files the node uploads to a blob container after
// a task: FilePattern relative to the task's working directory (or
// absolute, inside the node), with *, **, ? and [...]; Path the blob name
// (a plain pattern) or virtual directory (a pattern with wildcards).
// ContainerURL may carry a SAS; IdentityResourceID names a pool identity
// whose token authorizes the upload instead. UploadCondition is
// tasksuccess, taskfailure or taskcompletion.
type OutputFile struct {
	FilePattern        string               `json:"filePattern"`
	ContainerURL       string               `json:"containerUrl"`
	Path               string               `json:"path,omitempty"`
	IdentityResourceID string               `json:"identityResourceId,omitempty"`
	UploadHeaders      []EnvironmentSetting `json:"uploadHeaders,omitempty"`
	UploadCondition    string               `json:"uploadCondition,omitempty"`
}

// LeaseResponse returns zero or more leases.
type LeaseResponse struct {
	Leases []TaskLease `json:"leases"`
}

// ReportRequest reports that a leased task started or finished, that the
// node gives a lease back ("released"), or, with JobTask set, that a job's
// preparation or release task started or finished (LeaseID empty).
type ReportRequest struct {
	NodeID  string `json:"nodeId"`
	LeaseID string `json:"leaseId"`
	// Event is "started", "completed" or "released".
	Event string `json:"event"`
	// JobTask is the JobTask's Kind when the report is about one; JobID,
	// Instance and RetryCount (the attempt, from 0) go with it.
	JobTask    string       `json:"jobTask,omitempty"`
	JobID      string       `json:"jobId,omitempty"`
	Instance   string       `json:"instance,omitempty"`
	RetryCount int          `json:"retryCount,omitempty"`
	StartTime  time.Time    `json:"startTime"`
	EndTime    *time.Time   `json:"endTime,omitempty"`
	ExitCode   *int         `json:"exitCode,omitempty"`
	Failure    *FailureInfo `json:"failureInfo,omitempty"`
}

// ReportResponse acknowledges a report. Proceed, for an EventCoordinated
// report, says every instance of the task has coordinated successfully.
type ReportResponse struct {
	Proceed bool `json:"proceed,omitempty"`
}

// MaxReports bounds the reports of one ReportsRequest.
const MaxReports = 256

// ReportsRequest carries several task reports of one node in one request,
// and asks for work for the node's free slots in the same round trip: a
// busy node sends its tasks' completions and takes their successors with
// one request. The control plane applies the reports in order, each as a
// ReportRequest sent alone would be (a report of a lease that is no longer
// current is ignored, so sending a batch again is harmless), then claims
// tasks for FreeSlots without waiting. EventCoordinated reports, which need
// their own answer, go to PathReport.
type ReportsRequest struct {
	NodeID  string          `json:"nodeId"`
	Reports []ReportRequest `json:"reports"`
	// FreeSlots are the slots the node asks work for (0: none); the node
	// counts them as taken until the response arrives.
	FreeSlots int `json:"freeSlots,omitempty"`
}

// ReportError is a report of a ReportsRequest the control plane refused
// (the others were applied).
type ReportError struct {
	LeaseID string `json:"leaseId"`
	Error
}

// ReportsResponse acknowledges a ReportsRequest: the reports refused, and
// the leases claimed for its free slots (none when the pool has no work
// now: the node's lease long-poll waits for it).
type ReportsResponse struct {
	Errors []ReportError `json:"errors,omitempty"`
	Leases []TaskLease   `json:"leases"`
}

// TokenRequest asks for an access token for one of the node's identities.
// At most one selector is set; none selects the node's only identity.
type TokenRequest struct {
	NodeID     string `json:"nodeId"`
	Resource   string `json:"resource"`
	ClientID   string `json:"clientId,omitempty"`
	ObjectID   string `json:"objectId,omitempty"`
	ResourceID string `json:"resourceId,omitempty"`
	// TaskID attributes the request to a task for the audit trail, when known.
	TaskID string `json:"taskId,omitempty"`
}

// TokenResponse is an issued token.
type TokenResponse struct {
	AccessToken string    `json:"accessToken"`
	ExpiresOn   time.Time `json:"expiresOn"`
	NotBefore   time.Time `json:"notBefore"`
	IssuedAt    time.Time `json:"issuedAt"`
	Resource    string    `json:"resource"`
	Identity    Identity  `json:"identity"`
}
