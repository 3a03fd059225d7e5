package jobs

import (
	"context"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// validateContainer refuses containerSettings on a task whose pool has no
// container configuration, as Batch documents ("If the Pool that will run
// this Task doesn't have containerConfiguration set, this must not be
// set"), with InvalidPropertyValue at containerSettings; and a container
// task without an image name. A job whose pool does not exist (yet) is
// not checked here: its node refuses the task when it runs.
func (s *Service) validateContainer(ctx context.Context, accountID string, job cobalt.Job, spec *cobalt.TaskSpec) error {
	cs := spec.ContainerSettings
	if cs == nil {
		return nil
	}
	if cs.ImageName == "" {
		return missingProp("containerSettings.imageName")
	}
	if s.cfg.Pools == nil || job.PoolInfo.PoolID == "" {
		return nil
	}
	p, err := s.cfg.Pools.Pool(ctx, accountID, job.PoolInfo.PoolID)
	if err != nil || p == nil {
		return nil
	}
	if vc := p.VirtualMachineConfiguration; vc == nil || vc.ContainerConfiguration == nil {
		return invalidProp("containerSettings",
			"The task specifies containerSettings but the pool %s has no containerConfiguration: a task on a pool without a container configuration cannot run in a container.", p.ID)
	}
	return nil
}

// leaseContainer is a task's containerSettings as its node runs them.
func leaseContainer(cs *cobalt.ContainerSettings) *nodeproto.ContainerSettings {
	if cs == nil {
		return nil
	}
	out := &nodeproto.ContainerSettings{ImageName: cs.ImageName, RunOptions: cs.ContainerRunOptions, WorkingDirectory: string(cs.WorkingDirectory)}
	if r := cs.Registry; r != nil {
		out.Registry = &nodeproto.ContainerRegistry{Server: r.RegistryServer, Username: r.Username, Password: r.Password}
		if r.IdentityReference != nil {
			out.Registry.IdentityResourceID = r.IdentityReference.ResourceID
		}
	}
	for _, m := range cs.ContainerHostBatchBindMounts {
		out.BindMounts = append(out.BindMounts, nodeproto.BindMount{Source: string(m.Source), ReadOnly: m.IsReadOnly})
	}
	return out
}
