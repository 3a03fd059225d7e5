package jobs

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// Release states of a store.JobPrepRecord.
const (
	releasePending   = "pending"
	releaseRunning   = "running"
	releaseCompleted = "completed"
)

// prepInfo is a store.JobPrepRecord's Info: the job instance the record is
// about, what the node reported, and the release task to send it.
type prepInfo struct {
	Instance    string                       `json:"instance"`
	Prep        *cobalt.JobTaskExecutionInfo `json:"prep,omitempty"`
	Release     *cobalt.JobTaskExecutionInfo `json:"release,omitempty"`
	ReleaseTask *nodeproto.JobTask           `json:"releaseTask,omitempty"`
	// JobID and PrepTaskID name the preparation task's directory on the
	// node; PrepRetainUntil and ReleaseRetainUntil are when the preparation
	// and release task directories are due for deletion (nil: never, or
	// done), see jobprep_retention.go.
	JobID              string     `json:"jobId,omitempty"`
	PrepTaskID         string     `json:"prepTaskId,omitempty"`
	PrepRetainUntil    *time.Time `json:"prepRetainUntil,omitempty"`
	ReleaseRetainUntil *time.Time `json:"releaseRetainUntil,omitempty"`
	// ReleaseRetention is the release task's retentionTime (0: forever).
	ReleaseRetention time.Duration `json:"releaseRetention,omitempty"`
}

func decodePrepInfo(b []byte) prepInfo {
	var p prepInfo
	_ = json.Unmarshal(b, &p) // a record the store created empty decodes as zero
	return p
}

func (p prepInfo) encode() []byte {
	b, _ := json.Marshal(p)
	return b
}

// reportJobTask records a node's report of a job's preparation or release
// task. The node may report only on jobs of its own pool, and a release
// only where it ran the preparation task. A report about an earlier job of
// the same ID is ignored.
func (s *Service) reportJobTask(ctx context.Context, node cobalt.NodeRef, r nodeproto.ReportRequest) error {
	if r.Event != "started" && r.Event != "completed" {
		return cobalt.Errorf(cobalt.EInvalid, "unknown report event %q", r.Event)
	}
	switch r.JobTask {
	case nodeproto.JobTaskPreparation:
		return s.reportPrep(ctx, node, r)
	case nodeproto.JobTaskRelease:
		return s.reportRelease(ctx, node, r)
	}
	return cobalt.Errorf(cobalt.EInvalid, "unknown job task %q", r.JobTask)
}

// execFromReport is the execution information a report gives.
func execFromReport(prev *cobalt.JobTaskExecutionInfo, r nodeproto.ReportRequest, jobID, taskID string, now time.Time) *cobalt.JobTaskExecutionInfo {
	e := cobalt.JobTaskExecutionInfo{State: cobalt.JobTaskRunning, StartTime: r.StartTime.UTC(), TaskRootDirectory: TaskRootDirectory(jobID, taskID),
		RetryCount: max(r.RetryCount, 0)}
	if e.StartTime.IsZero() {
		e.StartTime = now
	}
	if prev != nil {
		e.LastRetryTime = prev.LastRetryTime
		if r.RetryCount > prev.RetryCount {
			e.LastRetryTime = &e.StartTime
		}
	}
	if r.Event == "completed" {
		end := now
		if r.EndTime != nil {
			end = r.EndTime.UTC()
		}
		e.State, e.EndTime, e.ExitCode, e.FailureInfo = cobalt.JobTaskCompleted, &end, r.ExitCode, failureFromProto(r.Failure)
		e.Result = cobalt.TaskSuccess
		if e.FailureInfo != nil || r.ExitCode == nil || *r.ExitCode != 0 {
			e.Result = cobalt.TaskFailure
			if e.FailureInfo == nil && r.ExitCode != nil {
				e.FailureInfo = exitFailure(*r.ExitCode)
			}
		}
	}
	return &e
}

func (s *Service) reportPrep(ctx context.Context, node cobalt.NodeRef, r nodeproto.ReportRequest) error {
	j, err := s.GetJob(ctx, node.AccountID, r.JobID)
	if cobalt.IsCode(err, cobalt.ENotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !strings.EqualFold(j.PoolInfo.PoolID, node.PoolID) || j.JobPreparationTask == nil {
		return cobalt.Errorf(cobalt.EForbidden, "the job does not run on the node's pool")
	}
	inst := jobInstance(j)
	if r.Instance != inst {
		return nil
	}
	rel, err := s.releaseLease(ctx, node.AccountID, j)
	if err != nil {
		s.log.Warn("resolve the job release task", logkey.Job, j.ID, logkey.Err, err)
	}
	now := s.now().UTC()
	_, err = s.st.JobPrepUpdate(ctx, node.AccountID, j.ID, node.NodeID, func(rec *store.JobPrepRecord) error {
		p := decodePrepInfo(rec.Info)
		if p.Instance != inst {
			p, rec.ReleaseState = prepInfo{Instance: inst}, ""
		}
		p.Prep = execFromReport(p.Prep, r, j.ID, j.JobPreparationTask.ID, now)
		p.ReleaseTask = rel
		p.JobID, p.PrepTaskID, p.PrepRetainUntil = j.ID, j.JobPreparationTask.ID, nil
		p.ReleaseRetention = 0
		if rt := j.JobReleaseTask; rt != nil && !noLimit(rt.RetentionTime) {
			p.ReleaseRetention = time.Duration(*rt.RetentionTime)
		}
		if p.Prep.State == cobalt.JobTaskCompleted {
			p.PrepRetainUntil = retainAfter(p.Prep.EndTime, prepRetention(j))
		}
		rec.RetainUntil = p.nextRetention()
		rec.PoolKey = strings.ToLower(node.PoolID)
		wait := j.JobPreparationTask.WaitForSuccess == nil || *j.JobPreparationTask.WaitForSuccess
		rec.Blocked = wait && p.Prep.State == cobalt.JobTaskCompleted && p.Prep.Result == cobalt.TaskFailure
		ended := j.State == cobalt.JobCompleted || j.State == cobalt.JobTerminating || j.State == cobalt.JobDeleting
		if ended && rec.ReleaseState == "" && rel != nil {
			rec.ReleaseState = releasePending
		}
		rec.Info = p.encode()
		return nil
	})
	return err
}

func (s *Service) reportRelease(ctx context.Context, node cobalt.NodeRef, r nodeproto.ReportRequest) error {
	recs, _, err := s.st.JobPrepList(ctx, store.JobPrepListParams{AccountKey: node.AccountID, JobKey: r.JobID, NodeID: node.NodeID, Page: store.Page{Limit: 1}})
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return cobalt.Errorf(cobalt.EForbidden, "the node did not run the job's preparation task")
	}
	now := s.now().UTC()
	done := false
	_, err = s.st.JobPrepUpdate(ctx, node.AccountID, r.JobID, node.NodeID, func(rec *store.JobPrepRecord) error {
		p := decodePrepInfo(rec.Info)
		if p.Instance != r.Instance || p.ReleaseTask == nil || rec.ReleaseState == "" {
			return nil
		}
		p.Release = execFromReport(p.Release, r, p.ReleaseTask.JobID, p.ReleaseTask.TaskID, now)
		rec.ReleaseState = releaseRunning
		if r.Event == "completed" {
			rec.ReleaseState, done = releaseCompleted, true
			p.ReleaseRetainUntil = retainAfter(p.Release.EndTime, p.ReleaseRetention)
			rec.RetainUntil = p.nextRetention()
		}
		rec.Info = p.encode()
		return nil
	})
	if err != nil || !done {
		return err
	}
	// A record whose job is gone goes once its release task has run.
	if _, err := s.st.JobGet(ctx, node.AccountID, r.JobID); cobalt.IsCode(err, cobalt.ENotFound) {
		return s.st.JobPrepDelete(ctx, node.AccountID, r.JobID, node.NodeID)
	}
	return s.finishEnding(ctx, node.AccountID, r.JobID)
}

// releaseGiveUp is how long a job that ends waits for a node's release task
// after it was due or last reported: longer than the task may run, so only
// a node that went away (deleted, or its agent lost) is given up on.
const releaseGiveUp = MaxJobReleaseWallClock + 5*time.Minute

// releasesOwed reports whether a node that ran the job's preparation task
// still owes the job its release task.
func (s *Service) releasesOwed(ctx context.Context, accountID, jobID string) (bool, error) {
	now := s.now()
	tok := ""
	for {
		recs, next, err := s.st.JobPrepList(ctx, store.JobPrepListParams{AccountKey: accountID, JobKey: jobID, Page: store.Page{Limit: 1000, Token: tok}})
		if err != nil {
			return false, err
		}
		for _, r := range recs {
			if (r.ReleaseState == releasePending || r.ReleaseState == releaseRunning) && now.Sub(r.UpdatedAt) < releaseGiveUp {
				return true, nil
			}
		}
		if next == "" {
			return false, nil
		}
		tok = next
	}
}

// finishEnding ends a deleting or terminating job once no node owes it its
// release task, as Batch keeps such a job in that state until they ran: a
// deleting job is removed with its tasks and records, a terminating one
// completes. Other jobs are left alone.
func (s *Service) finishEnding(ctx context.Context, accountID, jobID string) error {
	r, err := s.st.JobGet(ctx, accountID, jobID)
	if cobalt.IsCode(err, cobalt.ENotFound) {
		return nil
	}
	if err != nil || (r.State != jobDeleting && r.State != jobTerminating) {
		return err
	}
	if owed, err := s.releasesOwed(ctx, accountID, jobID); err != nil || owed {
		return err
	}
	defer s.wakeSchedule(ctx, accountID, jobID)
	if r.State == jobDeleting {
		if err := s.st.JobDelete(ctx, accountID, jobID); err != nil && !cobalt.IsCode(err, cobalt.ENotFound) {
			return err
		}
		s.removeJobPrepDirs(ctx, accountID, jobID)
		return s.st.JobPrepDelete(ctx, accountID, jobID, "")
	}
	now := s.now().UTC()
	_, err = s.updateJob(ctx, accountID, jobID, Conditions{}, func(r *store.JobRecord, j *cobalt.Job) error {
		if j.State != cobalt.JobTerminating {
			return nil
		}
		setJobState(j, cobalt.JobCompleted, now)
		j.ExecutionInfo.EndTime = &now
		r.State = jobCompleted
		return nil
	})
	if cobalt.IsCode(err, cobalt.ENotFound) {
		return nil
	}
	return err
}

// SweepEndingJobs ends the deleting and terminating jobs that no longer
// wait for a release task (finishEnding): those whose nodes went away
// without reporting it.
func (s *Service) SweepEndingJobs(ctx context.Context) error {
	tok := ""
	for {
		recs, next, err := s.st.JobList(ctx, store.JobListParams{States: []string{jobDeleting, jobTerminating}, Page: store.Page{Limit: 1000, Token: tok}})
		if err != nil {
			return err
		}
		for _, r := range recs {
			if err := s.finishEnding(ctx, r.AccountKey, r.ID); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		tok = next
	}
}

// JobReleases returns the release tasks the node must run: those of ended
// jobs whose preparation task ran there and whose release it has not
// reported started.
func (s *Service) JobReleases(ctx context.Context, node cobalt.NodeRef) ([]nodeproto.JobTask, error) {
	// One read serves the heartbeats of many nodes (nodebatch.go).
	recs, err := s.releasesOf.get(ctx, node.NodeID)
	if err != nil {
		return nil, err
	}
	recs = slices.Clone(recs) // shared with the other requests of the batch
	slices.SortFunc(recs, func(a, b store.JobPrepRecord) int { return strings.Compare(a.JobKey, b.JobKey) })
	var out []nodeproto.JobTask
	for _, r := range recs {
		if !strings.EqualFold(r.AccountKey, node.AccountID) {
			continue
		}
		if p := decodePrepInfo(r.Info); p.ReleaseTask != nil {
			out = append(out, *p.ReleaseTask)
		}
	}
	return out, nil
}

// blockedJobs are the job keys whose tasks must stay off the node.
func (s *Service) blockedJobs(ctx context.Context, node cobalt.NodeRef) (map[string]bool, error) {
	recs, _, err := s.st.JobPrepList(ctx, store.JobPrepListParams{AccountKey: node.AccountID, NodeID: node.NodeID, BlockedOnly: true,
		Page: store.Page{Limit: 1000}})
	if err != nil || len(recs) == 0 {
		return nil, err
	}
	out := make(map[string]bool, len(recs))
	for _, r := range recs {
		out[r.JobKey] = true
	}
	return out, nil
}

// markRelease has the nodes that ran the ended job's preparation task run
// its release task.
func (s *Service) markRelease(ctx context.Context, accountID string, j cobalt.Job) {
	if j.JobReleaseTask == nil {
		return
	}
	if _, err := s.st.JobPrepMarkRelease(ctx, accountID, j.ID); err != nil {
		s.log.Warn("mark the job release tasks due", logkey.Job, j.ID, logkey.Err, err)
	}
}

// releaseLeaseBack puts a task whose node gave its lease back (the job's
// preparation task failed there) back in the queue, without counting a
// retry or a requeue.
func (s *Service) releaseLeaseBack(ctx context.Context, node cobalt.NodeRef, r nodeproto.ReportRequest) error {
	now := s.now().UTC()
	_, err := s.st.TaskUpdateByLease(ctx, r.LeaseID, func(t *store.TaskRecord) error {
		if t.NodeID != node.NodeID {
			return cobalt.Errorf(cobalt.EForbidden, "the lease belongs to another node")
		}
		e := decodeExec(t.Exec)
		setTaskState(t, &e, taskActive, now)
		e.StartTime, e.NodeID = nil, ""
		t.LeaseID, t.NodeID, t.LeaseExpiry = "", "", time.Time{}
		t.Exec = e.encode()
		return nil
	})
	if cobalt.IsCode(err, cobalt.ENotFound) {
		return nil
	}
	if err == nil {
		s.notify(node.AccountID, node.PoolID)
	}
	return err
}

// PrepReleaseStatus lists, node by node, the job's preparation and release
// tasks' execution ("list preparation and release task status"). Errors:
// ErrJobNotFound; EConflict ReasonNoJobPrepOrRelease for a job without them.
func (s *Service) PrepReleaseStatus(ctx context.Context, accountID, jobID string, opt ListOptions) ([]cobalt.JobPrepReleaseStatus, string, error) {
	j, err := s.GetJob(ctx, accountID, jobID)
	if err != nil {
		return nil, "", err
	}
	if j.JobPreparationTask == nil && j.JobReleaseTask == nil {
		return nil, "", cobalt.Errorf(cobalt.EConflict, "The job has no job preparation or release task.").WithReason(ReasonNoJobPrepOrRelease)
	}
	inst := jobInstance(j)
	recs, next, err := s.st.JobPrepList(ctx, store.JobPrepListParams{AccountKey: accountID, JobKey: jobID,
		Page: store.Page{Limit: maxResults(opt.MaxResults), Token: opt.PageToken}})
	if err != nil {
		return nil, "", err
	}
	out := make([]cobalt.JobPrepReleaseStatus, 0, len(recs))
	for _, r := range recs {
		p := decodePrepInfo(r.Info)
		if p.Instance != inst || p.Prep == nil {
			continue
		}
		out = append(out, cobalt.JobPrepReleaseStatus{PoolID: j.PoolInfo.PoolID, NodeID: r.NodeID, Preparation: p.Prep, Release: p.Release})
	}
	return out, next, nil
}
