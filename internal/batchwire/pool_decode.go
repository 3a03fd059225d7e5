package batchwire

import (
	"encoding/json"
	"strings"

	"github.com/cobaltbatch/cobalt"
)

// The request shapes below are read by both pool decoders. encoding/json
// matches names case-insensitively, so "nodeAgentSkuId" and
// "nodeAgentSKUId", "userName" and "username" decode alike; the tags are
// the spellings error targets name.

// ImageReferenceIn is a pool's image reference as either plane sends it.
type ImageReferenceIn struct {
	Publisher               string `json:"publisher"`
	Offer                   string `json:"offer"`
	Sku                     string `json:"sku"`
	Version                 string `json:"version"`
	ID                      string `json:"id"`
	VirtualMachineImageID   string `json:"virtualMachineImageId"`
	SharedGalleryImageID    string `json:"sharedGalleryImageId"`
	CommunityGalleryImageID string `json:"communityGalleryImageId"`
}

// ContainerConfigurationIn is a pool's container configuration as sent.
type ContainerConfigurationIn struct {
	Type                string                `json:"type"`
	ContainerImageNames []string              `json:"containerImageNames"`
	ContainerRegistries []ContainerRegistryIn `json:"containerRegistries"`
}

// ContainerRegistryIn is a registry a pool pulls images from, with its
// credentials as sent.
type ContainerRegistryIn struct {
	Username          string             `json:"username"`
	Password          string             `json:"password"`
	RegistryServer    string             `json:"registryServer"`
	IdentityReference *IdentityReference `json:"identityReference"`
}

// UserIdentityIn is the user a start task runs as, as sent.
type UserIdentityIn struct {
	UserName string    `json:"userName"`
	AutoUser *AutoUser `json:"autoUser"`
}

// StartTaskIn is a pool's start task as either plane sends it.
type StartTaskIn struct {
	CommandLine         *string         `json:"commandLine"`
	ResourceFiles       []ResourceFile  `json:"resourceFiles"`
	EnvironmentSettings []NameValue     `json:"environmentSettings"`
	UserIdentity        *UserIdentityIn `json:"userIdentity"`
	MaxTaskRetryCount   *int32          `json:"maxTaskRetryCount"`
	WaitForSuccess      *bool           `json:"waitForSuccess"`
	ContainerSettings   json.RawMessage `json:"containerSettings"`
}

// UserAccountIn is a pool's user account as sent, with its password.
type UserAccountIn struct {
	Name                     string                    `json:"name"`
	Password                 string                    `json:"password"`
	ElevationLevel           string                    `json:"elevationLevel"`
	LinuxUserConfiguration   *LinuxUserConfiguration   `json:"linuxUserConfiguration"`
	WindowsUserConfiguration *WindowsUserConfiguration `json:"windowsUserConfiguration"`
}

// SchedulingPolicyIn is a pool's task scheduling policy as sent.
type SchedulingPolicyIn struct {
	NodeFillType    string `json:"nodeFillType"`
	JobDefaultOrder string `json:"jobDefaultOrder"`
}

// ToDomain converts the policy, in the data plane's enum spelling.
func (p SchedulingPolicyIn) ToDomain() cobalt.TaskSchedulingPolicy {
	return cobalt.TaskSchedulingPolicy{NodeFillType: DPEnum("nodeFillType", p.NodeFillType), JobDefaultOrder: DPEnum("jobDefaultOrder", p.JobDefaultOrder)}
}

func identityRefToDomain(r IdentityReference) cobalt.IdentityReference {
	return cobalt.IdentityReference{ResourceID: r.ResourceID}
}

func resourceFileToDomain(r ResourceFile) cobalt.ResourceFile {
	return cobalt.ResourceFile{AutoStorageContainerName: r.AutoStorageContainerName, StorageContainerURL: r.StorageContainerURL,
		HTTPURL: r.HTTPURL, BlobPrefix: r.BlobPrefix, FilePath: r.FilePath, FileMode: r.FileMode,
		IdentityReference: mapPtr(r.IdentityReference, identityRefToDomain)}
}

func registryToDomain(r ContainerRegistryIn) cobalt.ContainerRegistry {
	return cobalt.ContainerRegistry{Username: r.Username, Password: r.Password, RegistryServer: r.RegistryServer,
		IdentityReference: mapPtr(r.IdentityReference, identityRefToDomain)}
}

// userAccountToDomain converts a user account, its enumerations in the data
// plane's spelling.
func userAccountToDomain(u UserAccountIn) cobalt.UserAccount {
	out := cobalt.UserAccount{Name: u.Name, Password: u.Password, ElevationLevel: cobalt.ElevationLevel(DPEnum("elevationLevel", u.ElevationLevel))}
	if l := u.LinuxUserConfiguration; l != nil {
		out.LinuxUserConfiguration = &cobalt.LinuxUserConfiguration{UID: l.UID, GID: l.GID, SSHPrivateKey: l.SSHPrivateKey}
	}
	if w := u.WindowsUserConfiguration; w != nil {
		out.WindowsUserConfiguration = &cobalt.WindowsUserConfiguration{LoginMode: DPEnum("loginMode", w.LoginMode)}
	}
	return out
}

// DecodeVMConfig decodes a virtualMachineConfiguration object at path.
// Properties it does not model are kept in Extra (rewritten to the data
// plane's spelling when dataPlane is set).
func DecodeVMConfig(raw json.RawMessage, path string, dataPlane bool) (*cobalt.VirtualMachineConfiguration, error) {
	o, err := ParseObject(raw, path)
	if err != nil {
		return nil, err
	}
	vc := &cobalt.VirtualMachineConfiguration{}
	var ir ImageReferenceIn
	if ok, err := o.Get("imageReference", &ir); err != nil {
		return nil, err
	} else if !ok {
		return nil, Missing(Join(path, "imageReference"))
	}
	vc.ImageReference = cobalt.ImageReference{Publisher: ir.Publisher, Offer: ir.Offer, Sku: ir.Sku, Version: ir.Version,
		ID: firstNonEmpty(ir.ID, ir.VirtualMachineImageID), SharedGalleryImageID: ir.SharedGalleryImageID, CommunityGalleryImageID: ir.CommunityGalleryImageID}
	if ok, err := o.Get("nodeAgentSkuId", &vc.NodeAgentSkuID); err != nil {
		return nil, err
	} else if !ok || vc.NodeAgentSkuID == "" {
		if dataPlane {
			return nil, Missing(Join(path, "nodeAgentSKUId"))
		}
		return nil, Missing(Join(path, "nodeAgentSkuId"))
	}
	var cc ContainerConfigurationIn
	if ok, err := o.Get("containerConfiguration", &cc); err != nil {
		return nil, err
	} else if ok {
		if cc.Type == "" {
			return nil, Missing(Join(path, "containerConfiguration.type"))
		}
		vc.ContainerConfiguration = &cobalt.ContainerConfiguration{Type: DPEnum("containerType", cc.Type), ContainerImageNames: cc.ContainerImageNames,
			ContainerRegistries: mapSlice(cc.ContainerRegistries, registryToDomain)}
	}
	if rest := o.Rest(); rest != nil {
		vc.Extra = map[string][]byte{}
		for k, v := range rest {
			if dataPlane {
				v = ConvertRaw(v, true, false)
			}
			vc.Extra[k] = v
		}
	}
	return vc, nil
}

// DecodeUserAccounts decodes the userAccounts array of a pool body (either
// plane: the property names agree and enumerations are read in any
// spelling). present tells whether the body has the property; null gives
// no accounts.
func DecodeUserAccounts(o *Object) (accounts []cobalt.UserAccount, present bool, err error) {
	r, present, err := o.RawArray("userAccounts")
	if err != nil || r == nil {
		return nil, present, err
	}
	mk, _ := o.Key("userAccounts")
	var rs []UserAccountIn
	if err := json.Unmarshal(r, &rs); err != nil {
		return nil, true, JSONError(Join(o.Path(), mk), err)
	}
	return mapSlice(rs, userAccountToDomain), true, nil
}

// DecodeStartTask decodes a startTask at path; an empty object means "no
// start task".
func DecodeStartTask(raw json.RawMessage, path string) (*cobalt.StartTask, error) {
	if strings.TrimSpace(string(raw)) == "{}" {
		return nil, nil
	}
	var w StartTaskIn
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, JSONError(path, err)
	}
	if w.CommandLine == nil || *w.CommandLine == "" {
		return nil, Missing(Join(path, "commandLine"))
	}
	st := &cobalt.StartTask{CommandLine: *w.CommandLine, ResourceFiles: mapSlice(w.ResourceFiles, resourceFileToDomain),
		EnvironmentSettings: NameValuesToDomain(w.EnvironmentSettings), WaitForSuccess: true}
	if u := w.UserIdentity; u != nil {
		st.UserIdentity = &cobalt.UserIdentity{UserName: u.UserName}
		if a := u.AutoUser; a != nil {
			st.UserIdentity.AutoUser = &cobalt.AutoUser{Scope: cobalt.AutoUserScope(DPEnum("scope", a.Scope)),
				ElevationLevel: cobalt.ElevationLevel(DPEnum("elevationLevel", a.ElevationLevel))}
		}
	}
	if w.MaxTaskRetryCount != nil {
		st.MaxTaskRetryCount = int(*w.MaxTaskRetryCount)
	}
	if w.WaitForSuccess != nil {
		st.WaitForSuccess = *w.WaitForSuccess
	}
	if len(w.ContainerSettings) > 0 && string(w.ContainerSettings) != "null" {
		st.ContainerSettings = ConvertRaw(w.ContainerSettings, true, false)
	}
	return st, nil
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
