package batchapi

import (
	"encoding/json"
	"time"

	cobalt "github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/jobs"
)

// This file is the data plane's JSON for jobs and tasks: typed structs with
// Batch's property names, and their conversions from and to the domain
// types. Properties Cobalt does not support are decoded only to be refused.

// jobSpecWire is the body of "add job" and the spec part of a returned job.
type jobSpecWire struct {
	ID                        string          `json:"id"`
	DisplayName               string          `json:"displayName,omitempty"`
	UsesTaskDependencies      *bool           `json:"usesTaskDependencies,omitempty"`
	Priority                  *int            `json:"priority,omitempty"`
	AllowTaskPreemption       *bool           `json:"allowTaskPreemption,omitempty"`
	MaxParallelTasks          *int            `json:"maxParallelTasks,omitempty"`
	Constraints               *jobConstrWire  `json:"constraints,omitempty"`
	CommonEnvironmentSettings []nameValueWire `json:"commonEnvironmentSettings,omitempty"`
	PoolInfo                  *poolInfoWire   `json:"poolInfo,omitempty"`
	OnAllTasksComplete        string          `json:"onAllTasksComplete,omitempty"`
	OnTaskFailure             string          `json:"onTaskFailure,omitempty"`
	NetworkConfiguration      *jobNetworkWire `json:"networkConfiguration,omitempty"`
	Metadata                  []nameValueWire `json:"metadata,omitempty"`
	// Refused: job manager, preparation and release tasks are not supported.
	JobManagerTask     json.RawMessage `json:"jobManagerTask,omitempty"`
	JobPreparationTask json.RawMessage `json:"jobPreparationTask,omitempty"`
	JobReleaseTask     json.RawMessage `json:"jobReleaseTask,omitempty"`
}

type jobConstrWire struct {
	MaxWallClockTime  *wireDuration `json:"maxWallClockTime,omitempty"`
	MaxTaskRetryCount *int          `json:"maxTaskRetryCount,omitempty"`
}

type poolInfoWire struct {
	PoolID string `json:"poolId,omitempty"`
	// Refused: auto pools are not supported.
	AutoPoolSpecification json.RawMessage `json:"autoPoolSpecification,omitempty"`
}

type jobNetworkWire struct {
	SubnetID             string `json:"subnetId,omitempty"`
	SkipWithdrawFromVNet *bool  `json:"skipWithdrawFromVNet,omitempty"`
}

// taskSpecWire is the body of "add task", one element of an add collection,
// and the spec part of a returned task.
type taskSpecWire struct {
	ID                           string             `json:"id"`
	DisplayName                  string             `json:"displayName,omitempty"`
	CommandLine                  string             `json:"commandLine"`
	ExitConditions               *exitCondWire      `json:"exitConditions,omitempty"`
	ResourceFiles                []resourceFileWire `json:"resourceFiles,omitempty"`
	OutputFiles                  []outputFileWire   `json:"outputFiles,omitempty"`
	EnvironmentSettings          []nameValueWire    `json:"environmentSettings,omitempty"`
	AffinityInfo                 *affinityWire      `json:"affinityInfo,omitempty"`
	Constraints                  *taskConstrWire    `json:"constraints,omitempty"`
	RequiredSlots                *int               `json:"requiredSlots,omitempty"`
	UserIdentity                 *userIdentityWire  `json:"userIdentity,omitempty"`
	ApplicationPackageReferences []appPackageWire   `json:"applicationPackageReferences,omitempty"`
	AuthenticationTokenSettings  *authTokenWire     `json:"authenticationTokenSettings,omitempty"`
	ContainerSettings            *containerWire     `json:"containerSettings,omitempty"`
	// Refused: multi-instance tasks and task dependencies are not supported.
	MultiInstanceSettings json.RawMessage `json:"multiInstanceSettings,omitempty"`
	DependsOn             json.RawMessage `json:"dependsOn,omitempty"`
}

type nameValueWire struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type taskConstrWire struct {
	MaxWallClockTime  *wireDuration `json:"maxWallClockTime,omitempty"`
	RetentionTime     *wireDuration `json:"retentionTime,omitempty"`
	MaxTaskRetryCount *int          `json:"maxTaskRetryCount,omitempty"`
}

type exitOptionsWire struct {
	JobAction        string `json:"jobAction,omitempty"`
	DependencyAction string `json:"dependencyAction,omitempty"`
}

type exitCodeWire struct {
	Code        int             `json:"code"`
	ExitOptions exitOptionsWire `json:"exitOptions"`
}

type exitRangeWire struct {
	Start       int             `json:"start"`
	End         int             `json:"end"`
	ExitOptions exitOptionsWire `json:"exitOptions"`
}

type exitCondWire struct {
	ExitCodes          []exitCodeWire   `json:"exitCodes,omitempty"`
	ExitCodeRanges     []exitRangeWire  `json:"exitCodeRanges,omitempty"`
	PreProcessingError *exitOptionsWire `json:"preProcessingError,omitempty"`
	FileUploadError    *exitOptionsWire `json:"fileUploadError,omitempty"`
	Default            *exitOptionsWire `json:"default,omitempty"`
}

type identityRefWire struct {
	ResourceID string `json:"resourceId,omitempty"`
}

type resourceFileWire struct {
	AutoStorageContainerName string           `json:"autoStorageContainerName,omitempty"`
	StorageContainerURL      string           `json:"storageContainerUrl,omitempty"`
	HTTPURL                  string           `json:"httpUrl,omitempty"`
	BlobPrefix               string           `json:"blobPrefix,omitempty"`
	FilePath                 string           `json:"filePath,omitempty"`
	FileMode                 string           `json:"fileMode,omitempty"`
	IdentityReference        *identityRefWire `json:"identityReference,omitempty"`
}

type outputContainerWire struct {
	Path              string           `json:"path,omitempty"`
	ContainerURL      string           `json:"containerUrl"`
	IdentityReference *identityRefWire `json:"identityReference,omitempty"`
	UploadHeaders     []nameValueWire  `json:"uploadHeaders,omitempty"`
}

type outputDestWire struct {
	Container *outputContainerWire `json:"container,omitempty"`
}

type uploadOptionsWire struct {
	UploadCondition string `json:"uploadCondition"`
}

type outputFileWire struct {
	FilePattern   string            `json:"filePattern"`
	Destination   outputDestWire    `json:"destination"`
	UploadOptions uploadOptionsWire `json:"uploadOptions"`
}

type affinityWire struct {
	AffinityID string `json:"affinityId"`
}

type autoUserWire struct {
	Scope          string `json:"scope,omitempty"`
	ElevationLevel string `json:"elevationLevel,omitempty"`
}

type userIdentityWire struct {
	Username string        `json:"username,omitempty"`
	AutoUser *autoUserWire `json:"autoUser,omitempty"`
}

type appPackageWire struct {
	ApplicationID string `json:"applicationId"`
	Version       string `json:"version,omitempty"`
}

type authTokenWire struct {
	Access []string `json:"access,omitempty"`
}

type registryWire struct {
	RegistryServer    string           `json:"registryServer,omitempty"`
	Username          string           `json:"username,omitempty"`
	Password          string           `json:"password,omitempty"`
	IdentityReference *identityRefWire `json:"identityReference,omitempty"`
}

type bindMountWire struct {
	Source     string `json:"source,omitempty"`
	IsReadOnly bool   `json:"isReadOnly,omitempty"`
}

type containerWire struct {
	ImageName                    string          `json:"imageName"`
	ContainerRunOptions          string          `json:"containerRunOptions,omitempty"`
	Registry                     *registryWire   `json:"registry,omitempty"`
	WorkingDirectory             string          `json:"workingDirectory,omitempty"`
	ContainerHostBatchBindMounts []bindMountWire `json:"containerHostBatchBindMounts,omitempty"`
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

func nameValueFromWire(d nameValueWire) cobalt.NameValue {
	return cobalt.NameValue{Name: d.Name, Value: d.Value}
}
func nameValueToWire(v cobalt.NameValue) nameValueWire {
	return nameValueWire{Name: v.Name, Value: v.Value}
}

func identityRefFromWire(d identityRefWire) cobalt.IdentityReference {
	return cobalt.IdentityReference{ResourceID: d.ResourceID}
}
func identityRefToWire(v cobalt.IdentityReference) identityRefWire {
	return identityRefWire{ResourceID: v.ResourceID}
}

func resourceFileFromWire(d resourceFileWire) cobalt.ResourceFile {
	return cobalt.ResourceFile{AutoStorageContainerName: d.AutoStorageContainerName, StorageContainerURL: d.StorageContainerURL,
		HTTPURL: d.HTTPURL, BlobPrefix: d.BlobPrefix, FilePath: d.FilePath, FileMode: d.FileMode,
		IdentityReference: mapPtr(d.IdentityReference, identityRefFromWire)}
}
func resourceFileToWire(v cobalt.ResourceFile) resourceFileWire {
	return resourceFileWire{AutoStorageContainerName: v.AutoStorageContainerName, StorageContainerURL: v.StorageContainerURL,
		HTTPURL: v.HTTPURL, BlobPrefix: v.BlobPrefix, FilePath: v.FilePath, FileMode: v.FileMode,
		IdentityReference: mapPtr(v.IdentityReference, identityRefToWire)}
}

func exitOptionsFromWire(d exitOptionsWire) cobalt.ExitOptions {
	return cobalt.ExitOptions{JobAction: d.JobAction, DependencyAction: d.DependencyAction}
}
func exitOptionsToWire(v cobalt.ExitOptions) exitOptionsWire {
	return exitOptionsWire{JobAction: v.JobAction, DependencyAction: v.DependencyAction}
}

func exitCondFromWire(d exitCondWire) cobalt.ExitConditions {
	return cobalt.ExitConditions{
		ExitCodes: mapSlice(d.ExitCodes, func(c exitCodeWire) cobalt.ExitCodeMapping {
			return cobalt.ExitCodeMapping{Code: c.Code, ExitOptions: exitOptionsFromWire(c.ExitOptions)}
		}),
		ExitCodeRanges: mapSlice(d.ExitCodeRanges, func(c exitRangeWire) cobalt.ExitCodeRangeMapping {
			return cobalt.ExitCodeRangeMapping{Start: c.Start, End: c.End, ExitOptions: exitOptionsFromWire(c.ExitOptions)}
		}),
		PreProcessingError: mapPtr(d.PreProcessingError, exitOptionsFromWire),
		FileUploadError:    mapPtr(d.FileUploadError, exitOptionsFromWire),
		Default:            mapPtr(d.Default, exitOptionsFromWire),
	}
}
func exitCondToWire(v cobalt.ExitConditions) exitCondWire {
	return exitCondWire{
		ExitCodes: mapSlice(v.ExitCodes, func(c cobalt.ExitCodeMapping) exitCodeWire {
			return exitCodeWire{Code: c.Code, ExitOptions: exitOptionsToWire(c.ExitOptions)}
		}),
		ExitCodeRanges: mapSlice(v.ExitCodeRanges, func(c cobalt.ExitCodeRangeMapping) exitRangeWire {
			return exitRangeWire{Start: c.Start, End: c.End, ExitOptions: exitOptionsToWire(c.ExitOptions)}
		}),
		PreProcessingError: mapPtr(v.PreProcessingError, exitOptionsToWire),
		FileUploadError:    mapPtr(v.FileUploadError, exitOptionsToWire),
		Default:            mapPtr(v.Default, exitOptionsToWire),
	}
}

func outputFileFromWire(d outputFileWire) cobalt.OutputFile {
	o := cobalt.OutputFile{FilePattern: d.FilePattern, UploadCondition: cobalt.OutputFileUploadCondition(d.UploadOptions.UploadCondition)}
	if c := d.Destination.Container; c != nil {
		o.ContainerURL, o.Path = c.ContainerURL, c.Path
		o.IdentityReference = mapPtr(c.IdentityReference, identityRefFromWire)
		o.UploadHeaders = mapSlice(c.UploadHeaders, nameValueFromWire)
	}
	return o
}
func outputFileToWire(v cobalt.OutputFile) outputFileWire {
	return outputFileWire{FilePattern: v.FilePattern,
		Destination: outputDestWire{Container: &outputContainerWire{Path: v.Path, ContainerURL: v.ContainerURL,
			IdentityReference: mapPtr(v.IdentityReference, identityRefToWire), UploadHeaders: mapSlice(v.UploadHeaders, nameValueToWire)}},
		UploadOptions: uploadOptionsWire{UploadCondition: string(v.UploadCondition)}}
}

func userIdentityFromWire(d userIdentityWire) cobalt.UserIdentity {
	u := cobalt.UserIdentity{UserName: d.Username}
	if a := d.AutoUser; a != nil {
		u.AutoUser = &cobalt.AutoUser{Scope: cobalt.AutoUserScope(a.Scope), ElevationLevel: cobalt.ElevationLevel(a.ElevationLevel)}
	}
	return u
}
func userIdentityToWire(v cobalt.UserIdentity) userIdentityWire {
	u := userIdentityWire{Username: v.UserName}
	if a := v.AutoUser; a != nil {
		u.AutoUser = &autoUserWire{Scope: string(a.Scope), ElevationLevel: string(a.ElevationLevel)}
	}
	return u
}

func containerFromWire(d containerWire) cobalt.ContainerSettings {
	c := cobalt.ContainerSettings{ImageName: d.ImageName, ContainerRunOptions: d.ContainerRunOptions,
		WorkingDirectory: cobalt.ContainerWorkingDirectory(d.WorkingDirectory),
		ContainerHostBatchBindMounts: mapSlice(d.ContainerHostBatchBindMounts, func(m bindMountWire) cobalt.ContainerHostBatchBindMount {
			return cobalt.ContainerHostBatchBindMount{Source: m.Source, IsReadOnly: m.IsReadOnly}
		})}
	if r := d.Registry; r != nil {
		c.Registry = &cobalt.ContainerRegistry{RegistryServer: r.RegistryServer, Username: r.Username, Password: r.Password,
			IdentityReference: mapPtr(r.IdentityReference, identityRefFromWire)}
	}
	return c
}
func containerToWire(v cobalt.ContainerSettings) containerWire {
	c := containerWire{ImageName: v.ImageName, ContainerRunOptions: v.ContainerRunOptions, WorkingDirectory: string(v.WorkingDirectory),
		ContainerHostBatchBindMounts: mapSlice(v.ContainerHostBatchBindMounts, func(m cobalt.ContainerHostBatchBindMount) bindMountWire {
			return bindMountWire{Source: m.Source, IsReadOnly: m.IsReadOnly}
		})}
	if r := v.Registry; r != nil {
		c.Registry = &registryWire{RegistryServer: r.RegistryServer, Username: r.Username, Password: r.Password,
			IdentityReference: mapPtr(r.IdentityReference, identityRefToWire)}
	}
	return c
}

func taskSpecFromWire(d taskSpecWire) cobalt.TaskSpec {
	s := cobalt.TaskSpec{ID: d.ID, DisplayName: d.DisplayName, CommandLine: d.CommandLine,
		ExitConditions:      mapPtr(d.ExitConditions, exitCondFromWire),
		ResourceFiles:       mapSlice(d.ResourceFiles, resourceFileFromWire),
		OutputFiles:         mapSlice(d.OutputFiles, outputFileFromWire),
		EnvironmentSettings: mapSlice(d.EnvironmentSettings, nameValueFromWire),
		AffinityInfo: mapPtr(d.AffinityInfo, func(a affinityWire) cobalt.AffinityInformation {
			return cobalt.AffinityInformation{AffinityID: a.AffinityID}
		}),
		RequiredSlots: d.RequiredSlots,
		UserIdentity:  mapPtr(d.UserIdentity, userIdentityFromWire),
		ApplicationPackageReferences: mapSlice(d.ApplicationPackageReferences, func(a appPackageWire) cobalt.ApplicationPackageReference {
			return cobalt.ApplicationPackageReference{ApplicationID: a.ApplicationID, Version: a.Version}
		}),
		AuthenticationTokenSettings: mapPtr(d.AuthenticationTokenSettings, func(a authTokenWire) cobalt.AuthenticationTokenSettings {
			return cobalt.AuthenticationTokenSettings{Access: a.Access}
		}),
		ContainerSettings: mapPtr(d.ContainerSettings, containerFromWire),
	}
	if c := d.Constraints; c != nil {
		s.Constraints = &cobalt.TaskConstraints{MaxWallClockTime: (*cobalt.Duration)(c.MaxWallClockTime), RetentionTime: (*cobalt.Duration)(c.RetentionTime), MaxTaskRetryCount: c.MaxTaskRetryCount}
	}
	return s
}

func taskSpecToWire(s cobalt.TaskSpec) taskSpecWire {
	d := taskSpecWire{ID: s.ID, DisplayName: s.DisplayName, CommandLine: s.CommandLine,
		ExitConditions:      mapPtr(s.ExitConditions, exitCondToWire),
		ResourceFiles:       mapSlice(s.ResourceFiles, resourceFileToWire),
		OutputFiles:         mapSlice(s.OutputFiles, outputFileToWire),
		EnvironmentSettings: mapSlice(s.EnvironmentSettings, nameValueToWire),
		AffinityInfo: mapPtr(s.AffinityInfo, func(a cobalt.AffinityInformation) affinityWire {
			return affinityWire{AffinityID: a.AffinityID}
		}),
		RequiredSlots: s.RequiredSlots,
		UserIdentity:  mapPtr(s.UserIdentity, userIdentityToWire),
		ApplicationPackageReferences: mapSlice(s.ApplicationPackageReferences, func(a cobalt.ApplicationPackageReference) appPackageWire {
			return appPackageWire{ApplicationID: a.ApplicationID, Version: a.Version}
		}),
		AuthenticationTokenSettings: mapPtr(s.AuthenticationTokenSettings, func(a cobalt.AuthenticationTokenSettings) authTokenWire {
			return authTokenWire{Access: a.Access}
		}),
		ContainerSettings: mapPtr(s.ContainerSettings, containerToWire),
	}
	if c := s.Constraints; c != nil {
		d.Constraints = &taskConstrWire{MaxWallClockTime: (*wireDuration)(c.MaxWallClockTime), RetentionTime: (*wireDuration)(c.RetentionTime), MaxTaskRetryCount: c.MaxTaskRetryCount}
	}
	return d
}

func jobSpecFromWire(d jobSpecWire) cobalt.JobSpec {
	s := cobalt.JobSpec{ID: d.ID, DisplayName: d.DisplayName, UsesTaskDependencies: d.UsesTaskDependencies, Priority: d.Priority,
		AllowTaskPreemption: d.AllowTaskPreemption, MaxParallelTasks: d.MaxParallelTasks,
		CommonEnvironmentSettings: mapSlice(d.CommonEnvironmentSettings, nameValueFromWire),
		OnAllTasksComplete:        cobalt.OnAllTasksComplete(d.OnAllTasksComplete), OnTaskFailure: cobalt.OnTaskFailure(d.OnTaskFailure),
		NetworkConfiguration: mapPtr(d.NetworkConfiguration, func(n jobNetworkWire) cobalt.JobNetworkConfiguration {
			return cobalt.JobNetworkConfiguration{SubnetID: n.SubnetID, SkipWithdrawFromVNet: n.SkipWithdrawFromVNet}
		}),
		Metadata: mapSlice(d.Metadata, nameValueFromWire),
	}
	if c := d.Constraints; c != nil {
		s.Constraints = &cobalt.JobConstraints{MaxWallClockTime: (*cobalt.Duration)(c.MaxWallClockTime), MaxTaskRetryCount: c.MaxTaskRetryCount}
	}
	if p := d.PoolInfo; p != nil {
		s.PoolInfo = &cobalt.PoolInformation{PoolID: p.PoolID}
	}
	return s
}

func jobSpecToWire(s cobalt.JobSpec) jobSpecWire {
	d := jobSpecWire{ID: s.ID, DisplayName: s.DisplayName, UsesTaskDependencies: s.UsesTaskDependencies, Priority: s.Priority,
		AllowTaskPreemption: s.AllowTaskPreemption, MaxParallelTasks: s.MaxParallelTasks,
		CommonEnvironmentSettings: mapSlice(s.CommonEnvironmentSettings, nameValueToWire),
		OnAllTasksComplete:        string(s.OnAllTasksComplete), OnTaskFailure: string(s.OnTaskFailure),
		NetworkConfiguration: mapPtr(s.NetworkConfiguration, func(n cobalt.JobNetworkConfiguration) jobNetworkWire {
			return jobNetworkWire{SubnetID: n.SubnetID, SkipWithdrawFromVNet: n.SkipWithdrawFromVNet}
		}),
		Metadata: mapSlice(s.Metadata, nameValueToWire),
	}
	if c := s.Constraints; c != nil {
		d.Constraints = &jobConstrWire{MaxWallClockTime: (*wireDuration)(c.MaxWallClockTime), MaxTaskRetryCount: c.MaxTaskRetryCount}
	}
	if p := s.PoolInfo; p != nil {
		d.PoolInfo = &poolInfoWire{PoolID: p.PoolID}
	}
	return d
}

type failureWire struct {
	Category string          `json:"category"`
	Code     string          `json:"code,omitempty"`
	Message  string          `json:"message,omitempty"`
	Details  []nameValueWire `json:"details,omitempty"`
}

func failureToWire(v cobalt.TaskFailureInfo) failureWire {
	return failureWire{Category: v.Category, Code: v.Code, Message: v.Message, Details: mapSlice(v.Details, nameValueToWire)}
}

// unsupported is Batch's 400 for a property Cobalt does not support.
func unsupported(target, msg string) *cobalt.Error {
	e := batchError(cobalt.EInvalid, codeUnsupportedProp, msg)
	e.Target = target
	return e
}

// poolInfoFromWire converts a poolInfo, refusing an auto pool.
func poolInfoFromWire(p *poolInfoWire) (*cobalt.PoolInformation, error) {
	if p == nil {
		return nil, nil
	}
	if len(p.AutoPoolSpecification) > 0 && string(p.AutoPoolSpecification) != "null" {
		return nil, unsupported("poolInfo.autoPoolSpecification", "Auto pools are not supported; set poolInfo.poolId.")
	}
	return &cobalt.PoolInformation{PoolID: p.PoolID}, nil
}

// domain converts an added job, refusing what Cobalt does not support.
func (w jobSpecWire) domain() (cobalt.JobSpec, error) {
	if len(w.JobManagerTask) > 0 || len(w.JobPreparationTask) > 0 || len(w.JobReleaseTask) > 0 {
		return cobalt.JobSpec{}, unsupported("", "Job manager, preparation and release tasks are not supported.")
	}
	pi, err := poolInfoFromWire(w.PoolInfo)
	if err != nil {
		return cobalt.JobSpec{}, err
	}
	s := jobSpecFromWire(w)
	s.PoolInfo = pi
	return s, nil
}

// domain converts an added task, refusing what Cobalt does not support.
func (w taskSpecWire) domain() (cobalt.TaskSpec, error) {
	if len(w.MultiInstanceSettings) > 0 || len(w.DependsOn) > 0 {
		return cobalt.TaskSpec{}, unsupported("", "Multi-instance tasks and task dependencies are not supported.")
	}
	return taskSpecFromWire(w), nil
}

// jobPatchWire is the body of "update job" (PATCH).
type jobPatchWire struct {
	Priority             *int             `json:"priority,omitempty"`
	AllowTaskPreemption  *bool            `json:"allowTaskPreemption,omitempty"`
	MaxParallelTasks     *int             `json:"maxParallelTasks,omitempty"`
	Constraints          *jobConstrWire   `json:"constraints,omitempty"`
	PoolInfo             *poolInfoWire    `json:"poolInfo,omitempty"`
	OnAllTasksComplete   string           `json:"onAllTasksComplete,omitempty"`
	Metadata             *[]nameValueWire `json:"metadata,omitempty"`
	NetworkConfiguration *jobNetworkWire  `json:"networkConfiguration,omitempty"`
}

func jobConstraintsFromWire(c jobConstrWire) cobalt.JobConstraints {
	return cobalt.JobConstraints{MaxWallClockTime: (*cobalt.Duration)(c.MaxWallClockTime), MaxTaskRetryCount: c.MaxTaskRetryCount}
}

func (w jobPatchWire) domain() (jobs.JobPatch, error) {
	pi, err := poolInfoFromWire(w.PoolInfo)
	if err != nil {
		return jobs.JobPatch{}, err
	}
	p := jobs.JobPatch{Priority: w.Priority, AllowTaskPreemption: w.AllowTaskPreemption, MaxParallelTasks: w.MaxParallelTasks,
		Constraints: mapPtr(w.Constraints, jobConstraintsFromWire), PoolInfo: pi,
		OnAllTasksComplete: cobalt.OnAllTasksComplete(w.OnAllTasksComplete),
		NetworkConfiguration: mapPtr(w.NetworkConfiguration, func(n jobNetworkWire) cobalt.JobNetworkConfiguration {
			return cobalt.JobNetworkConfiguration{SubnetID: n.SubnetID, SkipWithdrawFromVNet: n.SkipWithdrawFromVNet}
		})}
	if w.Metadata != nil {
		m := mapSlice(*w.Metadata, nameValueFromWire)
		if m == nil {
			m = []cobalt.NameValue{}
		}
		p.Metadata = &m
	}
	return p, nil
}

// jobReplaceWire is the body of "replace job" (PUT).
type jobReplaceWire struct {
	Priority            *int            `json:"priority,omitempty"`
	AllowTaskPreemption *bool           `json:"allowTaskPreemption,omitempty"`
	MaxParallelTasks    *int            `json:"maxParallelTasks,omitempty"`
	Constraints         *jobConstrWire  `json:"constraints,omitempty"`
	PoolInfo            *poolInfoWire   `json:"poolInfo,omitempty"`
	OnAllTasksComplete  string          `json:"onAllTasksComplete,omitempty"`
	Metadata            []nameValueWire `json:"metadata,omitempty"`
}

func (w jobReplaceWire) domain() (jobs.JobReplace, error) {
	pi, err := poolInfoFromWire(w.PoolInfo)
	if err != nil {
		return jobs.JobReplace{}, err
	}
	return jobs.JobReplace{Priority: w.Priority, AllowTaskPreemption: w.AllowTaskPreemption, MaxParallelTasks: w.MaxParallelTasks,
		Constraints: mapPtr(w.Constraints, jobConstraintsFromWire), PoolInfo: pi,
		OnAllTasksComplete: cobalt.OnAllTasksComplete(w.OnAllTasksComplete), Metadata: mapSlice(w.Metadata, nameValueFromWire)}, nil
}

// jobExecWire is a job's executionInfo.
type jobExecWire struct {
	StartTime       time.Time  `json:"startTime"`
	EndTime         *time.Time `json:"endTime,omitempty"`
	PoolID          string     `json:"poolId,omitempty"`
	TerminateReason string     `json:"terminateReason,omitempty"`
}

// jobWire is a job as "get job" returns it.
type jobWire struct {
	jobSpecWire
	URL                         string      `json:"url,omitempty"`
	ETag                        string      `json:"eTag"`
	LastModified                time.Time   `json:"lastModified"`
	CreationTime                time.Time   `json:"creationTime"`
	State                       string      `json:"state"`
	StateTransitionTime         time.Time   `json:"stateTransitionTime"`
	PreviousState               string      `json:"previousState,omitempty"`
	PreviousStateTransitionTime *time.Time  `json:"previousStateTransitionTime,omitempty"`
	ExecutionInfo               jobExecWire `json:"executionInfo"`
}

func jobToWire(j cobalt.Job, url string) jobWire {
	return jobWire{jobSpecWire: jobSpecToWire(j.JobSpec), URL: url, ETag: j.ETag, LastModified: j.LastModified,
		CreationTime: j.CreationTime, State: string(j.State), StateTransitionTime: j.StateTransitionTime,
		PreviousState: string(j.PreviousState), PreviousStateTransitionTime: j.PreviousStateTransitionTime,
		ExecutionInfo: jobExecWire{StartTime: j.ExecutionInfo.StartTime, EndTime: j.ExecutionInfo.EndTime,
			PoolID: j.ExecutionInfo.PoolID, TerminateReason: j.ExecutionInfo.TerminateReason}}
}

// taskExecWire is a task's executionInfo.
type taskExecWire struct {
	StartTime       *time.Time   `json:"startTime,omitempty"`
	EndTime         *time.Time   `json:"endTime,omitempty"`
	ExitCode        *int         `json:"exitCode,omitempty"`
	FailureInfo     *failureWire `json:"failureInfo,omitempty"`
	RetryCount      int          `json:"retryCount"`
	LastRetryTime   *time.Time   `json:"lastRetryTime,omitempty"`
	RequeueCount    int          `json:"requeueCount"`
	LastRequeueTime *time.Time   `json:"lastRequeueTime,omitempty"`
	Result          string       `json:"result,omitempty"`
}

// nodeInfoWire says where a task ran.
type nodeInfoWire struct {
	AffinityID           string `json:"affinityId,omitempty"`
	NodeURL              string `json:"nodeUrl,omitempty"`
	PoolID               string `json:"poolId,omitempty"`
	NodeID               string `json:"nodeId,omitempty"`
	TaskRootDirectory    string `json:"taskRootDirectory,omitempty"`
	TaskRootDirectoryURL string `json:"taskRootDirectoryUrl,omitempty"`
}

// taskWire is a task as "get task" returns it.
type taskWire struct {
	taskSpecWire
	URL                         string        `json:"url,omitempty"`
	ETag                        string        `json:"eTag"`
	LastModified                time.Time     `json:"lastModified"`
	CreationTime                time.Time     `json:"creationTime"`
	State                       string        `json:"state"`
	StateTransitionTime         time.Time     `json:"stateTransitionTime"`
	PreviousState               string        `json:"previousState,omitempty"`
	PreviousStateTransitionTime *time.Time    `json:"previousStateTransitionTime,omitempty"`
	ExecutionInfo               taskExecWire  `json:"executionInfo"`
	NodeInfo                    *nodeInfoWire `json:"nodeInfo,omitempty"`
}

func taskToWire(t cobalt.Task) taskWire {
	ei := t.ExecutionInfo
	return taskWire{taskSpecWire: taskSpecToWire(t.TaskSpec), ETag: t.ETag, LastModified: t.LastModified,
		CreationTime: t.CreationTime, State: string(t.State), StateTransitionTime: t.StateTransitionTime,
		PreviousState: string(t.PreviousState), PreviousStateTransitionTime: t.PreviousStateTransitionTime,
		ExecutionInfo: taskExecWire{StartTime: ei.StartTime, EndTime: ei.EndTime, ExitCode: ei.ExitCode,
			FailureInfo: mapPtr(ei.FailureInfo, failureToWire), RetryCount: ei.RetryCount, LastRetryTime: ei.LastRetryTime,
			RequeueCount: ei.RequeueCount, LastRequeueTime: ei.LastRequeueTime, Result: string(ei.Result)},
		NodeInfo: mapPtr(t.NodeInfo, func(n cobalt.TaskNodeInfo) nodeInfoWire {
			return nodeInfoWire{AffinityID: n.AffinityID, PoolID: n.PoolID, NodeID: n.NodeID, TaskRootDirectory: n.TaskRootDirectory}
		})}
}

// taskCountsWire are task or slot counts by state.
type taskCountsWire struct {
	Active    int `json:"active"`
	Running   int `json:"running"`
	Completed int `json:"completed"`
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`
}

// taskCountsResultWire is the body of "get task counts".
type taskCountsResultWire struct {
	TaskCounts     taskCountsWire `json:"taskCounts"`
	TaskSlotCounts taskCountsWire `json:"taskSlotCounts"`
}

func taskCountsToWire(c jobs.TaskCountsResult) taskCountsResultWire {
	conv := func(c jobs.TaskCounts) taskCountsWire {
		return taskCountsWire{Active: c.Active, Running: c.Running, Completed: c.Completed, Succeeded: c.Succeeded, Failed: c.Failed}
	}
	return taskCountsResultWire{TaskCounts: conv(c.TaskCounts), TaskSlotCounts: conv(c.TaskSlotCounts)}
}
