package batchprovider

import (
	"encoding/json"
	"sort"
	"strings"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/batch"
	"github.com/cobaltbatch/cobalt/internal/batchwire"
	"github.com/cobaltbatch/cobalt/internal/errwire"
)

// DecodeARMPool parses a Microsoft.Batch pool body (PUT or PATCH), as
// @azure/arm-batch and the REST API send it: pool properties under
// "properties" in camelCase, ARM enum spelling, "identity" at the top level.
// Read-only properties are ignored; unknown pool properties are kept. Every
// failure is a 400 *cobalt.Error naming the property.
func DecodeARMPool(body []byte) (*batch.Spec, error) {
	top, err := batchwire.DecodeBody(body)
	if err != nil {
		return nil, err
	}
	s := batch.NewSpec()
	p := &s.Pool
	if r := top.Raw("identity"); r != nil {
		id, err := decodeARMIdentity(r)
		if err != nil {
			return nil, err
		}
		p.Identity = id
		s.Set(batch.FIdentity)
	}
	if ok, err := top.Get("tags", &p.Tags); err != nil {
		return nil, err
	} else if ok {
		s.Set(batch.FTags)
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
		s.Set(batch.FDisplayName)
	}
	if ok, err := o.Get("vmSize", &p.VMSize); err != nil {
		return nil, err
	} else if ok {
		s.Set(batch.FVMSize)
	}
	if dr := o.Raw("deploymentConfiguration"); dr != nil {
		d, err := batchwire.ParseObject(dr, "properties.deploymentConfiguration")
		if err != nil {
			return nil, err
		}
		if d.Raw("cloudServiceConfiguration") != nil {
			return nil, batchwire.InvalidValue("properties.deploymentConfiguration.cloudServiceConfiguration",
				"cloudServiceConfiguration is retired and is not supported; use properties.deploymentConfiguration.virtualMachineConfiguration instead.").WithReason(errwire.ReasonUnsupportedProperty)
		}
		if vr := d.Raw("virtualMachineConfiguration"); vr != nil {
			vc, err := batchwire.DecodeVMConfig(vr, "properties.deploymentConfiguration.virtualMachineConfiguration", false)
			if err != nil {
				return nil, err
			}
			p.VirtualMachineConfiguration = vc
		}
		s.Set(batch.FVMConfig)
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
		if !batchwire.KnownEnum("interNodeCommunication", inter) {
			return nil, batchwire.InvalidValue("properties.interNodeCommunication", "The value '%s' of properties.interNodeCommunication is not valid; use 'Enabled' or 'Disabled'.", inter)
		}
		p.EnableInterNodeCommunication = strings.EqualFold(inter, "Enabled")
		s.Set(batch.FInterNode)
	}
	if r := o.Raw("networkConfiguration"); r != nil {
		if _, err := batchwire.ParseObject(r, "properties.networkConfiguration"); err != nil {
			return nil, err
		}
		p.NetworkConfiguration = r
		s.Set(batch.FNetwork)
	}
	if r := o.Raw("startTask"); r != nil {
		st, err := batchwire.DecodeStartTask(r, "properties.startTask")
		if err != nil {
			return nil, err
		}
		p.StartTask = st
		s.Set(batch.FStartTask)
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
		p.TaskSchedulingPolicy = policy.ToDomain()
		s.Set(batch.FPolicy)
	}
	if us, ok, err := batchwire.DecodeUserAccounts(o); err != nil {
		return nil, err
	} else if ok {
		p.UserAccounts = us
		s.Set(batch.FUserAccounts)
	}
	var metadata []batchwire.NameValue
	if ok, err := o.Get("metadata", &metadata); err != nil {
		return nil, err
	} else if ok {
		p.Metadata = batchwire.NameValuesToDomain(metadata)
		s.Set(batch.FMetadata)
	}
	if ok, err := o.ArrayInto("mountConfiguration", &p.MountConfiguration); err != nil {
		return nil, err
	} else if ok {
		s.Set(batch.FMount)
	}
	var apps []armAppPackage
	if ok, err := o.Get("applicationPackages", &apps); err != nil {
		return nil, err
	} else if ok {
		p.ApplicationPackages = appPackagesToDomain(apps)
		s.Set(batch.FApps)
	}
	if ok, err := o.ArrayInto("certificates", &p.CertificateReferences); err != nil {
		return nil, err
	} else if ok {
		s.Set(batch.FCerts)
	}
	if r := o.Raw("upgradePolicy"); r != nil {
		p.UpgradePolicy = r
		s.Set(batch.FUpgrade)
	}
	if ok, err := o.Get("targetNodeCommunicationMode", &p.TargetNodeCommunicationMode); err != nil {
		return nil, err
	} else if ok {
		p.TargetNodeCommunicationMode = batchwire.DPEnum("nodeCommunicationMode", p.TargetNodeCommunicationMode)
		s.Set(batch.FCommMode)
	}
	if ok, err := o.Get("resourceTags", &p.Tags); err != nil {
		return nil, err
	} else if ok {
		s.Set(batch.FTags)
	}
	if rest := o.Rest(); rest != nil {
		p.Extra = make(map[string][]byte, len(rest))
		for k, v := range rest {
			p.Extra[k] = v
		}
		s.Set(batch.FExtra)
	}
	return s, nil
}

func decodeARMScale(raw json.RawMessage, s *batch.Spec) error {
	o, err := batchwire.ParseObject(raw, "properties.scaleSettings")
	if err != nil {
		return err
	}
	p := &s.Pool
	s.Set(batch.FScale)
	s.ResizeRequested = true
	p.ResizeTimeout, p.NodeDeallocationOption = batch.DefaultResizeTimeout, batch.DeallocRequeue
	fr, ar := o.Raw("fixedScale"), o.Raw("autoScale")
	if fr != nil && ar != nil {
		return batchwire.InvalidValue("properties.scaleSettings", "Only one of properties.scaleSettings.fixedScale and properties.scaleSettings.autoScale may be specified.")
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
			return batchwire.Missing("properties.scaleSettings.fixedScale.targetDedicatedNodes")
		}
		p.TargetDedicatedNodes, p.TargetLowPriorityNodes = int(d), int(l)
		if _, err := f.Duration("resizeTimeout", &p.ResizeTimeout); err != nil {
			return err
		}
		var opt string
		if ok, err := f.Get("nodeDeallocationOption", &opt); err != nil {
			return err
		} else if ok {
			if !batchwire.KnownEnum("nodeDeallocationOption", opt) {
				return batchwire.InvalidValue("properties.scaleSettings.fixedScale.nodeDeallocationOption",
					"The value '%s' of nodeDeallocationOption is not valid; use Requeue, Terminate, TaskCompletion or RetainedData.", opt)
			}
			p.NodeDeallocationOption = batchwire.DPEnum("nodeDeallocationOption", opt)
		}
	}
	if ar != nil {
		a, err := batchwire.ParseObject(ar, "properties.scaleSettings.autoScale")
		if err != nil {
			return err
		}
		p.EnableAutoScale, p.AutoScaleEvaluationInterval = true, batch.DefaultAutoScaleInterval
		if err := a.AutoScale("formula", "evaluationInterval", &p.AutoScaleFormula, &p.AutoScaleEvaluationInterval); err != nil {
			return err
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
		return nil, batchwire.Missing("identity.type")
	}
	var uai map[string]json.RawMessage
	if _, err := o.Get("userAssignedIdentities", &uai); err != nil {
		return nil, err
	}
	for k := range uai {
		id.Identities = append(id.Identities, cobalt.UserAssignedIdentity{ResourceID: k})
	}
	sort.Slice(id.Identities, func(i, j int) bool {
		return strings.ToLower(id.Identities[i].ResourceID) < strings.ToLower(id.Identities[j].ResourceID)
	})
	return id, nil
}

func appPackagesToDomain(as []armAppPackage) []cobalt.ApplicationPackageReference {
	if as == nil {
		return nil
	}
	out := make([]cobalt.ApplicationPackageReference, len(as))
	for i, a := range as {
		out[i] = cobalt.ApplicationPackageReference{ApplicationID: a.ID, Version: a.Version}
	}
	return out
}
