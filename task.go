package cobalt

// This file holds the parts of a task that pools (start tasks) and jobs
// (tasks) share. Enumerations hold the Batch data plane's lower-case
// spelling; each wire codec maps them to its own.

// NameValue is a name and value pair: metadata, environment settings.
type NameValue struct {
	Name  string
	Value string
}

// IdentityReference names one of the pool's user-assigned managed identities
// by its ARM resource ID.
type IdentityReference struct {
	ResourceID string
}

// ResourceFile is a file a node downloads before a start task or task runs.
// Exactly one of AutoStorageContainerName, StorageContainerURL and HTTPURL is
// set. IdentityReference, when set, names the pool identity whose token
// authenticates the download.
type ResourceFile struct {
	AutoStorageContainerName string
	StorageContainerURL      string
	HTTPURL                  string
	BlobPrefix               string
	FilePath                 string
	FileMode                 string
	IdentityReference        *IdentityReference
}

// AutoUserScope says whether an auto user is shared by the node's tasks
// ("pool") or made for one task ("task").
type AutoUserScope string

// Auto-user scopes.
const (
	AutoUserScopeTask AutoUserScope = "task"
	AutoUserScopePool AutoUserScope = "pool"
)

// ElevationLevel is a user's privilege on its node.
type ElevationLevel string

// Elevation levels.
const (
	ElevationNonAdmin ElevationLevel = "nonadmin"
	ElevationAdmin    ElevationLevel = "admin"
)

// AutoUser is Batch's auto user: a user the node makes for tasks. Empty
// fields take Batch's defaults (scope pool, elevation nonadmin).
type AutoUser struct {
	Scope          AutoUserScope
	ElevationLevel ElevationLevel
}

// UserIdentity is the user a task runs as: a named user account of the pool,
// or an auto user. Both empty means the default auto user.
type UserIdentity struct {
	UserName string
	AutoUser *AutoUser
}

// ContainerWorkingDirectory says where a container task starts.
type ContainerWorkingDirectory string

// Container working directories.
const (
	ContainerWorkDirTask         ContainerWorkingDirectory = "taskWorkingDirectory"
	ContainerWorkDirImageDefault ContainerWorkingDirectory = "containerImageDefault"
)

// ContainerRegistry is a private container registry, reached with a user
// name and password or with a pool identity.
type ContainerRegistry struct {
	RegistryServer    string
	Username          string
	Password          string
	IdentityReference *IdentityReference
}

// ContainerHostBatchBindMount mounts one of Batch's node directories into a
// task's container. Source is a ContainerHostDataPath ("Shared", "Startup",
// "VfsMounts", "Task", "JobPrep", "Applications").
type ContainerHostBatchBindMount struct {
	Source     string
	IsReadOnly bool
}

// ContainerSettings make a start task or task run in a container.
type ContainerSettings struct {
	ImageName                    string
	ContainerRunOptions          string
	Registry                     *ContainerRegistry
	WorkingDirectory             ContainerWorkingDirectory
	ContainerHostBatchBindMounts []ContainerHostBatchBindMount
}

// OutputFileUploadCondition says when a task's output files are uploaded.
type OutputFileUploadCondition string

// Output file upload conditions.
const (
	UploadOnTaskSuccess    OutputFileUploadCondition = "tasksuccess"
	UploadOnTaskFailure    OutputFileUploadCondition = "taskfailure"
	UploadOnTaskCompletion OutputFileUploadCondition = "taskcompletion"
)

// OutputFile is a set of files a node uploads to a blob container after a
// task runs.
type OutputFile struct {
	// FilePattern selects files relative to the task's directory (with *, **
	// and ?).
	FilePattern string
	// ContainerURL is the destination container; a SAS in it, or
	// IdentityReference, authorizes the upload.
	ContainerURL      string
	Path              string
	IdentityReference *IdentityReference
	UploadHeaders     []NameValue
	UploadCondition   OutputFileUploadCondition
}

// NodeRef names one compute node of one pool of one Batch account.
// AccountID is the account's ARM resource ID in lower case.
type NodeRef struct {
	AccountID string
	PoolID    string
	NodeID    string
}
