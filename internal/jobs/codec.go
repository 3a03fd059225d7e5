package jobs

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// This file is the persisted form of jobs and tasks: the JSON documents in
// the store's spec columns. The shapes are those the previous release wrote
// (the data plane's JSON of the time), so its rows still decode; see
// codec_test.go. Nothing outside this package reads them.

// jobDoc is a stored job: its spec and the state the columns do not hold.
type jobDoc struct {
	jobSpecDoc
	State                       string     `json:"state"`
	StateTransitionTime         time.Time  `json:"stateTransitionTime"`
	PreviousState               string     `json:"previousState,omitempty"`
	PreviousStateTransitionTime *time.Time `json:"previousStateTransitionTime,omitempty"`
	ExecutionInfo               jobExecDoc `json:"executionInfo"`
}

// jobSpecDoc is the spec part of a stored job.
type jobSpecDoc struct {
	ID                        string         `json:"id"`
	DisplayName               string         `json:"displayName,omitempty"`
	UsesTaskDependencies      *bool          `json:"usesTaskDependencies,omitempty"`
	Priority                  *int           `json:"priority,omitempty"`
	AllowTaskPreemption       *bool          `json:"allowTaskPreemption,omitempty"`
	MaxParallelTasks          *int           `json:"maxParallelTasks,omitempty"`
	Constraints               *jobConstrDoc  `json:"constraints,omitempty"`
	CommonEnvironmentSettings []nameValueDoc `json:"commonEnvironmentSettings,omitempty"`
	PoolInfo                  *poolInfoDoc   `json:"poolInfo,omitempty"`
	OnAllTasksComplete        string         `json:"onAllTasksComplete,omitempty"`
	OnTaskFailure             string         `json:"onTaskFailure,omitempty"`
	NetworkConfiguration      *jobNetworkDoc `json:"networkConfiguration,omitempty"`
	Metadata                  []nameValueDoc `json:"metadata,omitempty"`
}

type jobConstrDoc struct {
	MaxWallClockTime  *cobalt.Duration `json:"maxWallClockTime,omitempty"`
	MaxTaskRetryCount *int             `json:"maxTaskRetryCount,omitempty"`
}

type poolInfoDoc struct {
	PoolID string `json:"poolId,omitempty"`
}

type jobNetworkDoc struct {
	SubnetID             string `json:"subnetId,omitempty"`
	SkipWithdrawFromVNet *bool  `json:"skipWithdrawFromVNet,omitempty"`
}

type jobExecDoc struct {
	StartTime       time.Time  `json:"startTime"`
	EndTime         *time.Time `json:"endTime,omitempty"`
	PoolID          string     `json:"poolId,omitempty"`
	TerminateReason string     `json:"terminateReason,omitempty"`
}

type nameValueDoc struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// taskSpecDoc is a stored task spec (the record's Spec column).
type taskSpecDoc struct {
	ID                           string            `json:"id"`
	DisplayName                  string            `json:"displayName,omitempty"`
	CommandLine                  string            `json:"commandLine"`
	ExitConditions               *exitCondDoc      `json:"exitConditions,omitempty"`
	ResourceFiles                []resourceFileDoc `json:"resourceFiles,omitempty"`
	OutputFiles                  []outputFileDoc   `json:"outputFiles,omitempty"`
	EnvironmentSettings          []nameValueDoc    `json:"environmentSettings,omitempty"`
	AffinityInfo                 *affinityDoc      `json:"affinityInfo,omitempty"`
	Constraints                  *taskConstrDoc    `json:"constraints,omitempty"`
	RequiredSlots                *int              `json:"requiredSlots,omitempty"`
	UserIdentity                 *userIdentityDoc  `json:"userIdentity,omitempty"`
	ApplicationPackageReferences []appPackageDoc   `json:"applicationPackageReferences,omitempty"`
	AuthenticationTokenSettings  *authTokenDoc     `json:"authenticationTokenSettings,omitempty"`
	ContainerSettings            *containerDoc     `json:"containerSettings,omitempty"`
}

type taskConstrDoc struct {
	MaxWallClockTime  *cobalt.Duration `json:"maxWallClockTime,omitempty"`
	RetentionTime     *cobalt.Duration `json:"retentionTime,omitempty"`
	MaxTaskRetryCount *int             `json:"maxTaskRetryCount,omitempty"`
}

type exitOptionsDoc struct {
	JobAction        string `json:"jobAction,omitempty"`
	DependencyAction string `json:"dependencyAction,omitempty"`
}

type exitCodeDoc struct {
	Code        int            `json:"code"`
	ExitOptions exitOptionsDoc `json:"exitOptions"`
}

type exitRangeDoc struct {
	Start       int            `json:"start"`
	End         int            `json:"end"`
	ExitOptions exitOptionsDoc `json:"exitOptions"`
}

type exitCondDoc struct {
	ExitCodes          []exitCodeDoc   `json:"exitCodes,omitempty"`
	ExitCodeRanges     []exitRangeDoc  `json:"exitCodeRanges,omitempty"`
	PreProcessingError *exitOptionsDoc `json:"preProcessingError,omitempty"`
	FileUploadError    *exitOptionsDoc `json:"fileUploadError,omitempty"`
	Default            *exitOptionsDoc `json:"default,omitempty"`
}

type identityRefDoc struct {
	ResourceID string `json:"resourceId,omitempty"`
}

type resourceFileDoc struct {
	AutoStorageContainerName string          `json:"autoStorageContainerName,omitempty"`
	StorageContainerURL      string          `json:"storageContainerUrl,omitempty"`
	HTTPURL                  string          `json:"httpUrl,omitempty"`
	BlobPrefix               string          `json:"blobPrefix,omitempty"`
	FilePath                 string          `json:"filePath,omitempty"`
	FileMode                 string          `json:"fileMode,omitempty"`
	IdentityReference        *identityRefDoc `json:"identityReference,omitempty"`
}

type outputContainerDoc struct {
	Path              string          `json:"path,omitempty"`
	ContainerURL      string          `json:"containerUrl"`
	IdentityReference *identityRefDoc `json:"identityReference,omitempty"`
	UploadHeaders     []nameValueDoc  `json:"uploadHeaders,omitempty"`
}

type outputDestDoc struct {
	Container *outputContainerDoc `json:"container,omitempty"`
}

type uploadOptionsDoc struct {
	UploadCondition string `json:"uploadCondition"`
}

type outputFileDoc struct {
	FilePattern   string           `json:"filePattern"`
	Destination   outputDestDoc    `json:"destination"`
	UploadOptions uploadOptionsDoc `json:"uploadOptions"`
}

type affinityDoc struct {
	AffinityID string `json:"affinityId"`
}

type autoUserDoc struct {
	Scope          string `json:"scope,omitempty"`
	ElevationLevel string `json:"elevationLevel,omitempty"`
}

type userIdentityDoc struct {
	Username string       `json:"username,omitempty"`
	AutoUser *autoUserDoc `json:"autoUser,omitempty"`
}

type appPackageDoc struct {
	ApplicationID string `json:"applicationId"`
	Version       string `json:"version,omitempty"`
}

type authTokenDoc struct {
	Access []string `json:"access,omitempty"`
}

type registryDoc struct {
	RegistryServer    string          `json:"registryServer,omitempty"`
	Username          string          `json:"username,omitempty"`
	Password          string          `json:"password,omitempty"`
	IdentityReference *identityRefDoc `json:"identityReference,omitempty"`
}

type bindMountDoc struct {
	Source     string `json:"source,omitempty"`
	IsReadOnly bool   `json:"isReadOnly,omitempty"`
}

type containerDoc struct {
	ImageName                    string         `json:"imageName"`
	ContainerRunOptions          string         `json:"containerRunOptions,omitempty"`
	Registry                     *registryDoc   `json:"registry,omitempty"`
	WorkingDirectory             string         `json:"workingDirectory,omitempty"`
	ContainerHostBatchBindMounts []bindMountDoc `json:"containerHostBatchBindMounts,omitempty"`
}

// taskExec is the stored execution state of a task beyond its columns (the
// record's Exec column).
type taskExec struct {
	StartTime       *time.Time  `json:"startTime,omitempty"`
	EndTime         *time.Time  `json:"endTime,omitempty"`
	ExitCode        *int        `json:"exitCode,omitempty"`
	FailureInfo     *failureDoc `json:"failureInfo,omitempty"`
	LastRetryTime   *time.Time  `json:"lastRetryTime,omitempty"`
	PreviousState   string      `json:"previousState,omitempty"`
	PreviousStateAt *time.Time  `json:"previousStateAt,omitempty"`
	NodeID          string      `json:"nodeId,omitempty"`
	PoolID          string      `json:"poolId,omitempty"`
}

type failureDoc struct {
	Category string         `json:"category"`
	Code     string         `json:"code,omitempty"`
	Message  string         `json:"message,omitempty"`
	Details  []nameValueDoc `json:"details,omitempty"`
}

func decodeExec(b []byte) taskExec {
	var e taskExec
	_ = json.Unmarshal(b, &e)
	return e
}

func (e taskExec) encode() []byte {
	b, _ := json.Marshal(e)
	return b
}

func failureFromDoc(d failureDoc) cobalt.TaskFailureInfo {
	return cobalt.TaskFailureInfo{Category: d.Category, Code: d.Code, Message: d.Message, Details: mapSlice(d.Details, nameValueFromDoc)}
}

func failureToDoc(v cobalt.TaskFailureInfo) failureDoc {
	return failureDoc{Category: v.Category, Code: v.Code, Message: v.Message, Details: mapSlice(v.Details, nameValueToDoc)}
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

func nameValueFromDoc(d nameValueDoc) cobalt.NameValue {
	return cobalt.NameValue{Name: d.Name, Value: d.Value}
}
func nameValueToDoc(v cobalt.NameValue) nameValueDoc {
	return nameValueDoc{Name: v.Name, Value: v.Value}
}

func identityRefFromDoc(d identityRefDoc) cobalt.IdentityReference {
	return cobalt.IdentityReference{ResourceID: d.ResourceID}
}
func identityRefToDoc(v cobalt.IdentityReference) identityRefDoc {
	return identityRefDoc{ResourceID: v.ResourceID}
}

func resourceFileFromDoc(d resourceFileDoc) cobalt.ResourceFile {
	return cobalt.ResourceFile{AutoStorageContainerName: d.AutoStorageContainerName, StorageContainerURL: d.StorageContainerURL,
		HTTPURL: d.HTTPURL, BlobPrefix: d.BlobPrefix, FilePath: d.FilePath, FileMode: d.FileMode,
		IdentityReference: mapPtr(d.IdentityReference, identityRefFromDoc)}
}
func resourceFileToDoc(v cobalt.ResourceFile) resourceFileDoc {
	return resourceFileDoc{AutoStorageContainerName: v.AutoStorageContainerName, StorageContainerURL: v.StorageContainerURL,
		HTTPURL: v.HTTPURL, BlobPrefix: v.BlobPrefix, FilePath: v.FilePath, FileMode: v.FileMode,
		IdentityReference: mapPtr(v.IdentityReference, identityRefToDoc)}
}

func exitOptionsFromDoc(d exitOptionsDoc) cobalt.ExitOptions {
	return cobalt.ExitOptions{JobAction: d.JobAction, DependencyAction: d.DependencyAction}
}
func exitOptionsToDoc(v cobalt.ExitOptions) exitOptionsDoc {
	return exitOptionsDoc{JobAction: v.JobAction, DependencyAction: v.DependencyAction}
}

func exitCondFromDoc(d exitCondDoc) cobalt.ExitConditions {
	return cobalt.ExitConditions{
		ExitCodes: mapSlice(d.ExitCodes, func(c exitCodeDoc) cobalt.ExitCodeMapping {
			return cobalt.ExitCodeMapping{Code: c.Code, ExitOptions: exitOptionsFromDoc(c.ExitOptions)}
		}),
		ExitCodeRanges: mapSlice(d.ExitCodeRanges, func(c exitRangeDoc) cobalt.ExitCodeRangeMapping {
			return cobalt.ExitCodeRangeMapping{Start: c.Start, End: c.End, ExitOptions: exitOptionsFromDoc(c.ExitOptions)}
		}),
		PreProcessingError: mapPtr(d.PreProcessingError, exitOptionsFromDoc),
		FileUploadError:    mapPtr(d.FileUploadError, exitOptionsFromDoc),
		Default:            mapPtr(d.Default, exitOptionsFromDoc),
	}
}
func exitCondToDoc(v cobalt.ExitConditions) exitCondDoc {
	return exitCondDoc{
		ExitCodes: mapSlice(v.ExitCodes, func(c cobalt.ExitCodeMapping) exitCodeDoc {
			return exitCodeDoc{Code: c.Code, ExitOptions: exitOptionsToDoc(c.ExitOptions)}
		}),
		ExitCodeRanges: mapSlice(v.ExitCodeRanges, func(c cobalt.ExitCodeRangeMapping) exitRangeDoc {
			return exitRangeDoc{Start: c.Start, End: c.End, ExitOptions: exitOptionsToDoc(c.ExitOptions)}
		}),
		PreProcessingError: mapPtr(v.PreProcessingError, exitOptionsToDoc),
		FileUploadError:    mapPtr(v.FileUploadError, exitOptionsToDoc),
		Default:            mapPtr(v.Default, exitOptionsToDoc),
	}
}

func outputFileFromDoc(d outputFileDoc) cobalt.OutputFile {
	o := cobalt.OutputFile{FilePattern: d.FilePattern, UploadCondition: cobalt.OutputFileUploadCondition(d.UploadOptions.UploadCondition)}
	if c := d.Destination.Container; c != nil {
		o.ContainerURL, o.Path = c.ContainerURL, c.Path
		o.IdentityReference = mapPtr(c.IdentityReference, identityRefFromDoc)
		o.UploadHeaders = mapSlice(c.UploadHeaders, nameValueFromDoc)
	}
	return o
}
func outputFileToDoc(v cobalt.OutputFile) outputFileDoc {
	return outputFileDoc{FilePattern: v.FilePattern,
		Destination: outputDestDoc{Container: &outputContainerDoc{Path: v.Path, ContainerURL: v.ContainerURL,
			IdentityReference: mapPtr(v.IdentityReference, identityRefToDoc), UploadHeaders: mapSlice(v.UploadHeaders, nameValueToDoc)}},
		UploadOptions: uploadOptionsDoc{UploadCondition: string(v.UploadCondition)}}
}

func userIdentityFromDoc(d userIdentityDoc) cobalt.UserIdentity {
	u := cobalt.UserIdentity{UserName: d.Username}
	if a := d.AutoUser; a != nil {
		u.AutoUser = &cobalt.AutoUser{Scope: cobalt.AutoUserScope(a.Scope), ElevationLevel: cobalt.ElevationLevel(a.ElevationLevel)}
	}
	return u
}
func userIdentityToDoc(v cobalt.UserIdentity) userIdentityDoc {
	u := userIdentityDoc{Username: v.UserName}
	if a := v.AutoUser; a != nil {
		u.AutoUser = &autoUserDoc{Scope: string(a.Scope), ElevationLevel: string(a.ElevationLevel)}
	}
	return u
}

func containerFromDoc(d containerDoc) cobalt.ContainerSettings {
	c := cobalt.ContainerSettings{ImageName: d.ImageName, ContainerRunOptions: d.ContainerRunOptions,
		WorkingDirectory: cobalt.ContainerWorkingDirectory(d.WorkingDirectory),
		ContainerHostBatchBindMounts: mapSlice(d.ContainerHostBatchBindMounts, func(m bindMountDoc) cobalt.ContainerHostBatchBindMount {
			return cobalt.ContainerHostBatchBindMount{Source: m.Source, IsReadOnly: m.IsReadOnly}
		})}
	if r := d.Registry; r != nil {
		c.Registry = &cobalt.ContainerRegistry{RegistryServer: r.RegistryServer, Username: r.Username, Password: r.Password,
			IdentityReference: mapPtr(r.IdentityReference, identityRefFromDoc)}
	}
	return c
}
func containerToDoc(v cobalt.ContainerSettings) containerDoc {
	c := containerDoc{ImageName: v.ImageName, ContainerRunOptions: v.ContainerRunOptions, WorkingDirectory: string(v.WorkingDirectory),
		ContainerHostBatchBindMounts: mapSlice(v.ContainerHostBatchBindMounts, func(m cobalt.ContainerHostBatchBindMount) bindMountDoc {
			return bindMountDoc{Source: m.Source, IsReadOnly: m.IsReadOnly}
		})}
	if r := v.Registry; r != nil {
		c.Registry = &registryDoc{RegistryServer: r.RegistryServer, Username: r.Username, Password: r.Password,
			IdentityReference: mapPtr(r.IdentityReference, identityRefToDoc)}
	}
	return c
}

func taskSpecFromDoc(d taskSpecDoc) cobalt.TaskSpec {
	s := cobalt.TaskSpec{ID: d.ID, DisplayName: d.DisplayName, CommandLine: d.CommandLine,
		ExitConditions:      mapPtr(d.ExitConditions, exitCondFromDoc),
		ResourceFiles:       mapSlice(d.ResourceFiles, resourceFileFromDoc),
		OutputFiles:         mapSlice(d.OutputFiles, outputFileFromDoc),
		EnvironmentSettings: mapSlice(d.EnvironmentSettings, nameValueFromDoc),
		AffinityInfo: mapPtr(d.AffinityInfo, func(a affinityDoc) cobalt.AffinityInformation {
			return cobalt.AffinityInformation{AffinityID: a.AffinityID}
		}),
		RequiredSlots: d.RequiredSlots,
		UserIdentity:  mapPtr(d.UserIdentity, userIdentityFromDoc),
		ApplicationPackageReferences: mapSlice(d.ApplicationPackageReferences, func(a appPackageDoc) cobalt.ApplicationPackageReference {
			return cobalt.ApplicationPackageReference{ApplicationID: a.ApplicationID, Version: a.Version}
		}),
		AuthenticationTokenSettings: mapPtr(d.AuthenticationTokenSettings, func(a authTokenDoc) cobalt.AuthenticationTokenSettings {
			return cobalt.AuthenticationTokenSettings{Access: a.Access}
		}),
		ContainerSettings: mapPtr(d.ContainerSettings, containerFromDoc),
	}
	if c := d.Constraints; c != nil {
		s.Constraints = &cobalt.TaskConstraints{MaxWallClockTime: c.MaxWallClockTime, RetentionTime: c.RetentionTime, MaxTaskRetryCount: c.MaxTaskRetryCount}
	}
	return s
}

func taskSpecToDoc(s cobalt.TaskSpec) taskSpecDoc {
	d := taskSpecDoc{ID: s.ID, DisplayName: s.DisplayName, CommandLine: s.CommandLine,
		ExitConditions:      mapPtr(s.ExitConditions, exitCondToDoc),
		ResourceFiles:       mapSlice(s.ResourceFiles, resourceFileToDoc),
		OutputFiles:         mapSlice(s.OutputFiles, outputFileToDoc),
		EnvironmentSettings: mapSlice(s.EnvironmentSettings, nameValueToDoc),
		AffinityInfo: mapPtr(s.AffinityInfo, func(a cobalt.AffinityInformation) affinityDoc {
			return affinityDoc{AffinityID: a.AffinityID}
		}),
		RequiredSlots: s.RequiredSlots,
		UserIdentity:  mapPtr(s.UserIdentity, userIdentityToDoc),
		ApplicationPackageReferences: mapSlice(s.ApplicationPackageReferences, func(a cobalt.ApplicationPackageReference) appPackageDoc {
			return appPackageDoc{ApplicationID: a.ApplicationID, Version: a.Version}
		}),
		AuthenticationTokenSettings: mapPtr(s.AuthenticationTokenSettings, func(a cobalt.AuthenticationTokenSettings) authTokenDoc {
			return authTokenDoc{Access: a.Access}
		}),
		ContainerSettings: mapPtr(s.ContainerSettings, containerToDoc),
	}
	if c := s.Constraints; c != nil {
		d.Constraints = &taskConstrDoc{MaxWallClockTime: c.MaxWallClockTime, RetentionTime: c.RetentionTime, MaxTaskRetryCount: c.MaxTaskRetryCount}
	}
	return d
}

// decodeTaskSpec reads a record's Spec column.
func decodeTaskSpec(b []byte) (cobalt.TaskSpec, error) {
	var d taskSpecDoc
	if err := json.Unmarshal(b, &d); err != nil {
		return cobalt.TaskSpec{}, err
	}
	return taskSpecFromDoc(d), nil
}

// encodeTaskSpec writes a record's Spec column.
func encodeTaskSpec(s cobalt.TaskSpec) []byte {
	b, _ := json.Marshal(taskSpecToDoc(s))
	return b
}

func jobSpecFromDoc(d jobSpecDoc) cobalt.JobSpec {
	s := cobalt.JobSpec{ID: d.ID, DisplayName: d.DisplayName, UsesTaskDependencies: d.UsesTaskDependencies, Priority: d.Priority,
		AllowTaskPreemption: d.AllowTaskPreemption, MaxParallelTasks: d.MaxParallelTasks,
		CommonEnvironmentSettings: mapSlice(d.CommonEnvironmentSettings, nameValueFromDoc),
		OnAllTasksComplete:        cobalt.OnAllTasksComplete(d.OnAllTasksComplete), OnTaskFailure: cobalt.OnTaskFailure(d.OnTaskFailure),
		NetworkConfiguration: mapPtr(d.NetworkConfiguration, func(n jobNetworkDoc) cobalt.JobNetworkConfiguration {
			return cobalt.JobNetworkConfiguration{SubnetID: n.SubnetID, SkipWithdrawFromVNet: n.SkipWithdrawFromVNet}
		}),
		Metadata: mapSlice(d.Metadata, nameValueFromDoc),
	}
	if c := d.Constraints; c != nil {
		s.Constraints = &cobalt.JobConstraints{MaxWallClockTime: c.MaxWallClockTime, MaxTaskRetryCount: c.MaxTaskRetryCount}
	}
	if p := d.PoolInfo; p != nil {
		s.PoolInfo = &cobalt.PoolInformation{PoolID: p.PoolID}
	}
	return s
}

func jobSpecToDoc(s cobalt.JobSpec) jobSpecDoc {
	d := jobSpecDoc{ID: s.ID, DisplayName: s.DisplayName, UsesTaskDependencies: s.UsesTaskDependencies, Priority: s.Priority,
		AllowTaskPreemption: s.AllowTaskPreemption, MaxParallelTasks: s.MaxParallelTasks,
		CommonEnvironmentSettings: mapSlice(s.CommonEnvironmentSettings, nameValueToDoc),
		OnAllTasksComplete:        string(s.OnAllTasksComplete), OnTaskFailure: string(s.OnTaskFailure),
		NetworkConfiguration: mapPtr(s.NetworkConfiguration, func(n cobalt.JobNetworkConfiguration) jobNetworkDoc {
			return jobNetworkDoc{SubnetID: n.SubnetID, SkipWithdrawFromVNet: n.SkipWithdrawFromVNet}
		}),
		Metadata: mapSlice(s.Metadata, nameValueToDoc),
	}
	if c := s.Constraints; c != nil {
		d.Constraints = &jobConstrDoc{MaxWallClockTime: c.MaxWallClockTime, MaxTaskRetryCount: c.MaxTaskRetryCount}
	}
	if p := s.PoolInfo; p != nil {
		d.PoolInfo = &poolInfoDoc{PoolID: p.PoolID}
	}
	return d
}

// jobFromRecord decodes a stored job and overlays its columns.
func jobFromRecord(r store.JobRecord) (cobalt.Job, error) {
	var d jobDoc
	if err := json.Unmarshal(r.Spec, &d); err != nil {
		return cobalt.Job{}, fmt.Errorf("decode job %s: %w", r.ID, err)
	}
	j := cobalt.Job{JobSpec: jobSpecFromDoc(d.jobSpecDoc), StateTransitionTime: d.StateTransitionTime,
		PreviousState: cobalt.JobState(d.PreviousState), PreviousStateTransitionTime: d.PreviousStateTransitionTime,
		ExecutionInfo: cobalt.JobExecutionInfo{StartTime: d.ExecutionInfo.StartTime, EndTime: d.ExecutionInfo.EndTime,
			PoolID: d.ExecutionInfo.PoolID, TerminateReason: d.ExecutionInfo.TerminateReason}}
	j.ID, j.State = r.ID, cobalt.JobState(r.State)
	j.ETag, j.LastModified, j.CreationTime = ETag(r.Version), r.UpdatedAt, r.CreatedAt
	return j, nil
}

// encodeJob writes a job's Spec column.
func encodeJob(j cobalt.Job) []byte {
	d := jobDoc{jobSpecDoc: jobSpecToDoc(j.JobSpec), State: string(j.State), StateTransitionTime: j.StateTransitionTime,
		PreviousState: string(j.PreviousState), PreviousStateTransitionTime: j.PreviousStateTransitionTime,
		ExecutionInfo: jobExecDoc{StartTime: j.ExecutionInfo.StartTime, EndTime: j.ExecutionInfo.EndTime,
			PoolID: j.ExecutionInfo.PoolID, TerminateReason: j.ExecutionInfo.TerminateReason}}
	b, _ := json.Marshal(d)
	return b
}
