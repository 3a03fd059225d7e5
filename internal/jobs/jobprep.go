package jobs

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// Job preparation and release tasks. A job's preparation task travels with
// every lease of the job's tasks; the node runs it once per job instance
// before the first of them and reports it (jobprep_report.go). With
// waitForSuccess (the default) a node whose preparation task failed gives
// its leases back and the claim no longer offers it the job's tasks, as
// Batch keeps them off that node. When the job ends (terminated, deleted,
// completed by onAllTasksComplete or its job manager) every node that ran
// the preparation task is sent the release task with its heartbeat.

// Batch's defaults and limits of preparation and release tasks.
const (
	DefaultJobPreparationID = "jobpreparation"
	DefaultJobReleaseID     = "jobrelease"
	// MaxJobReleaseWallClock is the release task's default and longest
	// maxWallClockTime.
	MaxJobReleaseWallClock = 15 * time.Minute
)

// Batch's codes for a task whose ID is its job's preparation or release task's.
const (
	ReasonTaskIDSameAsJobPrep    = "TaskIdSameAsJobPreparationTask"
	ReasonTaskIDSameAsJobRelease = "TaskIdSameAsJobReleaseTask"
	// ReasonNoJobPrepOrRelease is the status list's error for a job with neither.
	ReasonNoJobPrepOrRelease = "JobPreparationTaskOrReleaseTaskNotSpecified"
)

// jobPrepDefaults checks a job's preparation and release tasks and fills
// Batch's defaults.
func jobPrepDefaults(spec *cobalt.JobSpec) error {
	p, r := spec.JobPreparationTask, spec.JobReleaseTask
	if r != nil && p == nil {
		return invalidProp("jobReleaseTask", "A job release task requires a job preparation task.")
	}
	if p == nil {
		return nil
	}
	if p.ID == "" {
		p.ID = DefaultJobPreparationID
	}
	t := cobalt.TaskSpec{ID: p.ID, CommandLine: p.CommandLine, ResourceFiles: p.ResourceFiles, EnvironmentSettings: p.EnvironmentSettings,
		Constraints: p.Constraints, UserIdentity: p.UserIdentity, ContainerSettings: p.ContainerSettings}
	if err := validateTask(&t, cobalt.Job{}); err != nil {
		return prefixTarget(err, "jobPreparationTask.")
	}
	p.Constraints = t.Constraints
	if p.WaitForSuccess == nil {
		p.WaitForSuccess = ptr(true)
	}
	if p.RerunOnNodeRebootAfterSuccess == nil {
		p.RerunOnNodeRebootAfterSuccess = ptr(true)
	}
	if r == nil {
		return nil
	}
	if r.ID == "" {
		r.ID = DefaultJobReleaseID
	}
	if strings.EqualFold(r.ID, p.ID) {
		return invalidProp("jobReleaseTask.id", "The job release task's id must differ from the job preparation task's.")
	}
	t = cobalt.TaskSpec{ID: r.ID, CommandLine: r.CommandLine, ResourceFiles: r.ResourceFiles, EnvironmentSettings: r.EnvironmentSettings,
		UserIdentity: r.UserIdentity, ContainerSettings: r.ContainerSettings}
	if err := validateTask(&t, cobalt.Job{}); err != nil {
		return prefixTarget(err, "jobReleaseTask.")
	}
	if r.MaxWallClockTime == nil || r.MaxWallClockTime.IsUnlimited() {
		r.MaxWallClockTime = ptr(cobalt.Duration(MaxJobReleaseWallClock))
	}
	if d := time.Duration(*r.MaxWallClockTime); d <= 0 || d > MaxJobReleaseWallClock {
		return invalidProp("jobReleaseTask.maxWallClockTime", "The job release task's maxWallClockTime must be positive and at most 15 minutes.")
	}
	if r.RetentionTime == nil {
		r.RetentionTime = ptr(cobalt.Duration(DefaultRetention))
	}
	return nil
}

// prefixTarget puts prefix before an error's target, when it has one.
func prefixTarget(err error, prefix string) error {
	var e *cobalt.Error
	if errors.As(err, &e) && e.Target != "" {
		e.Target = prefix + e.Target
	}
	return err
}

// checkNotJobPrepID refuses a task whose ID is its job's preparation or
// release task's, with Batch's codes.
func checkNotJobPrepID(id string, j cobalt.Job) error {
	if p := j.JobPreparationTask; p != nil && strings.EqualFold(p.ID, id) {
		return cobalt.Errorf(cobalt.EInvalid, "The task ID is the same as the job preparation task's.").WithReason(ReasonTaskIDSameAsJobPrep).WithTarget("id")
	}
	if r := j.JobReleaseTask; r != nil && strings.EqualFold(r.ID, id) {
		return cobalt.Errorf(cobalt.EInvalid, "The task ID is the same as the job release task's.").WithReason(ReasonTaskIDSameAsJobRelease).WithTarget("id")
	}
	return nil
}

// jobInstance tells apart the jobs that had one ID over time.
func jobInstance(j cobalt.Job) string { return strconv.FormatInt(j.CreationTime.UnixNano(), 36) }

// jobTaskLease is the node's form of a preparation or release task.
func (s *Service) jobTaskLease(ctx context.Context, accountID string, j cobalt.Job, kind, id, cmd string, env []cobalt.NameValue,
	files []cobalt.ResourceFile, ui *cobalt.UserIdentity, cs *cobalt.ContainerSettings, wallClock *cobalt.Duration) (nodeproto.JobTask, error) {
	out := nodeproto.JobTask{Kind: kind, JobID: j.ID, Instance: jobInstance(j), TaskID: id, CommandLine: cmd,
		UserIdentity: leaseUser(ui), Container: leaseContainer(cs)}
	for _, e := range j.CommonEnvironmentSettings {
		out.Environment = append(out.Environment, nodeproto.EnvironmentSetting{Name: e.Name, Value: e.Value})
	}
	for _, e := range env {
		out.Environment = append(out.Environment, nodeproto.EnvironmentSetting{Name: e.Name, Value: e.Value})
	}
	for _, rf := range files {
		prf, err := s.resolveResourceFile(ctx, accountID, rf)
		if err != nil {
			return out, err
		}
		out.ResourceFiles = append(out.ResourceFiles, prf)
	}
	if !noLimit(wallClock) {
		d := time.Duration(*wallClock)
		out.MaxWallClockSeconds = int64((d + time.Second - 1) / time.Second)
	}
	return out, nil
}

// prepLease is the job's preparation task for a lease, nil without one.
func (s *Service) prepLease(ctx context.Context, accountID string, j cobalt.Job) (*nodeproto.JobTask, error) {
	p := j.JobPreparationTask
	if p == nil {
		return nil, nil
	}
	c := cobalt.TaskConstraints{}
	if p.Constraints != nil {
		c = *p.Constraints
	}
	out, err := s.jobTaskLease(ctx, accountID, j, nodeproto.JobTaskPreparation, p.ID, p.CommandLine, p.EnvironmentSettings, p.ResourceFiles,
		p.UserIdentity, p.ContainerSettings, c.MaxWallClockTime)
	if err != nil {
		return nil, err
	}
	if c.MaxTaskRetryCount != nil {
		out.MaxTaskRetryCount = *c.MaxTaskRetryCount
	}
	out.WaitForSuccess = p.WaitForSuccess == nil || *p.WaitForSuccess
	out.RerunOnNodeRebootAfterSuccess = p.RerunOnNodeRebootAfterSuccess == nil || *p.RerunOnNodeRebootAfterSuccess
	return &out, nil
}

// releaseLease is the job's release task as a node runs it, nil without one.
func (s *Service) releaseLease(ctx context.Context, accountID string, j cobalt.Job) (*nodeproto.JobTask, error) {
	r := j.JobReleaseTask
	if r == nil {
		return nil, nil
	}
	out, err := s.jobTaskLease(ctx, accountID, j, nodeproto.JobTaskRelease, r.ID, r.CommandLine, r.EnvironmentSettings, r.ResourceFiles,
		r.UserIdentity, r.ContainerSettings, r.MaxWallClockTime)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// leaseUser is the node's form of a user identity: the pool's non-admin
// auto user unless the task says otherwise.
func leaseUser(ui *cobalt.UserIdentity) nodeproto.UserIdentity {
	out := nodeproto.UserIdentity{AutoUserScope: "pool", AutoUserElevation: "nonadmin"}
	if ui == nil {
		return out
	}
	out.UserName = ui.UserName
	if ui.AutoUser != nil {
		if ui.AutoUser.Scope != "" {
			out.AutoUserScope = string(ui.AutoUser.Scope)
		}
		if ui.AutoUser.ElevationLevel != "" {
			out.AutoUserElevation = string(ui.AutoUser.ElevationLevel)
		}
	}
	return out
}
