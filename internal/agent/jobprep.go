package agent

import (
	"context"

	"github.com/cobaltbatch/cobalt/internal/agent/taskrun"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// Jobs' preparation and release tasks on this node. A lease carries its
// job's preparation task: the first lease of a job instance runs it (with
// its retries) while the others of that instance wait for it. A release
// task comes with a heartbeat when the job has ended and runs once.

// reportReleased is the lease report of a task the node gives back.
const reportReleased = "released"

// prepRun is one job instance's preparation task on this node.
type prepRun struct {
	done  chan struct{}
	ok    bool
	rerun bool // rerunOnNodeRebootAfterSuccess
}

func prepKey(jobID, instance string) string { return jobID + "\x00" + instance }

// ensurePrep runs the job's preparation task if this node has not yet run
// it for the job instance, or waits for the run under way. It says whether
// the job's tasks may run here: the preparation task succeeded, or the job
// does not wait for its success.
func (a *Agent) ensurePrep(ctx context.Context, jt nodeproto.JobTask) bool {
	key := prepKey(jt.JobID, jt.Instance)
	a.prepMu.Lock()
	if a.preps == nil {
		a.preps = map[string]*prepRun{}
	}
	if p, ok := a.preps[key]; ok {
		a.prepMu.Unlock()
		select {
		case <-p.done:
			return p.ok || !jt.WaitForSuccess
		case <-ctx.Done():
			return false
		}
	}
	p := &prepRun{done: make(chan struct{}), rerun: jt.RerunOnNodeRebootAfterSuccess}
	a.preps[key] = p
	a.prepMu.Unlock()
	ok, finished := a.runPrep(ctx, jt)
	if !finished {
		// Stopped (the task ended, the node rebooted): the next lease of
		// the job runs it again.
		a.prepMu.Lock()
		if a.preps[key] == p {
			delete(a.preps, key)
		}
		a.prepMu.Unlock()
	}
	p.ok = ok
	close(p.done)
	return ok || !jt.WaitForSuccess
}

// runPrep runs the preparation task's attempts until one succeeds or its
// retries are spent. finished is false when ctx ended first.
func (a *Agent) runPrep(ctx context.Context, jt nodeproto.JobTask) (ok, finished bool) {
	for attempt := 0; ; attempt++ {
		rep, done := a.runJobTask(ctx, jt, attempt)
		if !done {
			return false, false
		}
		ok = rep.Failure == nil && rep.ExitCode != nil && *rep.ExitCode == 0
		retryable := rep.Failure == nil || rep.Failure.Code == taskrun.CodeFailureExitCode
		if ok || !retryable || (jt.MaxTaskRetryCount >= 0 && attempt >= jt.MaxTaskRetryCount) {
			a.logger.Info("job preparation task finished", logkey.Job, jt.JobID, logkey.Success, ok, logkey.Attempts, attempt+1)
			return ok, true
		}
	}
}

// runJobTask runs one attempt of a preparation or release task and
// reports it started and completed. done is false when ctx ended first
// (nothing more is reported then).
func (a *Agent) runJobTask(ctx context.Context, jt nodeproto.JobTask, attempt int) (rep nodeproto.ReportRequest, done bool) {
	base := nodeproto.ReportRequest{NodeID: a.cfg.NodeID, JobTask: jt.Kind, JobID: jt.JobID, Instance: jt.Instance, RetryCount: attempt}
	started := base
	started.Event, started.StartTime = reportStarted, a.cfg.Now().UTC()
	a.report(ctx, started)
	tcfg, forget := a.taskConfig(jt.JobID + "/" + jt.TaskID)
	rep = a.runner.RunTask(ctx, tcfg, a.dirs, nodeproto.TaskLease{JobID: jt.JobID, TaskID: jt.TaskID, Attempt: attempt + 1,
		CommandLine: jt.CommandLine, Environment: jt.Environment, ResourceFiles: jt.ResourceFiles, UserIdentity: jt.UserIdentity,
		RequiredSlots: 1, MaxWallClockSeconds: jt.MaxWallClockSeconds, Container: jt.Container})
	forget()
	if ctx.Err() != nil {
		return rep, false
	}
	out := base
	out.Event, out.StartTime, out.EndTime, out.ExitCode, out.Failure = reportCompleted, rep.StartTime, rep.EndTime, rep.ExitCode, rep.Failure
	a.report(ctx, out)
	return rep, true
}

// startReleases runs the release tasks the control plane sent, each once.
func (a *Agent) startReleases(ctx context.Context, rels []nodeproto.JobTask) {
	for _, jt := range rels {
		if jt.Kind != nodeproto.JobTaskRelease {
			continue
		}
		key := prepKey(jt.JobID, jt.Instance)
		a.prepMu.Lock()
		if a.released == nil {
			a.released = map[string]bool{}
		}
		seen := a.released[key]
		a.released[key] = true
		delete(a.preps, key)
		a.prepMu.Unlock()
		if seen {
			continue
		}
		a.tasksWG.Add(1)
		go func() {
			defer a.tasksWG.Done()
			a.runJobTask(ctx, jt, 0)
		}()
	}
}

// forgetPrepsOnReboot drops the preparation tasks that must run again
// after a reboot (rerunOnNodeRebootAfterSuccess, and every failed one).
func (a *Agent) forgetPrepsOnReboot() {
	a.prepMu.Lock()
	defer a.prepMu.Unlock()
	for k, p := range a.preps {
		select {
		case <-p.done:
			if p.rerun || !p.ok {
				delete(a.preps, k)
			}
		default:
		}
	}
}
