package taskrun

import (
	"context"
	"syscall"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// Failure codes of container tasks: ContainerInvalidImage,
// ContainerInvalidSettings and ContainerTaskSettingsNotFound are the codes
// Batch reports (seen in public issues: Azure/Batch#4, #49,
// microsoft/ga4gh-tes#525); ContainerNotSupported and
// ContainerCouldNotBeStarted are Cobalt's own.
const (
	CodeContainerInvalidImage = "ContainerInvalidImage"
	// CodeContainerInvalidSettings: "At least one value of specified task
	// container settings is invalid" (run options this node refuses).
	CodeContainerInvalidSettings = "ContainerInvalidSettings"
	// CodeContainerTaskSettingsNotFound: a task without containerSettings
	// on a container pool ("Container-enabled compute node requires task
	// container settings").
	CodeContainerTaskSettingsNotFound = "ContainerTaskSettingsNotFound"
	CodeContainerNotSupported         = "ContainerNotSupported"
	CodeContainerCouldNotBeStarted    = "ContainerCouldNotBeStarted"
	messageContainerNotSupportedYet   = "The task has containerSettings, but this node cannot run containers: container tasks need a pool with a containerConfiguration and a node in the netns isolation mode (Linux, root, runc)."
)

// ContainerJob is a task that runs in a container: what Config.Container
// needs to prepare it.
type ContainerJob struct {
	Settings    nodeproto.ContainerSettings
	CommandLine string
	// Env is the task's environment as a host task would get it.
	Env     []string
	TaskDir string
	WorkDir string
	JobID   string
	Dirs    Dirs
	// Cred is the task user (nil: the node's root).
	Cred *syscall.Credential
	// Label names the container (the task's lease or "startup").
	Label string
}

// ContainerRun is a prepared container.
type ContainerRun interface {
	// Command runs the container in the foreground (as the runner's own
	// user) and exits with the container's exit code.
	Command() []string
	// Kill ends every process of the container.
	Kill()
	// Remove deletes the container and everything prepared for it.
	Remove() error
}

// ContainerFunc prepares the container of a task; an error that is a
// *UserError fails the task with its code.
type ContainerFunc func(ctx context.Context, j ContainerJob) (ContainerRun, error)
