package batchwire

import (
	"encoding/json"
	"time"

	"github.com/cobaltbatch/cobalt"
)

// The JSON of jobs and tasks, written alike by the data plane (requests and
// responses) and by internal/jobs (the store's spec columns, whose shapes
// are the data plane's JSON the first release wrote). Each shape converts
// from its domain type with a From function and back with ToDomain.

// JobSpec is the spec part of a job: the body of "add job", the spec part of
// a returned job and of a stored one.
type JobSpec struct {
	ID                        string                   `json:"id"`
	DisplayName               string                   `json:"displayName,omitempty"`
	UsesTaskDependencies      *bool                    `json:"usesTaskDependencies,omitempty"`
	Priority                  *int                     `json:"priority,omitempty"`
	AllowTaskPreemption       *bool                    `json:"allowTaskPreemption,omitempty"`
	MaxParallelTasks          *int                     `json:"maxParallelTasks,omitempty"`
	Constraints               *JobConstraints          `json:"constraints,omitempty"`
	CommonEnvironmentSettings []NameValue              `json:"commonEnvironmentSettings,omitempty"`
	PoolInfo                  *PoolInformation         `json:"poolInfo,omitempty"`
	OnAllTasksComplete        string                   `json:"onAllTasksComplete,omitempty"`
	OnTaskFailure             string                   `json:"onTaskFailure,omitempty"`
	NetworkConfiguration      *JobNetworkConfiguration `json:"networkConfiguration,omitempty"`
	Metadata                  []NameValue              `json:"metadata,omitempty"`
	JobManagerTask            *JobManagerTask          `json:"jobManagerTask,omitempty"`
	JobPreparationTask        *JobPreparationTask      `json:"jobPreparationTask,omitempty"`
	JobReleaseTask            *JobReleaseTask          `json:"jobReleaseTask,omitempty"`
}

// JobConstraints are a job's execution constraints.
type JobConstraints struct {
	MaxWallClockTime  *Duration `json:"maxWallClockTime,omitempty"`
	MaxTaskRetryCount *int      `json:"maxTaskRetryCount,omitempty"`
}

// PoolInformation names the pool a job runs on.
type PoolInformation struct {
	PoolID string `json:"poolId,omitempty"`
	// AutoPoolSpecification is decoded only for the data plane to refuse:
	// Cobalt has no auto pools, and FromJobSpec never sets it.
	AutoPoolSpecification json.RawMessage `json:"autoPoolSpecification,omitempty"`
}

// JobNetworkConfiguration is a job's network configuration.
type JobNetworkConfiguration struct {
	SubnetID             string `json:"subnetId,omitempty"`
	SkipWithdrawFromVNet *bool  `json:"skipWithdrawFromVNet,omitempty"`
}

// JobExecutionInfo is a job's executionInfo.
type JobExecutionInfo struct {
	StartTime       time.Time  `json:"startTime"`
	EndTime         *time.Time `json:"endTime,omitempty"`
	PoolID          string     `json:"poolId,omitempty"`
	TerminateReason string     `json:"terminateReason,omitempty"`
}

// TaskSpec is the spec part of a task: the body of "add task", one element of
// an add collection, the spec part of a returned task and a stored one.
type TaskSpec struct {
	ID                           string                        `json:"id"`
	DisplayName                  string                        `json:"displayName,omitempty"`
	CommandLine                  string                        `json:"commandLine"`
	ExitConditions               *ExitConditions               `json:"exitConditions,omitempty"`
	ResourceFiles                []TaskResourceFile            `json:"resourceFiles,omitempty"`
	OutputFiles                  []OutputFile                  `json:"outputFiles,omitempty"`
	EnvironmentSettings          []NameValue                   `json:"environmentSettings,omitempty"`
	AffinityInfo                 *AffinityInformation          `json:"affinityInfo,omitempty"`
	Constraints                  *TaskConstraints              `json:"constraints,omitempty"`
	RequiredSlots                *int                          `json:"requiredSlots,omitempty"`
	UserIdentity                 *UserIdentity                 `json:"userIdentity,omitempty"`
	ApplicationPackageReferences []ApplicationPackageReference `json:"applicationPackageReferences,omitempty"`
	AuthenticationTokenSettings  *AuthenticationTokenSettings  `json:"authenticationTokenSettings,omitempty"`
	ContainerSettings            *ContainerSettings            `json:"containerSettings,omitempty"`
	DependsOn                    *TaskDependencies             `json:"dependsOn,omitempty"`
	MultiInstanceSettings        *MultiInstanceSettings        `json:"multiInstanceSettings,omitempty"`
}

// MultiInstanceSettings are a task's multiInstanceSettings.
type MultiInstanceSettings struct {
	NumberOfInstances       *int               `json:"numberOfInstances,omitempty"`
	CoordinationCommandLine string             `json:"coordinationCommandLine,omitempty"`
	CommonResourceFiles     []TaskResourceFile `json:"commonResourceFiles,omitempty"`
}

// TaskConstraints are a task's execution constraints.
type TaskConstraints struct {
	MaxWallClockTime  *Duration `json:"maxWallClockTime,omitempty"`
	RetentionTime     *Duration `json:"retentionTime,omitempty"`
	MaxTaskRetryCount *int      `json:"maxTaskRetryCount,omitempty"`
}

// TaskIDRange is a TaskIdRange: both ends required and inclusive.
type TaskIDRange struct {
	Start int `json:"start"`
	End   int `json:"end"`
}

// TaskDependencies is a task's dependsOn.
type TaskDependencies struct {
	TaskIDs      []string      `json:"taskIds,omitempty"`
	TaskIDRanges []TaskIDRange `json:"taskIdRanges,omitempty"`
}

// ExitOptions is what happens on an exit code or an error.
type ExitOptions struct {
	JobAction        string `json:"jobAction,omitempty"`
	DependencyAction string `json:"dependencyAction,omitempty"`
}

// ExitCodeMapping maps one exit code to exit options.
type ExitCodeMapping struct {
	Code        int         `json:"code"`
	ExitOptions ExitOptions `json:"exitOptions"`
}

// ExitCodeRangeMapping maps an inclusive range of exit codes to exit options.
type ExitCodeRangeMapping struct {
	Start       int         `json:"start"`
	End         int         `json:"end"`
	ExitOptions ExitOptions `json:"exitOptions"`
}

// ExitConditions is a task's exitConditions.
type ExitConditions struct {
	ExitCodes          []ExitCodeMapping      `json:"exitCodes,omitempty"`
	ExitCodeRanges     []ExitCodeRangeMapping `json:"exitCodeRanges,omitempty"`
	PreProcessingError *ExitOptions           `json:"preProcessingError,omitempty"`
	FileUploadError    *ExitOptions           `json:"fileUploadError,omitempty"`
	Default            *ExitOptions           `json:"default,omitempty"`
}

// TaskIdentityReference is an identityReference inside a task; unlike a
// pool's IdentityReference, an empty resourceId is left out.
type TaskIdentityReference struct {
	ResourceID string `json:"resourceId,omitempty"`
}

// TaskResourceFile is a file a node downloads before a task runs.
type TaskResourceFile struct {
	AutoStorageContainerName string                 `json:"autoStorageContainerName,omitempty"`
	StorageContainerURL      string                 `json:"storageContainerUrl,omitempty"`
	HTTPURL                  string                 `json:"httpUrl,omitempty"`
	BlobPrefix               string                 `json:"blobPrefix,omitempty"`
	FilePath                 string                 `json:"filePath,omitempty"`
	FileMode                 string                 `json:"fileMode,omitempty"`
	IdentityReference        *TaskIdentityReference `json:"identityReference,omitempty"`
}

// OutputFileContainer is an output file's blob container destination.
type OutputFileContainer struct {
	Path              string                 `json:"path,omitempty"`
	ContainerURL      string                 `json:"containerUrl"`
	IdentityReference *TaskIdentityReference `json:"identityReference,omitempty"`
	UploadHeaders     []NameValue            `json:"uploadHeaders,omitempty"`
}

// OutputFileDestination is where an output file goes.
type OutputFileDestination struct {
	Container *OutputFileContainer `json:"container,omitempty"`
}

// OutputFileUploadOptions says when an output file is uploaded.
type OutputFileUploadOptions struct {
	UploadCondition string `json:"uploadCondition"`
}

// OutputFile is a file a node uploads after a task runs.
type OutputFile struct {
	FilePattern   string                  `json:"filePattern"`
	Destination   OutputFileDestination   `json:"destination"`
	UploadOptions OutputFileUploadOptions `json:"uploadOptions"`
}

// AffinityInformation is a task's locality hint.
type AffinityInformation struct {
	AffinityID string `json:"affinityId"`
}

// AutoUser is the automatic user a task runs as.
type AutoUser struct {
	Scope          string `json:"scope,omitempty"`
	ElevationLevel string `json:"elevationLevel,omitempty"`
}

// UserIdentity is the user a task runs as.
type UserIdentity struct {
	Username string    `json:"username,omitempty"`
	AutoUser *AutoUser `json:"autoUser,omitempty"`
}

// ApplicationPackageReference names an application package a task needs.
type ApplicationPackageReference struct {
	ApplicationID string `json:"applicationId"`
	Version       string `json:"version,omitempty"`
}

// AuthenticationTokenSettings is the access a task's token grants.
type AuthenticationTokenSettings struct {
	Access []string `json:"access,omitempty"`
}

// ContainerRegistry is the registry a task's image comes from.
type ContainerRegistry struct {
	RegistryServer    string                 `json:"registryServer,omitempty"`
	Username          string                 `json:"username,omitempty"`
	Password          string                 `json:"password,omitempty"`
	IdentityReference *TaskIdentityReference `json:"identityReference,omitempty"`
}

// ContainerHostBatchBindMount is a host directory mounted into a task's
// container.
type ContainerHostBatchBindMount struct {
	Source     string `json:"source,omitempty"`
	IsReadOnly bool   `json:"isReadOnly,omitempty"`
}

// ContainerSettings is the container a task runs in.
type ContainerSettings struct {
	ImageName                    string                        `json:"imageName"`
	ContainerRunOptions          string                        `json:"containerRunOptions,omitempty"`
	Registry                     *ContainerRegistry            `json:"registry,omitempty"`
	WorkingDirectory             string                        `json:"workingDirectory,omitempty"`
	ContainerHostBatchBindMounts []ContainerHostBatchBindMount `json:"containerHostBatchBindMounts,omitempty"`
}

// TaskFailureInfo is why a task failed.
type TaskFailureInfo struct {
	Category string      `json:"category"`
	Code     string      `json:"code,omitempty"`
	Message  string      `json:"message,omitempty"`
	Details  []NameValue `json:"details,omitempty"`
}

// mapSlice converts each element of in with f; nil stays nil.
func mapSlice[T, U any](in []T, f func(T) U) []U {
	if in == nil {
		return nil
	}
	out := make([]U, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}

// mapPtr converts *in with f; nil stays nil.
func mapPtr[T, U any](in *T, f func(T) U) *U {
	if in == nil {
		return nil
	}
	v := f(*in)
	return &v
}

func nameValueFrom(v cobalt.NameValue) NameValue     { return NameValue(v) }
func nameValueToDomain(v NameValue) cobalt.NameValue { return cobalt.NameValue(v) }

// NameValuesToDomain converts name and value pairs back; nil stays nil.
func NameValuesToDomain(nv []NameValue) []cobalt.NameValue { return mapSlice(nv, nameValueToDomain) }

func taskIdentityFrom(v cobalt.IdentityReference) TaskIdentityReference {
	return TaskIdentityReference{ResourceID: v.ResourceID}
}
func taskIdentityToDomain(d TaskIdentityReference) cobalt.IdentityReference {
	return cobalt.IdentityReference{ResourceID: d.ResourceID}
}

// FromJobSpec converts a job's spec.
func FromJobSpec(s cobalt.JobSpec) JobSpec {
	d := JobSpec{ID: s.ID, DisplayName: s.DisplayName, UsesTaskDependencies: s.UsesTaskDependencies, Priority: s.Priority,
		AllowTaskPreemption: s.AllowTaskPreemption, MaxParallelTasks: s.MaxParallelTasks,
		Constraints:               mapPtr(s.Constraints, FromJobConstraints),
		CommonEnvironmentSettings: NameValues(s.CommonEnvironmentSettings),
		OnAllTasksComplete:        string(s.OnAllTasksComplete), OnTaskFailure: string(s.OnTaskFailure),
		NetworkConfiguration: mapPtr(s.NetworkConfiguration, FromJobNetworkConfiguration),
		Metadata:             NameValues(s.Metadata),
		JobManagerTask:       mapPtr(s.JobManagerTask, FromJobManagerTask),
		JobPreparationTask:   mapPtr(s.JobPreparationTask, FromJobPreparationTask),
		JobReleaseTask:       mapPtr(s.JobReleaseTask, FromJobReleaseTask),
	}
	if p := s.PoolInfo; p != nil {
		d.PoolInfo = &PoolInformation{PoolID: p.PoolID}
	}
	return d
}

// ToDomain converts a job's spec back. An auto pool specification is
// dropped: the data plane refuses it before converting.
func (d JobSpec) ToDomain() cobalt.JobSpec {
	s := cobalt.JobSpec{ID: d.ID, DisplayName: d.DisplayName, UsesTaskDependencies: d.UsesTaskDependencies, Priority: d.Priority,
		AllowTaskPreemption: d.AllowTaskPreemption, MaxParallelTasks: d.MaxParallelTasks,
		Constraints:               mapPtr(d.Constraints, JobConstraints.ToDomain),
		CommonEnvironmentSettings: NameValuesToDomain(d.CommonEnvironmentSettings),
		OnAllTasksComplete:        cobalt.OnAllTasksComplete(d.OnAllTasksComplete), OnTaskFailure: cobalt.OnTaskFailure(d.OnTaskFailure),
		NetworkConfiguration: mapPtr(d.NetworkConfiguration, JobNetworkConfiguration.ToDomain),
		Metadata:             NameValuesToDomain(d.Metadata),
		JobManagerTask:       mapPtr(d.JobManagerTask, JobManagerTask.ToDomain),
		JobPreparationTask:   mapPtr(d.JobPreparationTask, JobPreparationTask.ToDomain),
		JobReleaseTask:       mapPtr(d.JobReleaseTask, JobReleaseTask.ToDomain),
	}
	if p := d.PoolInfo; p != nil {
		s.PoolInfo = &cobalt.PoolInformation{PoolID: p.PoolID}
	}
	return s
}

// FromJobConstraints converts a job's constraints.
func FromJobConstraints(c cobalt.JobConstraints) JobConstraints {
	return JobConstraints{MaxWallClockTime: durationPtr(c.MaxWallClockTime), MaxTaskRetryCount: c.MaxTaskRetryCount}
}

// ToDomain converts a job's constraints back.
func (c JobConstraints) ToDomain() cobalt.JobConstraints {
	return cobalt.JobConstraints{MaxWallClockTime: domainDuration(c.MaxWallClockTime), MaxTaskRetryCount: c.MaxTaskRetryCount}
}

// FromJobNetworkConfiguration converts a job's network configuration.
func FromJobNetworkConfiguration(n cobalt.JobNetworkConfiguration) JobNetworkConfiguration {
	return JobNetworkConfiguration{SubnetID: n.SubnetID, SkipWithdrawFromVNet: n.SkipWithdrawFromVNet}
}

// ToDomain converts a job's network configuration back.
func (n JobNetworkConfiguration) ToDomain() cobalt.JobNetworkConfiguration {
	return cobalt.JobNetworkConfiguration{SubnetID: n.SubnetID, SkipWithdrawFromVNet: n.SkipWithdrawFromVNet}
}

// FromJobExecutionInfo converts a job's execution information.
func FromJobExecutionInfo(e cobalt.JobExecutionInfo) JobExecutionInfo {
	return JobExecutionInfo(e)
}

// ToDomain converts a job's execution information back.
func (e JobExecutionInfo) ToDomain() cobalt.JobExecutionInfo { return cobalt.JobExecutionInfo(e) }

// FromTaskSpec converts a task's spec.
func FromTaskSpec(s cobalt.TaskSpec) TaskSpec {
	return TaskSpec{ID: s.ID, DisplayName: s.DisplayName, CommandLine: s.CommandLine,
		ExitConditions: mapPtr(s.ExitConditions, fromExitConditions),
		ResourceFiles: mapSlice(s.ResourceFiles, func(v cobalt.ResourceFile) TaskResourceFile {
			return TaskResourceFile{AutoStorageContainerName: v.AutoStorageContainerName, StorageContainerURL: v.StorageContainerURL,
				HTTPURL: v.HTTPURL, BlobPrefix: v.BlobPrefix, FilePath: v.FilePath, FileMode: v.FileMode,
				IdentityReference: mapPtr(v.IdentityReference, taskIdentityFrom)}
		}),
		OutputFiles:         mapSlice(s.OutputFiles, fromOutputFile),
		EnvironmentSettings: NameValues(s.EnvironmentSettings),
		AffinityInfo: mapPtr(s.AffinityInfo, func(a cobalt.AffinityInformation) AffinityInformation {
			return AffinityInformation{AffinityID: a.AffinityID}
		}),
		Constraints:   mapPtr(s.Constraints, FromTaskConstraints),
		RequiredSlots: s.RequiredSlots,
		UserIdentity:  mapPtr(s.UserIdentity, fromUserIdentity),
		ApplicationPackageReferences: mapSlice(s.ApplicationPackageReferences, func(a cobalt.ApplicationPackageReference) ApplicationPackageReference {
			return ApplicationPackageReference{ApplicationID: a.ApplicationID, Version: a.Version}
		}),
		AuthenticationTokenSettings: mapPtr(s.AuthenticationTokenSettings, func(a cobalt.AuthenticationTokenSettings) AuthenticationTokenSettings {
			return AuthenticationTokenSettings{Access: a.Access}
		}),
		ContainerSettings: mapPtr(s.ContainerSettings, fromContainerSettings),
		DependsOn: mapPtr(s.DependsOn, func(v cobalt.TaskDependencies) TaskDependencies {
			return TaskDependencies{TaskIDs: v.TaskIDs, TaskIDRanges: mapSlice(v.TaskIDRanges, func(r cobalt.TaskIDRange) TaskIDRange {
				return TaskIDRange(r)
			})}
		}),
		MultiInstanceSettings: mapPtr(s.MultiInstanceSettings, func(m cobalt.MultiInstanceSettings) MultiInstanceSettings {
			return MultiInstanceSettings{NumberOfInstances: m.NumberOfInstances, CoordinationCommandLine: m.CoordinationCommandLine,
				CommonResourceFiles: mapSlice(m.CommonResourceFiles, fromResourceFile)}
		}),
	}
}

func fromResourceFile(v cobalt.ResourceFile) TaskResourceFile {
	return TaskResourceFile{AutoStorageContainerName: v.AutoStorageContainerName, StorageContainerURL: v.StorageContainerURL,
		HTTPURL: v.HTTPURL, BlobPrefix: v.BlobPrefix, FilePath: v.FilePath, FileMode: v.FileMode,
		IdentityReference: mapPtr(v.IdentityReference, taskIdentityFrom)}
}

func (r TaskResourceFile) toDomain() cobalt.ResourceFile {
	return cobalt.ResourceFile{AutoStorageContainerName: r.AutoStorageContainerName, StorageContainerURL: r.StorageContainerURL,
		HTTPURL: r.HTTPURL, BlobPrefix: r.BlobPrefix, FilePath: r.FilePath, FileMode: r.FileMode,
		IdentityReference: mapPtr(r.IdentityReference, taskIdentityToDomain)}
}

// ToDomain converts a task's spec back.
func (d TaskSpec) ToDomain() cobalt.TaskSpec {
	return cobalt.TaskSpec{ID: d.ID, DisplayName: d.DisplayName, CommandLine: d.CommandLine,
		ExitConditions: mapPtr(d.ExitConditions, ExitConditions.toDomain),
		ResourceFiles: mapSlice(d.ResourceFiles, func(r TaskResourceFile) cobalt.ResourceFile {
			return cobalt.ResourceFile{AutoStorageContainerName: r.AutoStorageContainerName, StorageContainerURL: r.StorageContainerURL,
				HTTPURL: r.HTTPURL, BlobPrefix: r.BlobPrefix, FilePath: r.FilePath, FileMode: r.FileMode,
				IdentityReference: mapPtr(r.IdentityReference, taskIdentityToDomain)}
		}),
		OutputFiles:         mapSlice(d.OutputFiles, OutputFile.toDomain),
		EnvironmentSettings: NameValuesToDomain(d.EnvironmentSettings),
		AffinityInfo: mapPtr(d.AffinityInfo, func(a AffinityInformation) cobalt.AffinityInformation {
			return cobalt.AffinityInformation{AffinityID: a.AffinityID}
		}),
		Constraints:   mapPtr(d.Constraints, TaskConstraints.ToDomain),
		RequiredSlots: d.RequiredSlots,
		UserIdentity:  mapPtr(d.UserIdentity, UserIdentity.toDomain),
		ApplicationPackageReferences: mapSlice(d.ApplicationPackageReferences, func(a ApplicationPackageReference) cobalt.ApplicationPackageReference {
			return cobalt.ApplicationPackageReference{ApplicationID: a.ApplicationID, Version: a.Version}
		}),
		AuthenticationTokenSettings: mapPtr(d.AuthenticationTokenSettings, func(a AuthenticationTokenSettings) cobalt.AuthenticationTokenSettings {
			return cobalt.AuthenticationTokenSettings{Access: a.Access}
		}),
		ContainerSettings: mapPtr(d.ContainerSettings, ContainerSettings.toDomain),
		DependsOn: mapPtr(d.DependsOn, func(v TaskDependencies) cobalt.TaskDependencies {
			return cobalt.TaskDependencies{TaskIDs: v.TaskIDs, TaskIDRanges: mapSlice(v.TaskIDRanges, func(r TaskIDRange) cobalt.TaskIDRange {
				return cobalt.TaskIDRange(r)
			})}
		}),
		MultiInstanceSettings: mapPtr(d.MultiInstanceSettings, func(m MultiInstanceSettings) cobalt.MultiInstanceSettings {
			return cobalt.MultiInstanceSettings{NumberOfInstances: m.NumberOfInstances, CoordinationCommandLine: m.CoordinationCommandLine,
				CommonResourceFiles: mapSlice(m.CommonResourceFiles, TaskResourceFile.toDomain)}
		}),
	}
}

// FromTaskConstraints converts a task's constraints.
func FromTaskConstraints(c cobalt.TaskConstraints) TaskConstraints {
	return TaskConstraints{MaxWallClockTime: durationPtr(c.MaxWallClockTime), RetentionTime: durationPtr(c.RetentionTime), MaxTaskRetryCount: c.MaxTaskRetryCount}
}

// ToDomain converts a task's constraints back.
func (c TaskConstraints) ToDomain() cobalt.TaskConstraints {
	return cobalt.TaskConstraints{MaxWallClockTime: domainDuration(c.MaxWallClockTime), RetentionTime: domainDuration(c.RetentionTime), MaxTaskRetryCount: c.MaxTaskRetryCount}
}

func fromExitOptions(v cobalt.ExitOptions) ExitOptions {
	return ExitOptions{JobAction: v.JobAction, DependencyAction: v.DependencyAction}
}
func (d ExitOptions) toDomain() cobalt.ExitOptions {
	return cobalt.ExitOptions{JobAction: d.JobAction, DependencyAction: d.DependencyAction}
}

func fromExitConditions(v cobalt.ExitConditions) ExitConditions {
	return ExitConditions{
		ExitCodes: mapSlice(v.ExitCodes, func(c cobalt.ExitCodeMapping) ExitCodeMapping {
			return ExitCodeMapping{Code: c.Code, ExitOptions: fromExitOptions(c.ExitOptions)}
		}),
		ExitCodeRanges: mapSlice(v.ExitCodeRanges, func(c cobalt.ExitCodeRangeMapping) ExitCodeRangeMapping {
			return ExitCodeRangeMapping{Start: c.Start, End: c.End, ExitOptions: fromExitOptions(c.ExitOptions)}
		}),
		PreProcessingError: mapPtr(v.PreProcessingError, fromExitOptions),
		FileUploadError:    mapPtr(v.FileUploadError, fromExitOptions),
		Default:            mapPtr(v.Default, fromExitOptions),
	}
}
func (d ExitConditions) toDomain() cobalt.ExitConditions {
	return cobalt.ExitConditions{
		ExitCodes: mapSlice(d.ExitCodes, func(c ExitCodeMapping) cobalt.ExitCodeMapping {
			return cobalt.ExitCodeMapping{Code: c.Code, ExitOptions: c.ExitOptions.toDomain()}
		}),
		ExitCodeRanges: mapSlice(d.ExitCodeRanges, func(c ExitCodeRangeMapping) cobalt.ExitCodeRangeMapping {
			return cobalt.ExitCodeRangeMapping{Start: c.Start, End: c.End, ExitOptions: c.ExitOptions.toDomain()}
		}),
		PreProcessingError: mapPtr(d.PreProcessingError, ExitOptions.toDomain),
		FileUploadError:    mapPtr(d.FileUploadError, ExitOptions.toDomain),
		Default:            mapPtr(d.Default, ExitOptions.toDomain),
	}
}

func fromOutputFile(v cobalt.OutputFile) OutputFile {
	return OutputFile{FilePattern: v.FilePattern,
		Destination: OutputFileDestination{Container: &OutputFileContainer{Path: v.Path, ContainerURL: v.ContainerURL,
			IdentityReference: mapPtr(v.IdentityReference, taskIdentityFrom), UploadHeaders: NameValues(v.UploadHeaders)}},
		UploadOptions: OutputFileUploadOptions{UploadCondition: string(v.UploadCondition)}}
}
func (d OutputFile) toDomain() cobalt.OutputFile {
	o := cobalt.OutputFile{FilePattern: d.FilePattern, UploadCondition: cobalt.OutputFileUploadCondition(d.UploadOptions.UploadCondition)}
	if c := d.Destination.Container; c != nil {
		o.ContainerURL, o.Path = c.ContainerURL, c.Path
		o.IdentityReference = mapPtr(c.IdentityReference, taskIdentityToDomain)
		o.UploadHeaders = NameValuesToDomain(c.UploadHeaders)
	}
	return o
}

func fromUserIdentity(v cobalt.UserIdentity) UserIdentity {
	u := UserIdentity{Username: v.UserName}
	if a := v.AutoUser; a != nil {
		u.AutoUser = &AutoUser{Scope: string(a.Scope), ElevationLevel: string(a.ElevationLevel)}
	}
	return u
}
func (d UserIdentity) toDomain() cobalt.UserIdentity {
	u := cobalt.UserIdentity{UserName: d.Username}
	if a := d.AutoUser; a != nil {
		u.AutoUser = &cobalt.AutoUser{Scope: cobalt.AutoUserScope(a.Scope), ElevationLevel: cobalt.ElevationLevel(a.ElevationLevel)}
	}
	return u
}

func fromContainerSettings(v cobalt.ContainerSettings) ContainerSettings {
	c := ContainerSettings{ImageName: v.ImageName, ContainerRunOptions: v.ContainerRunOptions, WorkingDirectory: string(v.WorkingDirectory),
		ContainerHostBatchBindMounts: mapSlice(v.ContainerHostBatchBindMounts, func(m cobalt.ContainerHostBatchBindMount) ContainerHostBatchBindMount {
			return ContainerHostBatchBindMount(m)
		})}
	if r := v.Registry; r != nil {
		c.Registry = &ContainerRegistry{RegistryServer: r.RegistryServer, Username: r.Username, Password: r.Password,
			IdentityReference: mapPtr(r.IdentityReference, taskIdentityFrom)}
	}
	return c
}
func (d ContainerSettings) toDomain() cobalt.ContainerSettings {
	c := cobalt.ContainerSettings{ImageName: d.ImageName, ContainerRunOptions: d.ContainerRunOptions,
		WorkingDirectory: cobalt.ContainerWorkingDirectory(d.WorkingDirectory),
		ContainerHostBatchBindMounts: mapSlice(d.ContainerHostBatchBindMounts, func(m ContainerHostBatchBindMount) cobalt.ContainerHostBatchBindMount {
			return cobalt.ContainerHostBatchBindMount(m)
		})}
	if r := d.Registry; r != nil {
		c.Registry = &cobalt.ContainerRegistry{RegistryServer: r.RegistryServer, Username: r.Username, Password: r.Password,
			IdentityReference: mapPtr(r.IdentityReference, taskIdentityToDomain)}
	}
	return c
}

// FromTaskFailureInfo converts why a task failed.
func FromTaskFailureInfo(v cobalt.TaskFailureInfo) TaskFailureInfo {
	return TaskFailureInfo{Category: v.Category, Code: v.Code, Message: v.Message, Details: NameValues(v.Details)}
}

// ToDomain converts why a task failed back.
func (d TaskFailureInfo) ToDomain() cobalt.TaskFailureInfo {
	return cobalt.TaskFailureInfo{Category: d.Category, Code: d.Code, Message: d.Message, Details: NameValuesToDomain(d.Details)}
}
