package batchapi

import (
	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/batch"
	"github.com/cobaltbatch/cobalt/internal/batchwire"
	"github.com/cobaltbatch/cobalt/internal/errwire"
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
func DecodeDataPlanePool(body []byte, mode DPMode) (*batch.Spec, error) {
	o, err := batchwire.DecodeBody(body)
	if err != nil {
		return nil, err
	}
	s := batch.NewSpec()
	p := &s.Pool
	if o.Has("identity") {
		return nil, batchwire.InvalidValue("identity", "A pool's user-assigned identities can only be set through the management plane "+
			"(Microsoft.Batch/batchAccounts/pools); the data-plane pool add and update operations do not accept 'identity'.").WithReason(errwire.ReasonUnsupportedProperty)
	}
	if o.Has("cloudServiceConfiguration") {
		return nil, batchwire.InvalidValue("cloudServiceConfiguration", "cloudServiceConfiguration is retired and is not supported; use virtualMachineConfiguration instead.").WithReason(errwire.ReasonUnsupportedProperty)
	}
	if mode == DPAdd {
		if ok, err := o.Get("id", &p.ID); err != nil {
			return nil, err
		} else if !ok || p.ID == "" {
			return nil, batchwire.Missing("id")
		}
		if ok, err := o.Get("vmSize", &p.VMSize); err != nil {
			return nil, err
		} else if !ok || p.VMSize == "" {
			return nil, batchwire.Missing("vmSize")
		}
		s.Set(batch.FVMSize)
	} else if mode == DPPatch {
		if ok, err := o.Get("vmSize", &p.VMSize); err != nil {
			return nil, err
		} else if ok {
			s.Set(batch.FVMSize)
		}
	}
	if mode != DPReplace {
		if ok, err := o.Get("displayName", &p.DisplayName); err != nil {
			return nil, err
		} else if ok {
			s.Set(batch.FDisplayName)
		}
		if r := o.Raw("virtualMachineConfiguration"); r != nil {
			vc, err := batchwire.DecodeVMConfig(r, "virtualMachineConfiguration", true)
			if err != nil {
				return nil, err
			}
			p.VirtualMachineConfiguration = vc
			s.Set(batch.FVMConfig)
		}
		if ok, err := o.Get("enableInterNodeCommunication", &p.EnableInterNodeCommunication); err != nil {
			return nil, err
		} else if ok {
			s.Set(batch.FInterNode)
		}
		if r := o.Raw("networkConfiguration"); r != nil {
			p.NetworkConfiguration = batchwire.ConvertRaw(r, true, false)
			s.Set(batch.FNetwork)
		}
		var slots int32
		if ok, err := o.Get("taskSlotsPerNode", &slots); err != nil {
			return nil, err
		} else if ok {
			p.TaskSlotsPerNode = int(slots)
			s.Set(batch.FTaskSlots)
		}
		var policy batchwire.SchedulingPolicyIn
		if ok, err := o.Get("taskSchedulingPolicy", &policy); err != nil {
			return nil, err
		} else if ok {
			p.TaskSchedulingPolicy = cobalt.TaskSchedulingPolicy{NodeFillType: policy.NodeFillType, JobDefaultOrder: policy.JobDefaultOrder}
			s.Set(batch.FPolicy)
		}
		if us, ok, err := batchwire.DecodeUserAccounts(o); err != nil {
			return nil, err
		} else if ok {
			p.UserAccounts = us
			s.Set(batch.FUserAccounts)
		}
		if ok, err := o.ArrayInto("mountConfiguration", &p.MountConfiguration); err != nil {
			return nil, err
		} else if ok {
			s.Set(batch.FMount)
		}
		p.MountConfiguration = batchwire.ConvertRaw(p.MountConfiguration, true, false)
		if r := o.Raw("upgradePolicy"); r != nil {
			p.UpgradePolicy = r
			s.Set(batch.FUpgrade)
		}
		if ok, err := o.Get("resourceTags", &p.Tags); err != nil {
			return nil, err
		} else if ok {
			s.Set(batch.FTags)
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
				return nil, batchwire.Missing(k)
			}
		}
		s.Set(batch.FStartTask)
		s.Set(batch.FCommMode)
	}
	if r := o.Raw("startTask"); r != nil {
		st, err := batchwire.DecodeStartTask(r, "startTask")
		if err != nil {
			return nil, err
		}
		p.StartTask = st
		s.Set(batch.FStartTask)
	}
	var metadata []batchwire.NameValue
	if ok, err := o.Get("metadata", &metadata); err != nil {
		return nil, err
	} else if ok || mode == DPReplace {
		p.Metadata = batchwire.NameValuesToDomain(metadata)
		s.Set(batch.FMetadata)
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
		s.Set(batch.FApps)
	}
	if ok, err := o.ArrayInto("certificateReferences", &p.CertificateReferences); err != nil {
		return nil, err
	} else if ok {
		s.Set(batch.FCerts)
	}
	if ok, err := o.Get("targetNodeCommunicationMode", &p.TargetNodeCommunicationMode); err != nil {
		return nil, err
	} else if ok {
		p.TargetNodeCommunicationMode = batchwire.DPEnum("nodeCommunicationMode", p.TargetNodeCommunicationMode)
		s.Set(batch.FCommMode)
	}
	if p.TaskSchedulingPolicy.NodeFillType != "" {
		p.TaskSchedulingPolicy.NodeFillType = batchwire.DPEnum("nodeFillType", p.TaskSchedulingPolicy.NodeFillType)
	}
	return s, nil
}

func decodeDPScale(o *batchwire.Object, s *batch.Spec) error {
	p := &s.Pool
	s.Set(batch.FScale)
	p.ResizeTimeout, p.NodeDeallocationOption = batch.DefaultResizeTimeout, batch.DeallocRequeue
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
	if _, err := o.Duration("resizeTimeout", &p.ResizeTimeout); err != nil {
		return err
	}
	if p.EnableAutoScale {
		if okD || okL {
			return batchwire.InvalidValue("targetDedicatedNodes", "targetDedicatedNodes and targetLowPriorityNodes must not be specified when enableAutoScale is true.")
		}
		p.AutoScaleEvaluationInterval = batch.DefaultAutoScaleInterval
		return o.AutoScale("autoScaleFormula", "autoScaleEvaluationInterval", &p.AutoScaleFormula, &p.AutoScaleEvaluationInterval)
	}
	p.TargetDedicatedNodes, p.TargetLowPriorityNodes = int(d), int(l)
	s.ResizeRequested = true
	return nil
}

// DecodeResize parses a data-plane resize body.
func DecodeResize(body []byte) (*batch.ResizeRequest, error) {
	o, err := batchwire.DecodeBody(body)
	if err != nil {
		return nil, err
	}
	var r batch.ResizeRequest
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
