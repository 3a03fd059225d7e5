package batchapi

import (
	"encoding/json"
	"strings"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/batch"
	"github.com/cobaltbatch/cobalt/internal/batchwire"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// This file is the data-plane codec's rendering side for pools and compute
// nodes, as typed structs (flat properties, lower-case enums). Zero times
// are left out rather than written as "": the Go client fails to parse an
// empty date, while an absent one is simply nil. The pool model, its
// validation and defaults live in internal/batch.

// ptrIf returns &v when ok, else nil: the property is written, even empty,
// only when the model has it.
func ptrIf[T any](ok bool, v T) *T {
	if !ok {
		return nil
	}
	return &v
}

type dpPool struct {
	ID                            string                   `json:"id"`
	URL                           string                   `json:"url"`
	ETag                          string                   `json:"eTag,omitempty"`
	DisplayName                   string                   `json:"displayName,omitempty"`
	CreationTime                  string                   `json:"creationTime,omitempty"`
	LastModified                  string                   `json:"lastModified,omitempty"`
	State                         string                   `json:"state"`
	StateTransitionTime           string                   `json:"stateTransitionTime,omitempty"`
	AllocationState               string                   `json:"allocationState"`
	AllocationStateTransitionTime string                   `json:"allocationStateTransitionTime,omitempty"`
	VMSize                        string                   `json:"vmSize"`
	VirtualMachineConfiguration   *dpVMConfig              `json:"virtualMachineConfiguration,omitempty"`
	CurrentDedicatedNodes         int                      `json:"currentDedicatedNodes"`
	CurrentLowPriorityNodes       int                      `json:"currentLowPriorityNodes"`
	TargetDedicatedNodes          *int                     `json:"targetDedicatedNodes,omitempty"`
	TargetLowPriorityNodes        *int                     `json:"targetLowPriorityNodes,omitempty"`
	ResizeTimeout                 string                   `json:"resizeTimeout,omitempty"`
	ResizeErrors                  []dpResizeError          `json:"resizeErrors,omitempty"`
	EnableAutoScale               bool                     `json:"enableAutoScale"`
	AutoScaleFormula              *string                  `json:"autoScaleFormula,omitempty"`
	AutoScaleEvaluationInterval   string                   `json:"autoScaleEvaluationInterval,omitempty"`
	AutoScaleRun                  *dpAutoScaleRun          `json:"autoScaleRun,omitempty"`
	EnableInterNodeCommunication  bool                     `json:"enableInterNodeCommunication"`
	NetworkConfiguration          json.RawMessage          `json:"networkConfiguration,omitempty"`
	StartTask                     *dpStartTask             `json:"startTask,omitempty"`
	TaskSlotsPerNode              int                      `json:"taskSlotsPerNode"`
	TaskSchedulingPolicy          dpSchedulingPolicy       `json:"taskSchedulingPolicy"`
	UserAccounts                  *[]batchwire.UserAccount `json:"userAccounts,omitempty"`
	Metadata                      *[]batchwire.NameValue   `json:"metadata,omitempty"`
	MountConfiguration            json.RawMessage          `json:"mountConfiguration,omitempty"`
	ApplicationPackageReferences  *[]dpAppPackage          `json:"applicationPackageReferences,omitempty"`
	CertificateReferences         json.RawMessage          `json:"certificateReferences,omitempty"`
	UpgradePolicy                 json.RawMessage          `json:"upgradePolicy,omitempty"`
	TargetNodeCommunicationMode   string                   `json:"targetNodeCommunicationMode,omitempty"`
	CurrentNodeCommunicationMode  string                   `json:"currentNodeCommunicationMode"`
	ResourceTags                  *map[string]string       `json:"resourceTags,omitempty"`
	Identity                      *dpPoolIdentity          `json:"identity,omitempty"`
	IdentityWarning               string                   `json:"identityWarning,omitempty"`
}

type dpSchedulingPolicy struct {
	NodeFillType string `json:"nodeFillType"`
}

type dpVMConfig struct {
	ImageReference         dpImageReference   `json:"imageReference"`
	NodeAgentSKUID         string             `json:"nodeAgentSKUId"`
	ContainerConfiguration *dpContainerConfig `json:"containerConfiguration,omitempty"`
	extra                  map[string]json.RawMessage
}

// MarshalJSON writes the typed properties over the other ones (dataDisks,
// osDisk, ...), converted to the data plane's shape.
func (v dpVMConfig) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(v.extra)+3)
	for k, x := range v.extra {
		m[k] = x
	}
	m["imageReference"] = v.ImageReference
	m["nodeAgentSKUId"] = v.NodeAgentSKUID
	if v.ContainerConfiguration != nil {
		m["containerConfiguration"] = v.ContainerConfiguration
	}
	return json.Marshal(m)
}

type dpImageReference struct {
	Publisher               string `json:"publisher,omitempty"`
	Offer                   string `json:"offer,omitempty"`
	Sku                     string `json:"sku,omitempty"`
	Version                 string `json:"version,omitempty"`
	VirtualMachineImageID   string `json:"virtualMachineImageId,omitempty"`
	SharedGalleryImageID    string `json:"sharedGalleryImageId,omitempty"`
	CommunityGalleryImageID string `json:"communityGalleryImageId,omitempty"`
}

// dpContainerConfig keeps the data plane's enum spelling
// ("dockerCompatible") and never carries a registry password.
type dpContainerConfig struct {
	Type                string                `json:"type"`
	ContainerImageNames []string              `json:"containerImageNames,omitempty"`
	ContainerRegistries []dpContainerRegistry `json:"containerRegistries,omitempty"`
}

type dpContainerRegistry struct {
	Username          string                       `json:"username,omitempty"`
	RegistryServer    string                       `json:"registryServer,omitempty"`
	IdentityReference *batchwire.IdentityReference `json:"identityReference,omitempty"`
}

type dpResizeError struct {
	Code    string                 `json:"code"`
	Message string                 `json:"message"`
	Values  *[]batchwire.NameValue `json:"values,omitempty"`
}

type dpAutoScaleRun struct {
	Timestamp string               `json:"timestamp,omitempty"`
	Results   string               `json:"results,omitempty"`
	Error     *dpAutoScaleRunError `json:"error,omitempty"`
}

// dpAutoScaleRunError is an AutoScaleRunError: its values carry, for
// InsufficientSampleData, the line and column of the GetSample that failed.
type dpAutoScaleRunError struct {
	Code    string                `json:"code"`
	Message string                `json:"message"`
	Values  []batchwire.NameValue `json:"values,omitempty"`
}

type dpErrorBrief struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type dpStartTask struct {
	CommandLine         string                    `json:"commandLine"`
	MaxTaskRetryCount   int                       `json:"maxTaskRetryCount"`
	WaitForSuccess      bool                      `json:"waitForSuccess"`
	ResourceFiles       *[]batchwire.ResourceFile `json:"resourceFiles,omitempty"`
	EnvironmentSettings *[]batchwire.NameValue    `json:"environmentSettings,omitempty"`
	UserIdentity        *dpUserIdentity           `json:"userIdentity,omitempty"`
	ContainerSettings   json.RawMessage           `json:"containerSettings,omitempty"`
}

type dpUserIdentity struct {
	Username string      `json:"username,omitempty"`
	AutoUser *dpAutoUser `json:"autoUser,omitempty"`
}

type dpAutoUser struct {
	Scope          string `json:"scope,omitempty"`
	ElevationLevel string `json:"elevationLevel,omitempty"`
}

type dpAppPackage struct {
	ApplicationID string `json:"applicationId"`
	Version       string `json:"version,omitempty"`
}

type dpPoolIdentity struct {
	Type                   string           `json:"type"`
	UserAssignedIdentities []dpUserAssigned `json:"userAssignedIdentities,omitempty"`
}

type dpUserAssigned struct {
	ResourceID  string `json:"resourceId"`
	ClientID    string `json:"clientId"`
	PrincipalID string `json:"principalId"`
}

// rawDP converts a pass-through object to the data plane's shape, without secrets.
func rawDP(b []byte, stripSecrets bool) json.RawMessage {
	if b == nil {
		return nil
	}
	return batchwire.ConvertRaw(b, false, stripSecrets)
}

// renderPoolDP returns a pool's data-plane representation; poolURL is its
// URL on the account endpoint.
func renderPoolDP(p *cobalt.Pool, poolURL string) dpPool {
	out := dpPool{ID: p.ID, URL: poolURL, ETag: p.ETag, DisplayName: p.DisplayName,
		CreationTime: batch.FormatTime(p.CreationTime), LastModified: batch.FormatTime(p.LastModified),
		State: p.State, StateTransitionTime: batch.FormatTime(p.StateTransitionTime),
		AllocationState: p.AllocationState, AllocationStateTransitionTime: batch.FormatTime(p.AllocationStateTransitionTime),
		VMSize: strings.ToLower(p.VMSize), CurrentDedicatedNodes: p.CurrentDedicatedNodes, CurrentLowPriorityNodes: p.CurrentLowPriorityNodes,
		EnableAutoScale: p.EnableAutoScale, EnableInterNodeCommunication: p.EnableInterNodeCommunication, TaskSlotsPerNode: p.TaskSlotsPerNode,
		TaskSchedulingPolicy: dpSchedulingPolicy{NodeFillType: batchwire.DPEnum("nodeFillType", p.TaskSchedulingPolicy.NodeFillType)},
		NetworkConfiguration: rawDP(p.NetworkConfiguration, true),
		MountConfiguration:   rawDP(p.MountConfiguration, true), CertificateReferences: rawDP(p.CertificateReferences, false),
		Metadata: ptrIf(p.Metadata != nil, batchwire.NameValues(p.Metadata)), TargetNodeCommunicationMode: p.TargetNodeCommunicationMode,
		CurrentNodeCommunicationMode: "simplified", ResourceTags: ptrIf(p.Tags != nil, p.Tags), IdentityWarning: p.IdentityWarning}
	if p.UpgradePolicy != nil {
		out.UpgradePolicy = json.RawMessage(p.UpgradePolicy)
	}
	if vc := p.VirtualMachineConfiguration; vc != nil {
		out.VirtualMachineConfiguration = renderVMConfigDP(vc)
	}
	if p.EnableAutoScale {
		out.AutoScaleFormula = &p.AutoScaleFormula
		out.AutoScaleEvaluationInterval = batch.FormatDuration(p.AutoScaleEvaluationInterval)
		if p.AutoScaleRun != nil {
			out.AutoScaleRun = renderAutoScaleRun(p.AutoScaleRun)
		}
	} else {
		out.TargetDedicatedNodes, out.TargetLowPriorityNodes = &p.TargetDedicatedNodes, &p.TargetLowPriorityNodes
		out.ResizeTimeout = batch.FormatDuration(p.ResizeTimeout)
	}
	if p.AllocationState == cobalt.AllocSteady {
		for _, e := range p.Resize.Errors {
			out.ResizeErrors = append(out.ResizeErrors, dpResizeError{Code: e.Code, Message: e.Message, Values: ptrIf(e.Values != nil, batchwire.NameValues(e.Values))})
		}
	}
	if st := p.StartTask; st != nil {
		out.StartTask = renderStartTaskDP(st)
	}
	out.UserAccounts = ptrIf(p.UserAccounts != nil, batchwire.UserAccounts(p.UserAccounts, batchwire.DPEnum))
	if p.ApplicationPackages != nil {
		var apps []dpAppPackage
		for _, a := range p.ApplicationPackages {
			apps = append(apps, dpAppPackage{ApplicationID: a.ApplicationID, Version: a.Version})
		}
		out.ApplicationPackageReferences = &apps
	}
	if id := p.Identity; id != nil {
		out.Identity = &dpPoolIdentity{Type: id.Type}
		for _, i := range id.Identities {
			out.Identity.UserAssignedIdentities = append(out.Identity.UserAssignedIdentities,
				dpUserAssigned{ResourceID: i.ResourceID, ClientID: i.ClientID, PrincipalID: i.PrincipalID})
		}
	}
	return out
}

func renderVMConfigDP(vc *cobalt.VirtualMachineConfiguration) *dpVMConfig {
	ir := vc.ImageReference
	out := &dpVMConfig{ImageReference: dpImageReference{Publisher: ir.Publisher, Offer: ir.Offer, Sku: ir.Sku, Version: ir.Version,
		VirtualMachineImageID: ir.ID, SharedGalleryImageID: ir.SharedGalleryImageID, CommunityGalleryImageID: ir.CommunityGalleryImageID},
		NodeAgentSKUID: vc.NodeAgentSkuID}
	if len(vc.Extra) > 0 {
		out.extra = make(map[string]json.RawMessage, len(vc.Extra))
		for k, x := range vc.Extra {
			out.extra[k] = batchwire.ConvertRaw(x, false, true)
		}
	}
	if cc := vc.ContainerConfiguration; cc != nil {
		c := &dpContainerConfig{Type: cc.Type, ContainerImageNames: cc.ContainerImageNames}
		for _, r := range cc.ContainerRegistries {
			c.ContainerRegistries = append(c.ContainerRegistries, dpContainerRegistry{Username: r.Username, RegistryServer: r.RegistryServer,
				IdentityReference: batchwire.IdentityRef(r.IdentityReference)})
		}
		out.ContainerConfiguration = c
	}
	return out
}

func renderStartTaskDP(st *cobalt.StartTask) *dpStartTask {
	out := &dpStartTask{CommandLine: st.CommandLine, MaxTaskRetryCount: st.MaxTaskRetryCount, WaitForSuccess: st.WaitForSuccess,
		EnvironmentSettings: ptrIf(st.EnvironmentSettings != nil, batchwire.NameValues(st.EnvironmentSettings)), ContainerSettings: rawDP(st.ContainerSettings, true)}
	out.ResourceFiles = ptrIf(st.ResourceFiles != nil, batchwire.ResourceFiles(st.ResourceFiles))
	if u := st.UserIdentity; u != nil {
		out.UserIdentity = &dpUserIdentity{Username: u.UserName}
		if u.AutoUser != nil {
			out.UserIdentity.AutoUser = &dpAutoUser{Scope: string(u.AutoUser.Scope), ElevationLevel: string(u.AutoUser.ElevationLevel)}
		}
	}
	return out
}

func renderAutoScaleRun(r *cobalt.AutoScaleRun) *dpAutoScaleRun {
	out := &dpAutoScaleRun{Timestamp: batch.FormatTime(r.Timestamp), Results: r.Results}
	if r.Error != nil {
		out.Error = &dpAutoScaleRunError{Code: r.Error.Code, Message: r.Error.Message}
		for _, v := range r.Error.Values {
			out.Error.Values = append(out.Error.Values, batchwire.NameValue{Name: v.Name, Value: v.Value})
		}
	}
	return out
}

type dpNode struct {
	ID                    string           `json:"id"`
	URL                   string           `json:"url"`
	State                 string           `json:"state"`
	SchedulingState       string           `json:"schedulingState"`
	StateTransitionTime   string           `json:"stateTransitionTime,omitempty"`
	LastBootTime          string           `json:"lastBootTime,omitempty"`
	AllocationTime        string           `json:"allocationTime,omitempty"`
	IPAddress             string           `json:"ipAddress"`
	AffinityID            string           `json:"affinityId"`
	VMSize                string           `json:"vmSize"`
	IsDedicated           bool             `json:"isDedicated"`
	TotalTasksRun         int              `json:"totalTasksRun"`
	RunningTasksCount     int              `json:"runningTasksCount"`
	RunningTaskSlotsCount int              `json:"runningTaskSlotsCount"`
	TotalTasksSucceeded   int              `json:"totalTasksSucceeded"`
	StartTask             *dpNodeStartTask `json:"startTask,omitempty"`
	StartTaskInfo         *dpStartTaskInfo `json:"startTaskInfo,omitempty"`
	Errors                []dpErrorBrief   `json:"errors,omitempty"`
	NodeAgentInfo         dpNodeAgentInfo  `json:"nodeAgentInfo"`
	Identities            []dpUserAssigned `json:"identities"`
}

type dpNodeStartTask struct {
	CommandLine       string `json:"commandLine"`
	WaitForSuccess    bool   `json:"waitForSuccess"`
	MaxTaskRetryCount int    `json:"maxTaskRetryCount"`
}

type dpStartTaskInfo struct {
	State       string                 `json:"state"`
	StartTime   string                 `json:"startTime,omitempty"`
	EndTime     string                 `json:"endTime,omitempty"`
	ExitCode    *int                   `json:"exitCode,omitempty"`
	RetryCount  int                    `json:"retryCount"`
	Result      string                 `json:"result,omitempty"`
	FailureInfo *nodeproto.FailureInfo `json:"failureInfo,omitempty"`
}

type dpNodeAgentInfo struct {
	Version        string `json:"version"`
	LastUpdateTime string `json:"lastUpdateTime,omitempty"`
}

// renderNodeDP returns a compute node's data-plane representation; nodeURL
// is its URL. The extension property "identities" lists the identities the
// node carries.
func renderNodeDP(n *batch.Node, nodeURL string) dpNode {
	out := dpNode{ID: n.ID, URL: nodeURL, State: n.State, SchedulingState: n.SchedulingState,
		StateTransitionTime: batch.FormatTime(n.StateTransitionTime), LastBootTime: batch.FormatTime(n.LastBootTime),
		AllocationTime: batch.FormatTime(n.AllocationTime), IPAddress: nodeIPAddress(n.IPAddress), AffinityID: "TVM:" + n.ID,
		VMSize: strings.ToLower(n.VMSize), IsDedicated: n.IsDedicated,
		RunningTasksCount: len(n.RunningLeases), RunningTaskSlotsCount: len(n.RunningLeases),
		NodeAgentInfo: dpNodeAgentInfo{Version: n.AgentVersion, LastUpdateTime: batch.FormatTime(n.LastBootTime)},
		Identities:    []dpUserAssigned{}}
	if out.SchedulingState == "" {
		out.SchedulingState = "enabled"
	}
	if out.NodeAgentInfo.Version == "" {
		out.NodeAgentInfo.Version = "cobalt"
	}
	for _, i := range n.Identities {
		out.Identities = append(out.Identities, dpUserAssigned{ResourceID: i.ResourceID, ClientID: i.ClientID, PrincipalID: i.PrincipalID})
	}
	if st := n.Config.StartTask; st != nil {
		out.StartTask = &dpNodeStartTask{CommandLine: st.CommandLine, WaitForSuccess: st.WaitForSuccess, MaxTaskRetryCount: st.MaxTaskRetryCount}
	}
	if si := n.StartTaskInfo; si != nil {
		info := &dpStartTaskInfo{State: si.State, StartTime: batch.FormatTime(si.StartTime), ExitCode: si.ExitCode, RetryCount: si.RetryCount,
			Result: si.Result, FailureInfo: si.Failure}
		if si.EndTime != nil {
			info.EndTime = batch.FormatTime(*si.EndTime)
		}
		out.StartTaskInfo = info
	}
	for _, e := range n.Errors {
		out.Errors = append(out.Errors, dpErrorBrief{Code: e.Code, Message: e.Message})
	}
	return out
}

// nodeIPAddress is a node's ipAddress: its host's address, 127.0.0.1 for
// nodes allocated before hosts had addresses.
func nodeIPAddress(addr string) string {
	if addr == "" {
		return "127.0.0.1"
	}
	return addr
}
