package logkey

// Errors and components.
const (
	// Err is the error that made the line worth logging.
	Err = "err"
	// Component names the service a logger belongs to ("arm", "blob", "login", ...).
	Component = "component"
	// Panic is the recovered value of a panic.
	Panic = "panic"
	// Reason is a short machine-readable cause (an Azure error reason or code).
	Reason = "reason"
)

// HTTP requests.
const (
	// RequestID is the request ID the server answered with (x-ms-request-id).
	RequestID = "request_id"
	// Method is the HTTP method of a request.
	Method = "method"
	// Path is the URL path of a request; never its query, which may hold a SAS.
	Path = "path"
	// Status is the HTTP status code of a response.
	Status = "status"
	// APIVersion is the api-version query parameter of an Azure request.
	APIVersion = "api_version"
	// Duration is how long an operation took.
	Duration = "duration"
	// Caller is the object ID of the authenticated caller of a request.
	Caller = "caller"
	// Remote is the network address a request came from.
	Remote = "remote"
	// Endpoint is a host:port a service listens on.
	Endpoint = "endpoint"
	// Addr is a network address dialed or listened on.
	Addr = "addr"
	// URL is a URL fetched by the server; with no query string, which may hold a SAS.
	URL = "url"
)

// Directory objects and tokens.
const (
	// ObjectID is the object ID of a principal (service principal or managed identity).
	ObjectID = "object_id"
	// ClientID is the application (client) ID of a principal.
	ClientID = "client_id"
	// TenantID is the directory tenant ID.
	TenantID = "tenant_id"
	// Identity is the ARM resource ID of a managed identity.
	Identity = "identity"
	// Audience is the resource a token is issued for (its aud claim).
	Audience = "audience"
	// Grant is the OAuth grant type of a token request.
	Grant = "grant"
	// Issuer is an external OpenID Connect issuer's URL (workload identity federation).
	Issuer = "issuer"
	// TokenID is a token's unique identifier (its uti claim); never the token.
	TokenID = "uti"
	// KeyID is the ID (kid) of a signing key; never the key.
	KeyID = "kid"
	// SignFrom is the time from which a new signing key signs tokens.
	SignFrom = "sign_from"
	// SecretID is the ID of a client secret; never the secret.
	SecretID = "secret_id"
	// AuditKind is the kind of an audit record.
	AuditKind = "kind"
	// AuditSubject is the subject of an audit record.
	AuditSubject = "subject"
)

// Resources.
const (
	// Account is the name of a storage or Batch account.
	Account = "account"
	// Container is the name of a blob container.
	Container = "container"
	// Registry is the name of a container registry.
	Registry = "registry"
	// Repository is the name of a repository in a container registry.
	Repository = "repository"
	// Operation is the ID of an ARM long-running operation.
	Operation = "operation"
	// Pool is the ID of a Batch pool.
	Pool = "pool"
	// Node is the ID of a compute node.
	Node = "node"
	// Job is the ID of a Batch job.
	Job = "job"
	// Task is the ID of a Batch task.
	Task = "task"
	// Lease is the ID of a task lease held by a node.
	Lease = "lease"
	// Dedicated reports whether compute nodes are dedicated (not Spot/low-priority).
	Dedicated = "dedicated"
	// Previous is the value an attribute had before the change a line reports;
	// the attribute's own key holds the new value.
	Previous = "previous"
)

// Counts.
const (
	// Count is how many items an operation handled.
	Count = "count"
	// ExpiredBlocks is how many uncommitted blocks the blob collector removed.
	ExpiredBlocks = "expired_blocks"
	// TempFiles is how many abandoned temporary files the blob collector removed.
	TempFiles = "temp_files"
	// OrphanFiles is how many unreferenced data files the blob collector removed.
	OrphanFiles = "orphan_files"
)

// Nodes and task processes.
const (
	// Dir is a directory on the host (a task's or a node's working directory).
	Dir = "dir"
	// DataDir is the installation's data directory.
	DataDir = "data_dir"
	// NodeDir is the directory that holds the nodes' working directories.
	NodeDir = "node_dir"
	// Netns is the name of a network namespace.
	Netns = "netns"
	// Isolation is a node's isolation mode.
	Isolation = "isolation"
	// Event is the kind of a node's report on a task (started, completed, ...).
	Event = "event"
	// Command is a command the control plane sent to a node.
	Command = "command"
	// Code is a failure code reported for a task or a download.
	Code = "code"
	// Attempts is how many times an operation was tried.
	Attempts = "attempts"
	// Success reports whether an operation succeeded.
	Success = "success"
	// Sweep names a periodic background pass of a service ("expired leases", "retention", ...).
	Sweep = "sweep"
	// UIDSlot is the slot of a node's host uid range (range i starts at 1<<24 + i*65536).
	UIDSlot = "uid_slot"
	// NewUIDSlot is the slot a node moves to when its recorded one is taken.
	NewUIDSlot = "new_uid_slot"
	// WallClock reports whether a task was ended by its maximum wall clock time.
	WallClock = "wall_clock"
	// Identities is how many managed identities a node carries.
	Identities = "identities"
)
