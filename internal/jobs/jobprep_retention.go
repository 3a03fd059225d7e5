package jobs

import (
	"context"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// Retention of preparation and release task directories. A node's record
// of a job (store.JobPrepRecord) keeps when each of the two directories is
// due for deletion: the preparation task's constraints.retentionTime after
// it completed, the release task's retentionTime after it completed (both
// 7 days by default). The record's RetainUntil is the earlier of the two;
// SweepRetention removes the due directories through RemoveTaskFiles.

// prepRetention is the job preparation task's retentionTime, 0 for forever.
func prepRetention(j cobalt.Job) time.Duration {
	p := j.JobPreparationTask
	if p == nil || p.Constraints == nil || p.Constraints.RetentionTime == nil {
		return DefaultRetention
	}
	if noLimit(p.Constraints.RetentionTime) {
		return 0
	}
	return time.Duration(*p.Constraints.RetentionTime)
}

// retainAfter is end plus retention, nil for no end or a retention of 0
// (forever).
func retainAfter(end *time.Time, retention time.Duration) *time.Time {
	if end == nil || retention <= 0 {
		return nil
	}
	t := end.Add(retention)
	return &t
}

// nextRetention is when the next of the record's directories is due (zero:
// none is).
func (p prepInfo) nextRetention() time.Time {
	var next time.Time
	for _, t := range []*time.Time{p.PrepRetainUntil, p.ReleaseRetainUntil} {
		if t != nil && (next.IsZero() || t.Before(next)) {
			next = *t
		}
	}
	return next
}

// sweepJobPrepRetention removes the preparation and release task
// directories whose retention passed, on the nodes that ran them.
func (s *Service) sweepJobPrepRetention(ctx context.Context) error {
	now := s.now()
	recs, _, err := s.st.JobPrepList(ctx, store.JobPrepListParams{RetainedBefore: now, Page: store.Page{Limit: 1000}})
	if err != nil {
		return err
	}
	for _, r := range recs {
		p := decodePrepInfo(r.Info)
		due := func(t *time.Time) bool { return t != nil && !t.After(now) }
		removed := map[string]bool{}
		for kind, dir := range map[string]struct {
			at   *time.Time
			task string
		}{"prep": {p.PrepRetainUntil, p.PrepTaskID}, "release": {p.ReleaseRetainUntil, releaseTaskID(p)}} {
			if !due(dir.at) || p.JobID == "" || dir.task == "" {
				continue
			}
			if err := s.cfg.RemoveTaskFiles(ctx, r.AccountKey, r.NodeID, p.JobID, dir.task); err != nil {
				s.log.Warn("remove job task files", logkey.Node, r.NodeID, logkey.Job, p.JobID, logkey.Task, dir.task, logkey.Err, err)
				continue
			}
			removed[kind] = true
		}
		_, err := s.st.JobPrepUpdate(ctx, r.AccountKey, r.JobKey, r.NodeID, func(rec *store.JobPrepRecord) error {
			q := decodePrepInfo(rec.Info)
			if removed["prep"] && due(q.PrepRetainUntil) {
				q.PrepRetainUntil = nil
			}
			if removed["release"] && due(q.ReleaseRetainUntil) {
				q.ReleaseRetainUntil = nil
			}
			if !q.nextRetention().After(now) && !q.nextRetention().IsZero() {
				// Removal failed: try again at the next sweep, not at once.
				rec.RetainUntil = now.Add(time.Minute)
			} else {
				rec.RetainUntil = q.nextRetention()
			}
			rec.Info = q.encode()
			return nil
		})
		if err != nil && !cobalt.IsCode(err, cobalt.ENotFound) {
			return err
		}
	}
	return nil
}

// releaseTaskID is the release task's ID in a record, "" without one.
func releaseTaskID(p prepInfo) string {
	if p.ReleaseTask == nil {
		return ""
	}
	return p.ReleaseTask.TaskID
}

// removeJobPrepDirs removes a deleted job's preparation and release task
// directories from the nodes that ran them, as Batch keeps a task's
// directory no longer than its job.
func (s *Service) removeJobPrepDirs(ctx context.Context, accountID, jobID string) {
	if s.cfg.RemoveTaskFiles == nil {
		return
	}
	recs, _, err := s.st.JobPrepList(ctx, store.JobPrepListParams{AccountKey: accountID, JobKey: jobID, Page: store.Page{Limit: 1000}})
	if err != nil {
		s.log.Warn("list the deleted job's nodes", logkey.Job, jobID, logkey.Err, err)
		return
	}
	for _, r := range recs {
		p := decodePrepInfo(r.Info)
		for _, task := range []string{p.PrepTaskID, releaseTaskID(p)} {
			if p.JobID == "" || task == "" {
				continue
			}
			if err := s.cfg.RemoveTaskFiles(ctx, accountID, r.NodeID, p.JobID, task); err != nil {
				s.log.Warn("remove job task files", logkey.Node, r.NodeID, logkey.Job, p.JobID, logkey.Task, task, logkey.Err, err)
			}
		}
	}
}
