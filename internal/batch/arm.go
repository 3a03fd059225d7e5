package batch

import (
	"encoding/json"
	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/batchwire"
	"github.com/cobaltbatch/cobalt/internal/errwire"
	"strings"
)

// DecodeARMPool parses a Microsoft.Batch pool body (PUT or PATCH), as
// @azure/arm-batch and the REST API send it: pool properties under
// "properties" in camelCase, ARM enum spelling, "identity" at the top level.
// Read-only properties are ignored; unknown pool properties are kept. Every
// failure is a 400 *cobalt.Error naming the property.
func DecodeARMPool(body []byte) (*Spec, error) {
	top, err := batchwire.DecodeBody(body)
	if err != nil {
		return nil, err
	}
	s := newSpec()
	p := &s.Pool
	if r := top.Raw("identity"); r != nil {
		id, err := decodeARMIdentity(r)
		if err != nil {
			return nil, err
		}
		p.Identity = id
		s.set(FIdentity)
	}
	if ok, err := top.Get("tags", &p.Tags); err != nil {
		return nil, err
	} else if ok {
		s.set(FTags)
	}
	r := top.Raw("properties")
	if r == nil {
		return s, nil
	}
	o, err := batchwire.ParseObject(r, "properties")
	if err != nil {
		return nil, err
	}
	// Read-only properties: accepted and ignored, as ARM does.
	for _, k := range []string{"provisioningState", "provisioningStateTransitionTime", "allocationState", "allocationStateTransitionTime",
		"creationTime", "lastModified", "currentDedicatedNodes", "currentLowPriorityNodes", "resizeOperationStatus", "autoScaleRun",
		"currentNodeCommunicationMode", "identityWarning"} {
		o.Raw(k)
	}
	if ok, err := o.Get("displayName", &p.DisplayName); err != nil {
		return nil, err
	} else if ok {
		s.set(FDisplayName)
	}
	if ok, err := o.Get("vmSize", &p.VMSize); err != nil {
		return nil, err
	} else if ok {
		s.set(FVMSize)
	}
	if dr := o.Raw("deploymentConfiguration"); dr != nil {
		d, err := batchwire.ParseObject(dr, "properties.deploymentConfiguration")
		if err != nil {
			return nil, err
		}
		if d.Raw("cloudServiceConfiguration") != nil {
			return nil, invalidValue("properties.deploymentConfiguration.cloudServiceConfiguration",
				"cloudServiceConfiguration is retired and is not supported; use properties.deploymentConfiguration.virtualMachineConfiguration instead.").WithReason(errwire.ReasonUnsupportedProperty)
		}
		if vr := d.Raw("virtualMachineConfiguration"); vr != nil {
			vc, err := decodeVMConfig(vr, "properties.deploymentConfiguration.virtualMachineConfiguration", false)
			if err != nil {
				return nil, err
			}
			p.VirtualMachineConfiguration = vc
		}
		s.set(FVMConfig)
	}
	if sr := o.Raw("scaleSettings"); sr != nil {
		if err := decodeARMScale(sr, s); err != nil {
			return nil, err
		}
	}
	var inter string
	if ok, err := o.Get("interNodeCommunication", &inter); err != nil {
		return nil, err
	} else if ok {
		if !knownEnum("interNodeCommunication", inter) {
			return nil, invalidValue("properties.interNodeCommunication", "The value '%s' of properties.interNodeCommunication is not valid; use 'Enabled' or 'Disabled'.", inter)
		}
		p.EnableInterNodeCommunication = strings.EqualFold(inter, "Enabled")
		s.set(FInterNode)
	}
	if r := o.Raw("networkConfiguration"); r != nil {
		if _, err := batchwire.ParseObject(r, "properties.networkConfiguration"); err != nil {
			return nil, err
		}
		p.NetworkConfiguration = r
		s.set(FNetwork)
	}
	if r := o.Raw("startTask"); r != nil {
		st, err := decodeStartTask(r, "properties.startTask")
		if err != nil {
			return nil, err
		}
		p.StartTask = st
		s.set(FStartTask)
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
		p.TaskSchedulingPolicy.NodeFillType = toDP("nodeFillType", p.TaskSchedulingPolicy.NodeFillType)
		p.TaskSchedulingPolicy.JobDefaultOrder = toDP("jobDefaultOrder", p.TaskSchedulingPolicy.JobDefaultOrder)
		s.set(FPolicy)
	}
	if err := decodeUserAccounts(o, s); err != nil {
		return nil, err
	}
	var metadata []nameValueRecord
	if ok, err := o.Get("metadata", &metadata); err != nil {
		return nil, err
	} else if ok {
		p.Metadata = nameValues(metadata)
		s.set(FMetadata)
	}
	if err := rawArray(o, "mountConfiguration", &p.MountConfiguration, s, FMount); err != nil {
		return nil, err
	}
	var apps []appPackageRecord
	if ok, err := o.Get("applicationPackages", &apps); err != nil {
		return nil, err
	} else if ok {
		p.ApplicationPackages = appPackages(apps)
		s.set(FApps)
	}
	if err := rawArray(o, "certificates", &p.CertificateReferences, s, FCerts); err != nil {
		return nil, err
	}
	if r := o.Raw("upgradePolicy"); r != nil {
		p.UpgradePolicy = r
		s.set(FUpgrade)
	}
	if ok, err := o.Get("targetNodeCommunicationMode", &p.TargetNodeCommunicationMode); err != nil {
		return nil, err
	} else if ok {
		p.TargetNodeCommunicationMode = toDP("nodeCommunicationMode", p.TargetNodeCommunicationMode)
		s.set(FCommMode)
	}
	if ok, err := o.Get("resourceTags", &p.Tags); err != nil {
		return nil, err
	} else if ok {
		s.set(FTags)
	}
	if rest := o.Rest(); rest != nil {
		p.Extra = bytesMap(rest)
		s.set(FExtra)
	}
	return s, nil
}

func rawArray(o *batchwire.Object, k string, dst *[]byte, s *Spec, f Field) error {
	r, present, err := o.RawArray(k)
	if err != nil || !present {
		return err
	}
	s.set(f)
	*dst = r
	return nil
}

func decodeARMScale(raw json.RawMessage, s *Spec) error {
	o, err := batchwire.ParseObject(raw, "properties.scaleSettings")
	if err != nil {
		return err
	}
	p := &s.Pool
	s.set(FScale)
	s.ResizeRequested = true
	p.ResizeTimeout, p.NodeDeallocationOption = DefaultResizeTimeout, DeallocRequeue
	fr, ar := o.Raw("fixedScale"), o.Raw("autoScale")
	if fr != nil && ar != nil {
		return invalidValue("properties.scaleSettings", "Only one of properties.scaleSettings.fixedScale and properties.scaleSettings.autoScale may be specified.")
	}
	if fr != nil {
		f, err := batchwire.ParseObject(fr, "properties.scaleSettings.fixedScale")
		if err != nil {
			return err
		}
		var d, l int32
		okD, err := f.Get("targetDedicatedNodes", &d)
		if err != nil {
			return err
		}
		okL, err := f.Get("targetLowPriorityNodes", &l)
		if err != nil {
			return err
		}
		if !okD && !okL {
			return missing("properties.scaleSettings.fixedScale.targetDedicatedNodes")
		}
		p.TargetDedicatedNodes, p.TargetLowPriorityNodes = int(d), int(l)
		var rt, opt string
		if ok, err := f.Get("resizeTimeout", &rt); err != nil {
			return err
		} else if ok {
			if p.ResizeTimeout, err = ParseDuration(rt); err != nil {
				return invalidValue("properties.scaleSettings.fixedScale.resizeTimeout", "The value '%s' of resizeTimeout is not a valid ISO 8601 duration.", rt)
			}
		}
		if ok, err := f.Get("nodeDeallocationOption", &opt); err != nil {
			return err
		} else if ok {
			if !knownEnum("nodeDeallocationOption", opt) {
				return invalidValue("properties.scaleSettings.fixedScale.nodeDeallocationOption",
					"The value '%s' of nodeDeallocationOption is not valid; use Requeue, Terminate, TaskCompletion or RetainedData.", opt)
			}
			p.NodeDeallocationOption = toDP("nodeDeallocationOption", opt)
		}
	}
	if ar != nil {
		a, err := batchwire.ParseObject(ar, "properties.scaleSettings.autoScale")
		if err != nil {
			return err
		}
		p.EnableAutoScale = true
		if ok, err := a.Get("formula", &p.AutoScaleFormula); err != nil {
			return err
		} else if !ok || p.AutoScaleFormula == "" {
			return missing("properties.scaleSettings.autoScale.formula")
		}
		p.AutoScaleEvaluationInterval = 15 * 60e9
		var iv string
		if ok, err := a.Get("evaluationInterval", &iv); err != nil {
			return err
		} else if ok {
			if p.AutoScaleEvaluationInterval, err = ParseDuration(iv); err != nil {
				return invalidValue("properties.scaleSettings.autoScale.evaluationInterval", "The value '%s' of evaluationInterval is not a valid ISO 8601 duration.", iv)
			}
		}
	}
	return nil
}

func decodeARMIdentity(raw json.RawMessage) (*cobalt.PoolIdentity, error) {
	o, err := batchwire.ParseObject(raw, "identity")
	if err != nil {
		return nil, err
	}
	id := &cobalt.PoolIdentity{}
	if ok, err := o.Get("type", &id.Type); err != nil {
		return nil, err
	} else if !ok {
		return nil, missing("identity.type")
	}
	var uai map[string]json.RawMessage
	if _, err := o.Get("userAssignedIdentities", &uai); err != nil {
		return nil, err
	}
	for k := range uai {
		id.Identities = append(id.Identities, cobalt.UserAssignedIdentity{ResourceID: k})
	}
	sortIdentities(id.Identities)
	return id, nil
}
