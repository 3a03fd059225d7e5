package batch

import (
	"encoding/json"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/batchwire"
)

// This file converts between the domain pool and its persisted record.
// The sub-record converters also serve the renderings where the wire shape
// and the record agree.

func raw(b []byte) json.RawMessage {
	if b == nil {
		return nil
	}
	return json.RawMessage(b)
}

func bytesOf(r json.RawMessage) []byte {
	if r == nil {
		return nil
	}
	return []byte(r)
}

func rawMap(m map[string][]byte) map[string]json.RawMessage {
	if m == nil {
		return nil
	}
	out := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func bytesMap(m map[string]json.RawMessage) map[string][]byte {
	if m == nil {
		return nil
	}
	out := make(map[string][]byte, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func nameValues(nv []nameValueRecord) []cobalt.NameValue {
	if nv == nil {
		return nil
	}
	out := make([]cobalt.NameValue, len(nv))
	for i, x := range nv {
		out[i] = cobalt.NameValue(x)
	}
	return out
}

func resizeErrorRecords(es []cobalt.ResizeError) []resizeErrorRecord {
	if es == nil {
		return nil
	}
	out := make([]resizeErrorRecord, len(es))
	for i, e := range es {
		out[i] = resizeErrorRecord{Code: e.Code, Message: e.Message, Values: batchwire.NameValues(e.Values)}
	}
	return out
}

func resizeErrors(es []resizeErrorRecord) []cobalt.ResizeError {
	if es == nil {
		return nil
	}
	out := make([]cobalt.ResizeError, len(es))
	for i, e := range es {
		out[i] = cobalt.ResizeError{Code: e.Code, Message: e.Message, Values: nameValues(e.Values)}
	}
	return out
}

func identityRecords(ids []cobalt.UserAssignedIdentity) []identityRecord {
	if ids == nil {
		return nil
	}
	out := make([]identityRecord, len(ids))
	for i, x := range ids {
		out[i] = identityRecord(x)
	}
	return out
}

func identities(ids []identityRecord) []cobalt.UserAssignedIdentity {
	if ids == nil {
		return nil
	}
	out := make([]cobalt.UserAssignedIdentity, len(ids))
	for i, x := range ids {
		out[i] = cobalt.UserAssignedIdentity(x)
	}
	return out
}

func identityRef(r *identityReferenceRecord) *cobalt.IdentityReference {
	if r == nil {
		return nil
	}
	return &cobalt.IdentityReference{ResourceID: r.ResourceID}
}

func resourceFiles(rfs []resourceFileRecord) []cobalt.ResourceFile {
	if rfs == nil {
		return nil
	}
	out := make([]cobalt.ResourceFile, len(rfs))
	for i, r := range rfs {
		out[i] = cobalt.ResourceFile{AutoStorageContainerName: r.AutoStorageContainerName, StorageContainerURL: r.StorageContainerURL,
			HTTPURL: r.HTTPURL, BlobPrefix: r.BlobPrefix, FilePath: r.FilePath, FileMode: r.FileMode, IdentityReference: identityRef(r.IdentityReference)}
	}
	return out
}

func userIdentityRecordOf(u *cobalt.UserIdentity) *userIdentityRecord {
	if u == nil {
		return nil
	}
	out := &userIdentityRecord{UserName: u.UserName}
	if u.AutoUser != nil {
		out.AutoUser = &autoUserRecord{Scope: string(u.AutoUser.Scope), ElevationLevel: string(u.AutoUser.ElevationLevel)}
	}
	return out
}

func userIdentity(u *userIdentityRecord) *cobalt.UserIdentity {
	if u == nil {
		return nil
	}
	out := &cobalt.UserIdentity{UserName: u.UserName}
	if u.AutoUser != nil {
		out.AutoUser = &cobalt.AutoUser{Scope: cobalt.AutoUserScope(u.AutoUser.Scope), ElevationLevel: cobalt.ElevationLevel(u.AutoUser.ElevationLevel)}
	}
	return out
}

func startTaskRecordOf(st *cobalt.StartTask) *startTaskRecord {
	if st == nil {
		return nil
	}
	return &startTaskRecord{CommandLine: st.CommandLine, ResourceFiles: batchwire.ResourceFiles(st.ResourceFiles),
		EnvironmentSettings: batchwire.NameValues(st.EnvironmentSettings), UserIdentity: userIdentityRecordOf(st.UserIdentity),
		MaxTaskRetryCount: st.MaxTaskRetryCount, WaitForSuccess: st.WaitForSuccess, ContainerSettings: raw(st.ContainerSettings)}
}

func startTask(st *startTaskRecord) *cobalt.StartTask {
	if st == nil {
		return nil
	}
	return &cobalt.StartTask{CommandLine: st.CommandLine, ResourceFiles: resourceFiles(st.ResourceFiles),
		EnvironmentSettings: nameValues(st.EnvironmentSettings), UserIdentity: userIdentity(st.UserIdentity),
		MaxTaskRetryCount: st.MaxTaskRetryCount, WaitForSuccess: st.WaitForSuccess, ContainerSettings: bytesOf(st.ContainerSettings)}
}

func imageReferenceRecordOf(ir cobalt.ImageReference) imageReferenceRecord {
	return imageReferenceRecord(ir)
}

// registryRecords converts container registries; with stripSecrets the
// passwords are left out (responses never echo them).
func registryRecords(rs []cobalt.ContainerRegistry, stripSecrets bool) []registryRecord {
	if rs == nil {
		return nil
	}
	out := make([]registryRecord, len(rs))
	for i, r := range rs {
		out[i] = registryRecord{Username: r.Username, Password: r.Password, RegistryServer: r.RegistryServer, IdentityReference: batchwire.IdentityRef(r.IdentityReference)}
		if stripSecrets {
			out[i].Password = ""
		}
	}
	return out
}

func registries(rs []registryRecord) []cobalt.ContainerRegistry {
	if rs == nil {
		return nil
	}
	out := make([]cobalt.ContainerRegistry, len(rs))
	for i, r := range rs {
		out[i] = cobalt.ContainerRegistry{Username: r.Username, Password: r.Password, RegistryServer: r.RegistryServer, IdentityReference: identityRef(r.IdentityReference)}
	}
	return out
}

func containerConfigRecordOf(cc *cobalt.ContainerConfiguration, stripSecrets bool) *containerConfigRecord {
	if cc == nil {
		return nil
	}
	return &containerConfigRecord{Type: cc.Type, ContainerImageNames: cc.ContainerImageNames, ContainerRegistries: registryRecords(cc.ContainerRegistries, stripSecrets)}
}

func containerConfig(cc *containerConfigRecord) *cobalt.ContainerConfiguration {
	if cc == nil {
		return nil
	}
	return &cobalt.ContainerConfiguration{Type: cc.Type, ContainerImageNames: cc.ContainerImageNames, ContainerRegistries: registries(cc.ContainerRegistries)}
}

func appPackageRecords(as []cobalt.ApplicationPackageReference) []appPackageRecord {
	if as == nil {
		return nil
	}
	out := make([]appPackageRecord, len(as))
	for i, a := range as {
		out[i] = appPackageRecord{ID: a.ApplicationID, Version: a.Version}
	}
	return out
}

func appPackages(as []appPackageRecord) []cobalt.ApplicationPackageReference {
	if as == nil {
		return nil
	}
	out := make([]cobalt.ApplicationPackageReference, len(as))
	for i, a := range as {
		out[i] = cobalt.ApplicationPackageReference{ApplicationID: a.ID, Version: a.Version}
	}
	return out
}

func poolToRecord(p *Pool) poolRecord {
	r := poolRecord{ID: p.ID, DisplayName: p.DisplayName, VMSize: p.VMSize,
		TargetDedicatedNodes: p.TargetDedicatedNodes, TargetLowPriorityNodes: p.TargetLowPriorityNodes,
		ResizeTimeout: p.ResizeTimeout, NodeDeallocationOption: p.NodeDeallocationOption,
		EnableAutoScale: p.EnableAutoScale, AutoScaleFormula: p.AutoScaleFormula, AutoScaleEvaluationInterval: p.AutoScaleEvaluationInterval,
		EnableInterNodeCommunication: p.EnableInterNodeCommunication, NetworkConfiguration: raw(p.NetworkConfiguration),
		StartTask: startTaskRecordOf(p.StartTask), TaskSlotsPerNode: p.TaskSlotsPerNode,
		TaskSchedulingPolicy: schedulingPolicyRecord(p.TaskSchedulingPolicy), UserAccounts: userAccountsJSON(p.UserAccounts),
		Metadata: batchwire.NameValues(p.Metadata), MountConfiguration: raw(p.MountConfiguration), ApplicationPackages: appPackageRecords(p.ApplicationPackages),
		CertificateReferences: raw(p.CertificateReferences), UpgradePolicy: raw(p.UpgradePolicy), TargetNodeCommunicationMode: p.TargetNodeCommunicationMode,
		Tags: p.Tags, Extra: rawMap(p.Extra),
		State: p.State, StateTransitionTime: p.StateTransitionTime, AllocationState: p.AllocationState,
		AllocationStateTransitionTime: p.AllocationStateTransitionTime, CreationTime: p.CreationTime, LastModified: p.LastModified,
		CurrentDedicatedNodes: p.CurrentDedicatedNodes, CurrentLowPriorityNodes: p.CurrentLowPriorityNodes,
		Resize: resizeStatusRecord{TargetDedicatedNodes: p.Resize.TargetDedicatedNodes, TargetLowPriorityNodes: p.Resize.TargetLowPriorityNodes,
			ResizeTimeout: p.Resize.ResizeTimeout, NodeDeallocationOption: p.Resize.NodeDeallocationOption, StartTime: p.Resize.StartTime,
			Errors: resizeErrorRecords(p.Resize.Errors)},
		IdentityWarning: p.IdentityWarning, NodePrefix: p.NodePrefix, NodeSeq: p.NodeSeq, AllocatorOwner: p.AllocatorOwner, AllocatorUntil: p.AllocatorUntil}
	if vc := p.VirtualMachineConfiguration; vc != nil {
		r.VirtualMachineConfiguration = &vmConfigRecord{ImageReference: imageReferenceRecordOf(vc.ImageReference), NodeAgentSkuID: vc.NodeAgentSkuID,
			ContainerConfiguration: containerConfigRecordOf(vc.ContainerConfiguration, false), Extra: rawMap(vc.Extra)}
	}
	if a := p.AutoScaleRun; a != nil {
		r.AutoScaleRun = &autoScaleRecord{Timestamp: a.Timestamp, Results: a.Results}
		if a.Error != nil {
			e := resizeErrorRecords([]cobalt.ResizeError{*a.Error})[0]
			r.AutoScaleRun.Error = &e
		}
	}
	if id := p.Identity; id != nil {
		r.Identity = &poolIdentityRecord{Type: id.Type, Identities: identityRecords(id.Identities)}
	}
	return r
}

func poolFromRecord(r poolRecord) *Pool {
	p := &Pool{Pool: cobalt.Pool{ID: r.ID, DisplayName: r.DisplayName, VMSize: r.VMSize,
		TargetDedicatedNodes: r.TargetDedicatedNodes, TargetLowPriorityNodes: r.TargetLowPriorityNodes,
		ResizeTimeout: r.ResizeTimeout, NodeDeallocationOption: r.NodeDeallocationOption,
		EnableAutoScale: r.EnableAutoScale, AutoScaleFormula: r.AutoScaleFormula, AutoScaleEvaluationInterval: r.AutoScaleEvaluationInterval,
		EnableInterNodeCommunication: r.EnableInterNodeCommunication, NetworkConfiguration: bytesOf(r.NetworkConfiguration),
		StartTask: startTask(r.StartTask), TaskSlotsPerNode: r.TaskSlotsPerNode,
		TaskSchedulingPolicy: cobalt.TaskSchedulingPolicy(r.TaskSchedulingPolicy), UserAccounts: userAccountsOfJSON(r.UserAccounts),
		Metadata: nameValues(r.Metadata), MountConfiguration: bytesOf(r.MountConfiguration), ApplicationPackages: appPackages(r.ApplicationPackages),
		CertificateReferences: bytesOf(r.CertificateReferences), UpgradePolicy: bytesOf(r.UpgradePolicy), TargetNodeCommunicationMode: r.TargetNodeCommunicationMode,
		Tags: r.Tags, Extra: bytesMap(r.Extra),
		State: r.State, StateTransitionTime: r.StateTransitionTime, AllocationState: r.AllocationState,
		AllocationStateTransitionTime: r.AllocationStateTransitionTime, CreationTime: r.CreationTime, LastModified: r.LastModified,
		CurrentDedicatedNodes: r.CurrentDedicatedNodes, CurrentLowPriorityNodes: r.CurrentLowPriorityNodes,
		Resize: cobalt.ResizeStatus{TargetDedicatedNodes: r.Resize.TargetDedicatedNodes, TargetLowPriorityNodes: r.Resize.TargetLowPriorityNodes,
			ResizeTimeout: r.Resize.ResizeTimeout, NodeDeallocationOption: r.Resize.NodeDeallocationOption, StartTime: r.Resize.StartTime,
			Errors: resizeErrors(r.Resize.Errors)},
		IdentityWarning: r.IdentityWarning},
		NodePrefix: r.NodePrefix, NodeSeq: r.NodeSeq, AllocatorOwner: r.AllocatorOwner, AllocatorUntil: r.AllocatorUntil}
	if vc := r.VirtualMachineConfiguration; vc != nil {
		p.VirtualMachineConfiguration = &cobalt.VirtualMachineConfiguration{ImageReference: cobalt.ImageReference(vc.ImageReference),
			NodeAgentSkuID: vc.NodeAgentSkuID, ContainerConfiguration: containerConfig(vc.ContainerConfiguration), Extra: bytesMap(vc.Extra)}
	}
	if a := r.AutoScaleRun; a != nil {
		p.AutoScaleRun = &cobalt.AutoScaleRun{Timestamp: a.Timestamp, Results: a.Results}
		if a.Error != nil {
			e := resizeErrors([]resizeErrorRecord{*a.Error})[0]
			p.AutoScaleRun.Error = &e
		}
	}
	if id := r.Identity; id != nil {
		p.Identity = &cobalt.PoolIdentity{Type: id.Type, Identities: identities(id.Identities)}
	}
	return p
}

func userAccountRecords(us []cobalt.UserAccount) []userAccountRecord {
	if us == nil {
		return nil
	}
	out := make([]userAccountRecord, len(us))
	for i, u := range us {
		out[i] = userAccountRecord{Name: u.Name, Password: u.Password, ElevationLevel: toARM("elevationLevel", string(u.ElevationLevel))}
		if l := u.LinuxUserConfiguration; l != nil {
			out[i].LinuxUserConfiguration = &linuxUserRecord{UID: l.UID, GID: l.GID, SSHPrivateKey: l.SSHPrivateKey}
		}
		if w := u.WindowsUserConfiguration; w != nil {
			out[i].WindowsUserConfiguration = &windowsUserRecord{LoginMode: toARM("loginMode", w.LoginMode)}
		}
	}
	return out
}

// userAccounts converts user account records, whatever the spelling of
// their enumerations, to the domain's (data-plane) spelling.
func userAccounts(rs []userAccountRecord) []cobalt.UserAccount {
	if rs == nil {
		return nil
	}
	out := make([]cobalt.UserAccount, len(rs))
	for i, r := range rs {
		out[i] = cobalt.UserAccount{Name: r.Name, Password: r.Password, ElevationLevel: cobalt.ElevationLevel(toDP("elevationLevel", r.ElevationLevel))}
		if l := r.LinuxUserConfiguration; l != nil {
			out[i].LinuxUserConfiguration = &cobalt.LinuxUserConfiguration{UID: l.UID, GID: l.GID, SSHPrivateKey: l.SSHPrivateKey}
		}
		if w := r.WindowsUserConfiguration; w != nil {
			out[i].WindowsUserConfiguration = &cobalt.WindowsUserConfiguration{LoginMode: toDP("loginMode", w.LoginMode)}
		}
	}
	return out
}

func userAccountsJSON(us []cobalt.UserAccount) json.RawMessage {
	if us == nil {
		return nil
	}
	b, _ := json.Marshal(userAccountRecords(us))
	return b
}

// userAccountsOfJSON decodes a row's user accounts. Rows of earlier releases
// kept them as the JSON the client sent, unchecked: an array that does not
// read as user accounts is dropped rather than making the pool unreadable.
func userAccountsOfJSON(b json.RawMessage) []cobalt.UserAccount {
	if b == nil {
		return nil
	}
	var rs []userAccountRecord
	if err := json.Unmarshal(b, &rs); err != nil {
		return nil
	}
	return userAccounts(rs)
}
