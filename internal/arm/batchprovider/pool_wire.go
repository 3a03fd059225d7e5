package batchprovider

import (
	"encoding/json"
	"strings"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/batch"
	"github.com/cobaltbatch/cobalt/internal/batchwire"
)

// This file is the management-plane pool codec's rendering side: the ARM
// JSON of a pool as typed structs (Microsoft.Batch/batchAccounts/pools,
// properties in camelCase, ARM's enum spelling, identity at the top level).
// The pool model, its validation and defaults live in internal/batch.

// ARMPoolType is the resource type of a pool in management-plane responses.
const ARMPoolType = "Microsoft.Batch/batchAccounts/pools"

// ARMPoolID returns a pool's ARM resource ID under its account's ID.
func ARMPoolID(accountID, poolID string) string {
	return strings.TrimSuffix(accountID, "/") + "/pools/" + poolID
}

// ptrIf returns &v when ok, else nil: the property is written, even empty,
// only when the model has it.
func ptrIf[T any](ok bool, v T) *T {
	if !ok {
		return nil
	}
	return &v
}

func rawIf(b []byte) json.RawMessage {
	if b == nil {
		return nil
	}
	return json.RawMessage(b)
}

type armPool struct {
	ID         string             `json:"id"`
	Name       string             `json:"name"`
	Type       string             `json:"type"`
	ETag       string             `json:"etag,omitempty"`
	Tags       *map[string]string `json:"tags,omitempty"`
	Identity   *armPoolIdentity   `json:"identity,omitempty"`
	Properties armPoolProperties  `json:"properties"`
}

type armPoolIdentity struct {
	Type                   string                        `json:"type"`
	UserAssignedIdentities map[string]armUserAssignedRef `json:"userAssignedIdentities,omitempty"`
}

type armUserAssignedRef struct {
	PrincipalID string `json:"principalId"`
	ClientID    string `json:"clientId"`
}

type armPoolProperties struct {
	DisplayName                     string                   `json:"displayName,omitempty"`
	VMSize                          string                   `json:"vmSize"`
	ProvisioningState               string                   `json:"provisioningState"`
	ProvisioningStateTransitionTime string                   `json:"provisioningStateTransitionTime"`
	AllocationState                 string                   `json:"allocationState"`
	AllocationStateTransitionTime   string                   `json:"allocationStateTransitionTime"`
	CreationTime                    string                   `json:"creationTime"`
	LastModified                    string                   `json:"lastModified"`
	CurrentDedicatedNodes           int                      `json:"currentDedicatedNodes"`
	CurrentLowPriorityNodes         int                      `json:"currentLowPriorityNodes"`
	InterNodeCommunication          string                   `json:"interNodeCommunication"`
	TaskSlotsPerNode                int                      `json:"taskSlotsPerNode"`
	TaskSchedulingPolicy            armSchedulingPolicy      `json:"taskSchedulingPolicy"`
	DeploymentConfiguration         *armDeployment           `json:"deploymentConfiguration,omitempty"`
	ScaleSettings                   armScaleSettings         `json:"scaleSettings"`
	ResizeOperationStatus           *armResizeStatus         `json:"resizeOperationStatus,omitempty"`
	AutoScaleRun                    *armAutoScaleRun         `json:"autoScaleRun,omitempty"`
	NetworkConfiguration            json.RawMessage          `json:"networkConfiguration,omitempty"`
	StartTask                       *armStartTask            `json:"startTask,omitempty"`
	UserAccounts                    *[]batchwire.UserAccount `json:"userAccounts,omitempty"`
	Metadata                        *[]batchwire.NameValue   `json:"metadata,omitempty"`
	MountConfiguration              json.RawMessage          `json:"mountConfiguration,omitempty"`
	ApplicationPackages             *[]armAppPackage         `json:"applicationPackages,omitempty"`
	Certificates                    json.RawMessage          `json:"certificates,omitempty"`
	UpgradePolicy                   json.RawMessage          `json:"upgradePolicy,omitempty"`
	TargetNodeCommunicationMode     string                   `json:"targetNodeCommunicationMode,omitempty"`
	IdentityWarning                 string                   `json:"identityWarning,omitempty"`
	extra                           map[string]json.RawMessage
}

// MarshalJSON writes the typed properties over the pool's unknown ones
// (kept from the client's request so that they round-trip).
func (p armPoolProperties) MarshalJSON() ([]byte, error) {
	type plain armPoolProperties
	b, err := json.Marshal(plain(p))
	if err != nil || len(p.extra) == 0 {
		return b, err
	}
	m := make(map[string]json.RawMessage, len(p.extra))
	for k, v := range p.extra {
		m[k] = v
	}
	var typed map[string]json.RawMessage
	if err := json.Unmarshal(b, &typed); err != nil {
		return nil, err
	}
	for k, v := range typed {
		m[k] = v
	}
	return json.Marshal(m)
}

type armSchedulingPolicy struct {
	NodeFillType    string `json:"nodeFillType"`
	JobDefaultOrder string `json:"jobDefaultOrder,omitempty"`
}

type armDeployment struct {
	VirtualMachineConfiguration armVMConfig `json:"virtualMachineConfiguration"`
}

type armVMConfig struct {
	ImageReference         armImageReference   `json:"imageReference"`
	NodeAgentSkuID         string              `json:"nodeAgentSkuId"`
	ContainerConfiguration *armContainerConfig `json:"containerConfiguration,omitempty"`
	extra                  map[string]json.RawMessage
}

// MarshalJSON writes the typed properties over the other ones (dataDisks,
// osDisk, ...), kept as the client sent them.
func (v armVMConfig) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(v.extra)+3)
	for k, x := range v.extra {
		m[k] = x
	}
	m["imageReference"] = v.ImageReference
	m["nodeAgentSkuId"] = v.NodeAgentSkuID
	if v.ContainerConfiguration != nil {
		m["containerConfiguration"] = v.ContainerConfiguration
	}
	return json.Marshal(m)
}

type armImageReference struct {
	Publisher               string `json:"publisher,omitempty"`
	Offer                   string `json:"offer,omitempty"`
	Sku                     string `json:"sku,omitempty"`
	Version                 string `json:"version,omitempty"`
	ID                      string `json:"id,omitempty"`
	SharedGalleryImageID    string `json:"sharedGalleryImageId,omitempty"`
	CommunityGalleryImageID string `json:"communityGalleryImageId,omitempty"`
}

type armContainerConfig struct {
	Type                string                 `json:"type"`
	ContainerImageNames []string               `json:"containerImageNames,omitempty"`
	ContainerRegistries []armContainerRegistry `json:"containerRegistries,omitempty"`
}

// armContainerRegistry never carries the password: responses do not echo it.
type armContainerRegistry struct {
	Username          string                       `json:"username,omitempty"`
	RegistryServer    string                       `json:"registryServer,omitempty"`
	IdentityReference *batchwire.IdentityReference `json:"identityReference,omitempty"`
}

type armScaleSettings struct {
	AutoScale  *armAutoScale  `json:"autoScale,omitempty"`
	FixedScale *armFixedScale `json:"fixedScale,omitempty"`
}

type armAutoScale struct {
	Formula            string `json:"formula"`
	EvaluationInterval string `json:"evaluationInterval"`
}

type armFixedScale struct {
	TargetDedicatedNodes   int    `json:"targetDedicatedNodes"`
	TargetLowPriorityNodes int    `json:"targetLowPriorityNodes"`
	ResizeTimeout          string `json:"resizeTimeout"`
	NodeDeallocationOption string `json:"nodeDeallocationOption"`
}

type armResizeStatus struct {
	TargetDedicatedNodes   int              `json:"targetDedicatedNodes"`
	TargetLowPriorityNodes int              `json:"targetLowPriorityNodes"`
	ResizeTimeout          string           `json:"resizeTimeout"`
	StartTime              string           `json:"startTime"`
	NodeDeallocationOption string           `json:"nodeDeallocationOption,omitempty"`
	Errors                 []armResizeError `json:"errors,omitempty"`
}

type armResizeError struct {
	Code    string           `json:"code"`
	Message string           `json:"message"`
	Details []armErrorDetail `json:"details,omitempty"`
}

type armErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type armAutoScaleRun struct {
	EvaluationTime string          `json:"evaluationTime"`
	Results        string          `json:"results,omitempty"`
	Error          *armErrorDetail `json:"error,omitempty"`
}

type armStartTask struct {
	CommandLine         string                    `json:"commandLine"`
	MaxTaskRetryCount   int                       `json:"maxTaskRetryCount"`
	WaitForSuccess      bool                      `json:"waitForSuccess"`
	ResourceFiles       *[]batchwire.ResourceFile `json:"resourceFiles,omitempty"`
	EnvironmentSettings *[]batchwire.NameValue    `json:"environmentSettings,omitempty"`
	UserIdentity        *armUserIdentity          `json:"userIdentity,omitempty"`
	ContainerSettings   json.RawMessage           `json:"containerSettings,omitempty"`
}

type armUserIdentity struct {
	UserName string       `json:"userName,omitempty"`
	AutoUser *armAutoUser `json:"autoUser,omitempty"`
}

type armAutoUser struct {
	Scope          string `json:"scope,omitempty"`
	ElevationLevel string `json:"elevationLevel,omitempty"`
}

type armAppPackage struct {
	ID      string `json:"id"`
	Version string `json:"version,omitempty"`
}

// renderPool returns the pool's management-plane representation.
// accountID is the Batch account's ARM ID as the client named it.
func renderPool(p *cobalt.Pool, accountID string) armPool {
	props := armPoolProperties{
		VMSize:                          p.VMSize,
		ProvisioningState:               "Succeeded",
		ProvisioningStateTransitionTime: batch.FormatTime(p.CreationTime),
		AllocationState:                 batchwire.ARMEnum("allocationState", p.AllocationState),
		AllocationStateTransitionTime:   batch.FormatTime(p.AllocationStateTransitionTime),
		CreationTime:                    batch.FormatTime(p.CreationTime),
		LastModified:                    batch.FormatTime(p.LastModified),
		CurrentDedicatedNodes:           p.CurrentDedicatedNodes,
		CurrentLowPriorityNodes:         p.CurrentLowPriorityNodes,
		InterNodeCommunication:          map[bool]string{true: "Enabled", false: "Disabled"}[p.EnableInterNodeCommunication],
		TaskSlotsPerNode:                p.TaskSlotsPerNode,
		TaskSchedulingPolicy: armSchedulingPolicy{NodeFillType: batchwire.ARMEnum("nodeFillType", p.TaskSchedulingPolicy.NodeFillType),
			JobDefaultOrder: batchwire.ARMEnum("jobDefaultOrder", p.TaskSchedulingPolicy.JobDefaultOrder)},
		DisplayName:                 p.DisplayName,
		NetworkConfiguration:        rawIf(p.NetworkConfiguration),
		Certificates:                rawIf(p.CertificateReferences),
		UpgradePolicy:               rawIf(p.UpgradePolicy),
		TargetNodeCommunicationMode: batchwire.ARMEnum("nodeCommunicationMode", p.TargetNodeCommunicationMode),
		IdentityWarning:             p.IdentityWarning,
	}
	if p.State == cobalt.PoolDeleting {
		props.ProvisioningState = "Deleting"
		props.ProvisioningStateTransitionTime = batch.FormatTime(p.StateTransitionTime)
	}
	if len(p.Extra) > 0 {
		props.extra = make(map[string]json.RawMessage, len(p.Extra))
		for k, v := range p.Extra {
			props.extra[k] = v
		}
	}
	if vc := p.VirtualMachineConfiguration; vc != nil {
		props.DeploymentConfiguration = &armDeployment{VirtualMachineConfiguration: renderVMConfig(vc)}
	}
	if p.EnableAutoScale {
		props.ScaleSettings.AutoScale = &armAutoScale{Formula: p.AutoScaleFormula, EvaluationInterval: batch.FormatDuration(p.AutoScaleEvaluationInterval)}
	} else {
		props.ScaleSettings.FixedScale = &armFixedScale{TargetDedicatedNodes: p.TargetDedicatedNodes, TargetLowPriorityNodes: p.TargetLowPriorityNodes,
			ResizeTimeout: batch.FormatDuration(p.ResizeTimeout), NodeDeallocationOption: batchwire.ARMEnum("nodeDeallocationOption", p.NodeDeallocationOption)}
	}
	if rs := p.Resize; !rs.StartTime.IsZero() {
		st := &armResizeStatus{TargetDedicatedNodes: rs.TargetDedicatedNodes, TargetLowPriorityNodes: rs.TargetLowPriorityNodes,
			ResizeTimeout: batch.FormatDuration(rs.ResizeTimeout), StartTime: batch.FormatTime(rs.StartTime),
			NodeDeallocationOption: batchwire.ARMEnum("nodeDeallocationOption", rs.NodeDeallocationOption)}
		if p.AllocationState == cobalt.AllocSteady {
			for _, e := range rs.Errors {
				re := armResizeError{Code: e.Code, Message: e.Message}
				for _, v := range e.Values {
					re.Details = append(re.Details, armErrorDetail{Code: v.Name, Message: v.Value})
				}
				st.Errors = append(st.Errors, re)
			}
		}
		props.ResizeOperationStatus = st
	}
	if r := p.AutoScaleRun; r != nil && p.EnableAutoScale {
		props.AutoScaleRun = &armAutoScaleRun{EvaluationTime: batch.FormatTime(r.Timestamp), Results: r.Results}
		if r.Error != nil {
			props.AutoScaleRun.Error = &armErrorDetail{Code: r.Error.Code, Message: r.Error.Message}
		}
	}
	if st := p.StartTask; st != nil {
		props.StartTask = renderStartTask(st)
	}
	props.UserAccounts = ptrIf(p.UserAccounts != nil, batchwire.UserAccounts(p.UserAccounts, batchwire.ARMEnum))
	props.Metadata = ptrIf(p.Metadata != nil, batchwire.NameValues(p.Metadata))
	if p.MountConfiguration != nil {
		props.MountConfiguration = batchwire.ConvertRaw(p.MountConfiguration, true, true)
	}
	if p.ApplicationPackages != nil {
		apps := make([]armAppPackage, len(p.ApplicationPackages))
		for i, a := range p.ApplicationPackages {
			apps[i] = armAppPackage{ID: a.ApplicationID, Version: a.Version}
		}
		props.ApplicationPackages = &apps
	}
	out := armPool{ID: ARMPoolID(accountID, p.ID), Name: p.ID, Type: ARMPoolType, ETag: p.ETag,
		Tags: ptrIf(p.Tags != nil, p.Tags), Properties: props}
	if id := p.Identity; id != nil {
		out.Identity = &armPoolIdentity{Type: id.Type}
		if len(id.Identities) > 0 {
			out.Identity.UserAssignedIdentities = map[string]armUserAssignedRef{}
			for _, i := range id.Identities {
				out.Identity.UserAssignedIdentities[i.ResourceID] = armUserAssignedRef{PrincipalID: i.PrincipalID, ClientID: i.ClientID}
			}
		}
	}
	return out
}

func renderVMConfig(vc *cobalt.VirtualMachineConfiguration) armVMConfig {
	ir := vc.ImageReference
	out := armVMConfig{ImageReference: armImageReference{Publisher: ir.Publisher, Offer: ir.Offer, Sku: ir.Sku, Version: ir.Version, ID: ir.ID,
		SharedGalleryImageID: ir.SharedGalleryImageID, CommunityGalleryImageID: ir.CommunityGalleryImageID}, NodeAgentSkuID: vc.NodeAgentSkuID}
	if len(vc.Extra) > 0 {
		out.extra = make(map[string]json.RawMessage, len(vc.Extra))
		for k, v := range vc.Extra {
			out.extra[k] = v
		}
	}
	if cc := vc.ContainerConfiguration; cc != nil {
		c := &armContainerConfig{Type: batchwire.ARMEnum("containerType", cc.Type), ContainerImageNames: cc.ContainerImageNames}
		if cc.ContainerRegistries != nil {
			c.ContainerRegistries = make([]armContainerRegistry, len(cc.ContainerRegistries))
			for i, r := range cc.ContainerRegistries {
				c.ContainerRegistries[i] = armContainerRegistry{Username: r.Username, RegistryServer: r.RegistryServer, IdentityReference: batchwire.IdentityRef(r.IdentityReference)}
			}
		}
		out.ContainerConfiguration = c
	}
	return out
}

func renderStartTask(st *cobalt.StartTask) *armStartTask {
	out := &armStartTask{CommandLine: st.CommandLine, MaxTaskRetryCount: st.MaxTaskRetryCount, WaitForSuccess: st.WaitForSuccess,
		EnvironmentSettings: ptrIf(st.EnvironmentSettings != nil, batchwire.NameValues(st.EnvironmentSettings)), ContainerSettings: rawIf(st.ContainerSettings)}
	out.ResourceFiles = ptrIf(st.ResourceFiles != nil, batchwire.ResourceFiles(st.ResourceFiles))
	if u := st.UserIdentity; u != nil {
		out.UserIdentity = &armUserIdentity{UserName: u.UserName}
		if u.AutoUser != nil {
			out.UserIdentity.AutoUser = &armAutoUser{Scope: batchwire.ARMEnum("scope", string(u.AutoUser.Scope)),
				ElevationLevel: batchwire.ARMEnum("elevationLevel", string(u.AutoUser.ElevationLevel))}
		}
	}
	return out
}
