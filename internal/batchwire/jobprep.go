package batchwire

import (
	"time"

	"github.com/cobaltbatch/cobalt"
)

// JobPreparationTask is a job's jobPreparationTask.
type JobPreparationTask struct {
	ID                            string             `json:"id,omitempty"`
	CommandLine                   string             `json:"commandLine"`
	ContainerSettings             *ContainerSettings `json:"containerSettings,omitempty"`
	ResourceFiles                 []TaskResourceFile `json:"resourceFiles,omitempty"`
	EnvironmentSettings           []NameValue        `json:"environmentSettings,omitempty"`
	Constraints                   *TaskConstraints   `json:"constraints,omitempty"`
	WaitForSuccess                *bool              `json:"waitForSuccess,omitempty"`
	UserIdentity                  *UserIdentity      `json:"userIdentity,omitempty"`
	RerunOnNodeRebootAfterSuccess *bool              `json:"rerunOnNodeRebootAfterSuccess,omitempty"`
}

// JobReleaseTask is a job's jobReleaseTask.
type JobReleaseTask struct {
	ID                  string             `json:"id,omitempty"`
	CommandLine         string             `json:"commandLine"`
	ContainerSettings   *ContainerSettings `json:"containerSettings,omitempty"`
	ResourceFiles       []TaskResourceFile `json:"resourceFiles,omitempty"`
	EnvironmentSettings []NameValue        `json:"environmentSettings,omitempty"`
	MaxWallClockTime    *Duration          `json:"maxWallClockTime,omitempty"`
	RetentionTime       *Duration          `json:"retentionTime,omitempty"`
	UserIdentity        *UserIdentity      `json:"userIdentity,omitempty"`
}

// FromJobPreparationTask converts a job preparation task, through the
// conversions of a task's spec for the properties they share.
func FromJobPreparationTask(p cobalt.JobPreparationTask) JobPreparationTask {
	t := FromTaskSpec(cobalt.TaskSpec{ResourceFiles: p.ResourceFiles, EnvironmentSettings: p.EnvironmentSettings,
		Constraints: p.Constraints, UserIdentity: p.UserIdentity, ContainerSettings: p.ContainerSettings})
	return JobPreparationTask{ID: p.ID, CommandLine: p.CommandLine, ContainerSettings: t.ContainerSettings, ResourceFiles: t.ResourceFiles,
		EnvironmentSettings: t.EnvironmentSettings, Constraints: t.Constraints, WaitForSuccess: p.WaitForSuccess,
		UserIdentity: t.UserIdentity, RerunOnNodeRebootAfterSuccess: p.RerunOnNodeRebootAfterSuccess}
}

// ToDomain converts a job preparation task back.
func (d JobPreparationTask) ToDomain() cobalt.JobPreparationTask {
	t := TaskSpec{ResourceFiles: d.ResourceFiles, EnvironmentSettings: d.EnvironmentSettings, Constraints: d.Constraints,
		UserIdentity: d.UserIdentity, ContainerSettings: d.ContainerSettings}.ToDomain()
	return cobalt.JobPreparationTask{ID: d.ID, CommandLine: d.CommandLine, ContainerSettings: t.ContainerSettings, ResourceFiles: t.ResourceFiles,
		EnvironmentSettings: t.EnvironmentSettings, Constraints: t.Constraints, WaitForSuccess: d.WaitForSuccess,
		UserIdentity: t.UserIdentity, RerunOnNodeRebootAfterSuccess: d.RerunOnNodeRebootAfterSuccess}
}

// FromJobReleaseTask converts a job release task.
func FromJobReleaseTask(r cobalt.JobReleaseTask) JobReleaseTask {
	t := FromTaskSpec(cobalt.TaskSpec{ResourceFiles: r.ResourceFiles, EnvironmentSettings: r.EnvironmentSettings,
		UserIdentity: r.UserIdentity, ContainerSettings: r.ContainerSettings})
	return JobReleaseTask{ID: r.ID, CommandLine: r.CommandLine, ContainerSettings: t.ContainerSettings, ResourceFiles: t.ResourceFiles,
		EnvironmentSettings: t.EnvironmentSettings, MaxWallClockTime: durationPtr(r.MaxWallClockTime),
		RetentionTime: durationPtr(r.RetentionTime), UserIdentity: t.UserIdentity}
}

// ToDomain converts a job release task back.
func (d JobReleaseTask) ToDomain() cobalt.JobReleaseTask {
	t := TaskSpec{ResourceFiles: d.ResourceFiles, EnvironmentSettings: d.EnvironmentSettings,
		UserIdentity: d.UserIdentity, ContainerSettings: d.ContainerSettings}.ToDomain()
	return cobalt.JobReleaseTask{ID: d.ID, CommandLine: d.CommandLine, ContainerSettings: t.ContainerSettings, ResourceFiles: t.ResourceFiles,
		EnvironmentSettings: t.EnvironmentSettings, MaxWallClockTime: domainDuration(d.MaxWallClockTime),
		RetentionTime: domainDuration(d.RetentionTime), UserIdentity: t.UserIdentity}
}

// JobTaskExecutionInfo is a jobPreparationTaskExecutionInfo or a
// jobReleaseTaskExecutionInfo (which has no retry fields).
type JobTaskExecutionInfo struct {
	StartTime            time.Time        `json:"startTime"`
	EndTime              *time.Time       `json:"endTime,omitempty"`
	State                string           `json:"state"`
	TaskRootDirectory    string           `json:"taskRootDirectory,omitempty"`
	TaskRootDirectoryURL string           `json:"taskRootDirectoryUrl,omitempty"`
	ExitCode             *int             `json:"exitCode,omitempty"`
	FailureInfo          *TaskFailureInfo `json:"failureInfo,omitempty"`
	RetryCount           *int             `json:"retryCount,omitempty"`
	LastRetryTime        *time.Time       `json:"lastRetryTime,omitempty"`
	Result               string           `json:"result,omitempty"`
}

// FromJobTaskExecutionInfo converts a preparation (prep true: with its
// retry count) or release task's execution information.
func FromJobTaskExecutionInfo(e cobalt.JobTaskExecutionInfo, prep bool) JobTaskExecutionInfo {
	w := JobTaskExecutionInfo{StartTime: e.StartTime, EndTime: e.EndTime, State: string(e.State), TaskRootDirectory: e.TaskRootDirectory,
		ExitCode: e.ExitCode, FailureInfo: mapPtr(e.FailureInfo, FromTaskFailureInfo), Result: string(e.Result)}
	if prep {
		n := e.RetryCount
		w.RetryCount, w.LastRetryTime = &n, e.LastRetryTime
	}
	return w
}
