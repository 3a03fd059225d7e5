package batch

import (
	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/batchwire"
	"github.com/cobaltbatch/cobalt/internal/errwire"
	"sort"
)

// DPMode says which data-plane pool operation a body belongs to.
type DPMode int

// Data-plane pool operations with a pool body.
const (
	// DPAdd is POST /pools: id and vmSize required.
	DPAdd DPMode = iota
	// DPPatch is PATCH /pools/{id}: only the properties given change.
	DPPatch
	// DPReplace is POST /pools/{id}/updateproperties: startTask,
	// certificateReferences, applicationPackageReferences, metadata and
	// targetNodeCommunicationMode are replaced, the first three required.
	DPReplace
)

// DecodeDataPlanePool parses a Batch data-plane pool body (2024-07-01.20.0
// and 2025-06-01.21.0: flat properties, lower-case enums). A pool add with
// an "identity" property is refused: identities are set through the
// management plane only. Unknown properties are ignored, as newer clients
// add fields. Every failure is a 400 *cobalt.Error naming the property.
func DecodeDataPlanePool(body []byte, mode DPMode) (*Spec, error) {
	o, err := batchwire.DecodeBody(body)
	if err != nil {
		return nil, err
	}
	s := newSpec()
	p := &s.Pool
	if o.Has("identity") {
		return nil, invalidValue("identity", "A pool's user-assigned identities can only be set through the management plane "+
			"(Microsoft.Batch/batchAccounts/pools); the data-plane pool add and update operations do not accept 'identity'.").WithReason(errwire.ReasonUnsupportedProperty)
	}
	if o.Has("cloudServiceConfiguration") {
		return nil, invalidValue("cloudServiceConfiguration", "cloudServiceConfiguration is retired and is not supported; use virtualMachineConfiguration instead.").WithReason(errwire.ReasonUnsupportedProperty)
	}
	if mode == DPAdd {
		if ok, err := o.Get("id", &p.ID); err != nil {
			return nil, err
		} else if !ok || p.ID == "" {
			return nil, missing("id")
		}
		if ok, err := o.Get("vmSize", &p.VMSize); err != nil {
			return nil, err
		} else if !ok || p.VMSize == "" {
			return nil, missing("vmSize")
		}
		s.set(FVMSize)
	} else if mode == DPPatch {
		if ok, err := o.Get("vmSize", &p.VMSize); err != nil {
			return nil, err
		} else if ok {
			s.set(FVMSize)
		}
	}
	if mode != DPReplace {
		if ok, err := o.Get("displayName", &p.DisplayName); err != nil {
			return nil, err
		} else if ok {
			s.set(FDisplayName)
		}
		if r := o.Raw("virtualMachineConfiguration"); r != nil {
			vc, err := decodeVMConfig(r, "virtualMachineConfiguration", true)
			if err != nil {
				return nil, err
			}
			p.VirtualMachineConfiguration = vc
			s.set(FVMConfig)
		}
		if ok, err := o.Get("enableInterNodeCommunication", &p.EnableInterNodeCommunication); err != nil {
			return nil, err
		} else if ok {
			s.set(FInterNode)
		}
		if r := o.Raw("networkConfiguration"); r != nil {
			p.NetworkConfiguration = batchwire.ConvertRaw(r, true, false)
			s.set(FNetwork)
		}
		var slots int32
		if ok, err := o.Get("taskSlotsPerNode", &slots); err != nil {
			return nil, err
		} else if ok {
			p.TaskSlotsPerNode = int(slots)
			s.set(FTaskSlots)
		}
		var policy schedulingPolicyRecord
		if ok, err := o.Get("taskSchedulingPolicy", &policy); err != nil {
			return nil, err
		} else if ok {
			p.TaskSchedulingPolicy = cobalt.TaskSchedulingPolicy(policy)
			s.set(FPolicy)
		}
		if err := decodeUserAccounts(o, s); err != nil {
			return nil, err
		}
		if err := rawArray(o, "mountConfiguration", &p.MountConfiguration, s, FMount); err != nil {
			return nil, err
		}
		p.MountConfiguration = batchwire.ConvertRaw(p.MountConfiguration, true, false)
		if r := o.Raw("upgradePolicy"); r != nil {
			p.UpgradePolicy = r
			s.set(FUpgrade)
		}
		if ok, err := o.Get("resourceTags", &p.Tags); err != nil {
			return nil, err
		} else if ok {
			s.set(FTags)
		}
	}
	if mode == DPAdd {
		if err := decodeDPScale(o, s); err != nil {
			return nil, err
		}
	}
	// startTask, metadata, application packages, certificates, communication mode.
	if mode == DPReplace {
		for _, k := range []string{"certificateReferences", "applicationPackageReferences", "metadata"} {
			if _, ok := o.Key(k); !ok {
				return nil, missing(k)
			}
		}
		s.set(FStartTask)
		s.set(FCommMode)
	}
	if r := o.Raw("startTask"); r != nil {
		st, err := decodeStartTask(r, "startTask")
		if err != nil {
			return nil, err
		}
		p.StartTask = st
		s.set(FStartTask)
	}
	var metadata []nameValueRecord
	if ok, err := o.Get("metadata", &metadata); err != nil {
		return nil, err
	} else if ok || mode == DPReplace {
		p.Metadata = nameValues(metadata)
		s.set(FMetadata)
	}
	var apps []struct {
		ApplicationID string `json:"applicationId"`
		Version       string `json:"version"`
	}
	if ok, err := o.Get("applicationPackageReferences", &apps); err != nil {
		return nil, err
	} else if ok || mode == DPReplace {
		for _, a := range apps {
			p.ApplicationPackages = append(p.ApplicationPackages, cobalt.ApplicationPackageReference{ApplicationID: a.ApplicationID, Version: a.Version})
		}
		s.set(FApps)
	}
	if err := rawArray(o, "certificateReferences", &p.CertificateReferences, s, FCerts); err != nil {
		return nil, err
	}
	if ok, err := o.Get("targetNodeCommunicationMode", &p.TargetNodeCommunicationMode); err != nil {
		return nil, err
	} else if ok {
		p.TargetNodeCommunicationMode = toDP("nodeCommunicationMode", p.TargetNodeCommunicationMode)
		s.set(FCommMode)
	}
	if p.TaskSchedulingPolicy.NodeFillType != "" {
		p.TaskSchedulingPolicy.NodeFillType = toDP("nodeFillType", p.TaskSchedulingPolicy.NodeFillType)
	}
	return s, nil
}

func decodeDPScale(o *batchwire.Object, s *Spec) error {
	p := &s.Pool
	s.set(FScale)
	p.ResizeTimeout, p.NodeDeallocationOption = DefaultResizeTimeout, DeallocRequeue
	var d, l int32
	okD, err := o.Get("targetDedicatedNodes", &d)
	if err != nil {
		return err
	}
	okL, err := o.Get("targetLowPriorityNodes", &l)
	if err != nil {
		return err
	}
	if _, err := o.Get("enableAutoScale", &p.EnableAutoScale); err != nil {
		return err
	}
	var rt string
	if ok, err := o.Get("resizeTimeout", &rt); err != nil {
		return err
	} else if ok {
		if p.ResizeTimeout, err = ParseDuration(rt); err != nil {
			return invalidValue("resizeTimeout", "The value '%s' of resizeTimeout is not a valid ISO 8601 duration.", rt)
		}
	}
	if p.EnableAutoScale {
		if okD || okL {
			return invalidValue("targetDedicatedNodes", "targetDedicatedNodes and targetLowPriorityNodes must not be specified when enableAutoScale is true.")
		}
		if ok, err := o.Get("autoScaleFormula", &p.AutoScaleFormula); err != nil {
			return err
		} else if !ok || p.AutoScaleFormula == "" {
			return missing("autoScaleFormula")
		}
		p.AutoScaleEvaluationInterval = 15 * 60e9
		var iv string
		if ok, err := o.Get("autoScaleEvaluationInterval", &iv); err != nil {
			return err
		} else if ok {
			if p.AutoScaleEvaluationInterval, err = ParseDuration(iv); err != nil {
				return invalidValue("autoScaleEvaluationInterval", "The value '%s' of autoScaleEvaluationInterval is not a valid ISO 8601 duration.", iv)
			}
		}
		return nil
	}
	p.TargetDedicatedNodes, p.TargetLowPriorityNodes = int(d), int(l)
	s.ResizeRequested = true
	return nil
}

// ResizeRequest is a data-plane resize.
type ResizeRequest struct {
	TargetDedicatedNodes   *int32 `json:"targetDedicatedNodes"`
	TargetLowPriorityNodes *int32 `json:"targetLowPriorityNodes"`
	ResizeTimeout          string `json:"resizeTimeout"`
	NodeDeallocationOption string `json:"nodeDeallocationOption"`
}

// DecodeResize parses a data-plane resize body.
func DecodeResize(body []byte) (*ResizeRequest, error) {
	o, err := batchwire.DecodeBody(body)
	if err != nil {
		return nil, err
	}
	var r ResizeRequest
	if _, err := o.Get("targetDedicatedNodes", &r.TargetDedicatedNodes); err != nil {
		return nil, err
	}
	if _, err := o.Get("targetLowPriorityNodes", &r.TargetLowPriorityNodes); err != nil {
		return nil, err
	}
	if _, err := o.Get("resizeTimeout", &r.ResizeTimeout); err != nil {
		return nil, err
	}
	if _, err := o.Get("nodeDeallocationOption", &r.NodeDeallocationOption); err != nil {
		return nil, err
	}
	return &r, nil
}

func sortIdentities(ids []cobalt.UserAssignedIdentity) {
	sort.Slice(ids, func(i, j int) bool { return lower(ids[i].ResourceID) < lower(ids[j].ResourceID) })
}
