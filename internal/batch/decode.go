package batch

import (
	"encoding/json"
	"strings"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/batchwire"
)

func invalidValue(target, format string, args ...any) *cobalt.Error {
	return batchwire.InvalidValue(target, format, args...)
}

func missing(target string) *cobalt.Error { return batchwire.Missing(target) }

func badBody(target, format string, args ...any) *cobalt.Error {
	return batchwire.BadBody(target, format, args...)
}

// wire types shared by both renderings (encoding/json matches names
// case-insensitively, so "nodeAgentSkuId" and "nodeAgentSKUId", "userName"
// and "username" decode alike).

type wireImageReference struct {
	Publisher               string `json:"publisher"`
	Offer                   string `json:"offer"`
	Sku                     string `json:"sku"`
	Version                 string `json:"version"`
	ID                      string `json:"id"`
	VirtualMachineImageID   string `json:"virtualMachineImageId"`
	SharedGalleryImageID    string `json:"sharedGalleryImageId"`
	CommunityGalleryImageID string `json:"communityGalleryImageId"`
}

type wireStartTask struct {
	CommandLine         *string              `json:"commandLine"`
	ResourceFiles       []resourceFileRecord `json:"resourceFiles"`
	EnvironmentSettings []nameValueRecord    `json:"environmentSettings"`
	UserIdentity        *userIdentityRecord  `json:"userIdentity"`
	MaxTaskRetryCount   *int32               `json:"maxTaskRetryCount"`
	WaitForSuccess      *bool                `json:"waitForSuccess"`
	ContainerSettings   json.RawMessage      `json:"containerSettings"`
}

// decodeVMConfig decodes a virtualMachineConfiguration object.
func decodeVMConfig(raw json.RawMessage, path string, dataPlane bool) (*cobalt.VirtualMachineConfiguration, error) {
	o, err := batchwire.ParseObject(raw, path)
	if err != nil {
		return nil, err
	}
	vc := &cobalt.VirtualMachineConfiguration{}
	var ir wireImageReference
	if ok, err := o.Get("imageReference", &ir); err != nil {
		return nil, err
	} else if !ok {
		return nil, missing(batchwire.Join(path, "imageReference"))
	}
	vc.ImageReference = cobalt.ImageReference{Publisher: ir.Publisher, Offer: ir.Offer, Sku: ir.Sku, Version: ir.Version,
		ID: firstNonEmpty(ir.ID, ir.VirtualMachineImageID), SharedGalleryImageID: ir.SharedGalleryImageID, CommunityGalleryImageID: ir.CommunityGalleryImageID}
	if ok, err := o.Get("nodeAgentSkuId", &vc.NodeAgentSkuID); err != nil {
		return nil, err
	} else if !ok || vc.NodeAgentSkuID == "" {
		if dataPlane {
			return nil, missing(batchwire.Join(path, "nodeAgentSKUId"))
		}
		return nil, missing(batchwire.Join(path, "nodeAgentSkuId"))
	}
	var cc containerConfigRecord
	if ok, err := o.Get("containerConfiguration", &cc); err != nil {
		return nil, err
	} else if ok {
		if cc.Type == "" {
			return nil, missing(batchwire.Join(path, "containerConfiguration.type"))
		}
		cc.Type = toDP("containerType", cc.Type)
		vc.ContainerConfiguration = containerConfig(&cc)
	}
	if rest := o.Rest(); rest != nil {
		vc.Extra = map[string][]byte{}
		for k, v := range rest {
			if dataPlane {
				v = batchwire.ConvertRaw(v, true, false)
			}
			vc.Extra[k] = v
		}
	}
	return vc, nil
}

// decodeUserAccounts decodes the userAccounts array of a pool body (either
// plane: the property names agree and enumerations are read in any
// spelling).
func decodeUserAccounts(o *batchwire.Object, s *Spec) error {
	mk, ok := o.Key("userAccounts")
	if !ok {
		return nil
	}
	r := o.Raw("userAccounts")
	s.set(FUserAccounts)
	if r == nil {
		s.Pool.UserAccounts = nil
		return nil
	}
	path := batchwire.Join(o.Path(), mk)
	if r[0] != '[' {
		return badBody(path, "The property '%s' must be a JSON array.", path)
	}
	var rs []userAccountRecord
	if err := json.Unmarshal(r, &rs); err != nil {
		return batchwire.JSONError(path, err)
	}
	s.Pool.UserAccounts = userAccounts(rs)
	return nil
}

// decodeStartTask decodes a startTask; an empty object means "no start task".
func decodeStartTask(raw json.RawMessage, path string) (*cobalt.StartTask, error) {
	if strings.TrimSpace(string(raw)) == "{}" {
		return nil, nil
	}
	var w wireStartTask
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, batchwire.JSONError(path, err)
	}
	if w.CommandLine == nil || *w.CommandLine == "" {
		return nil, missing(batchwire.Join(path, "commandLine"))
	}
	if u := w.UserIdentity; u != nil && u.AutoUser != nil {
		u.AutoUser.Scope = toDP("scope", u.AutoUser.Scope)
		u.AutoUser.ElevationLevel = toDP("elevationLevel", u.AutoUser.ElevationLevel)
	}
	st := &cobalt.StartTask{CommandLine: *w.CommandLine, ResourceFiles: resourceFiles(w.ResourceFiles), EnvironmentSettings: nameValues(w.EnvironmentSettings),
		UserIdentity: userIdentity(w.UserIdentity), WaitForSuccess: true}
	if w.MaxTaskRetryCount != nil {
		st.MaxTaskRetryCount = int(*w.MaxTaskRetryCount)
	}
	if w.WaitForSuccess != nil {
		st.WaitForSuccess = *w.WaitForSuccess
	}
	if len(w.ContainerSettings) > 0 && string(w.ContainerSettings) != "null" {
		st.ContainerSettings = batchwire.ConvertRaw(w.ContainerSettings, true, false)
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
