package jobs

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// maxClaimCandidates bounds the queue head read by one claim.
const maxClaimCandidates = 1000

// waiter is a Lease call waiting for work in this replica.
type waiter struct {
	node  cobalt.NodeRef
	free  int
	total int
	wake  chan struct{}
	// pending are subtask leases another node's claim gave this node (a
	// multi-instance task's gang); Lease returns them.
	pending []nodeproto.TaskLease
	// before are the updates the waiter's next claim that reaches the store
	// applies first (ReportAndLease).
	before []*store.LeaseUpdate
}

func poolKey(accountID, poolID string) string {
	return strings.ToLower(accountID) + "\x00" + strings.ToLower(poolID)
}

// notify wakes the Lease calls waiting on the pool in this replica.
func (s *Service) notify(accountID, poolID string) {
	key := poolKey(accountID, poolID)
	s.probes.invalidate(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	for w := range s.waiters[key] {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// Lease returns tasks for the node's free slots, waiting up to wait for
// work: it wakes when a task is added through this replica, and re-reads the
// queue every PollInterval for tasks added through others. The claim is
// atomic in the store. It returns no leases (and no error) when the wait ends
// empty-handed.
func (s *Service) Lease(ctx context.Context, node cobalt.NodeRef, freeSlots int, wait time.Duration) (leases []nodeproto.TaskLease, err error) {
	return s.lease(ctx, node, freeSlots, wait, nil)
}

// lease is Lease whose first claim that reaches the store applies before
// in its transaction (store.ClaimParams.Before); the caller applies those
// left undone.
func (s *Service) lease(ctx context.Context, node cobalt.NodeRef, freeSlots int, wait time.Duration, before []*store.LeaseUpdate) (leases []nodeproto.TaskLease, err error) {
	deadline := time.NewTimer(max(wait, 0))
	defer deadline.Stop()
	if freeSlots <= 0 {
		select {
		case <-ctx.Done():
		case <-deadline.C:
		}
		return nil, nil
	}
	w := &waiter{node: node, free: freeSlots, total: freeSlots, wake: make(chan struct{}, 1), before: before}
	key := poolKey(node.AccountID, node.PoolID)
	s.mu.Lock()
	if s.waiters[key] == nil {
		s.waiters[key] = map[*waiter]struct{}{}
	}
	s.waiters[key][w] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.waiters[key], w)
		if len(s.waiters[key]) == 0 {
			delete(s.waiters, key)
		}
		// Subtasks given to this node while it waited leave with it, even
		// when the wait ended (a claim delivers only to registered waiters).
		leases = append(leases, w.pending...)
		w.pending = nil
		s.mu.Unlock()
	}()
	poll := time.NewTicker(s.cfg.PollInterval)
	defer poll.Stop()
	for {
		s.mu.Lock()
		got := len(w.pending) > 0
		s.mu.Unlock()
		if got {
			return nil, nil // the deferred removal hands them over
		}
		leases, err := s.claim(ctx, w)
		if err != nil || len(leases) > 0 {
			return leases, err
		}
		select {
		case <-ctx.Done():
			return nil, nil
		case <-deadline.C:
			return nil, nil
		case <-w.wake:
		case <-poll.C:
		}
	}
}

// Queued reports whether the node's pool holds a task a claim could take,
// from a store read that started after the call (shared by the leases of
// the pool that arrive meanwhile). A "yes" may come from a read that found
// work within busyFor before the call, an empty answer from one within the
// poll interval (queueProbes): the claim that follows finds out whether any
// task is left.
func (s *Service) Queued(ctx context.Context, node cobalt.NodeRef) (bool, error) {
	return s.probes.queued(ctx, poolKey(node.AccountID, node.PoolID), func(ctx context.Context) (bool, error) {
		return s.st.TaskQueued(ctx, node.AccountID, node.PoolID)
	})
}

// claim takes the node's share of the queue head, placed by Place over the
// nodes waiting in this replica.
func (s *Service) claim(ctx context.Context, w *waiter) ([]nodeproto.TaskLease, error) {
	node := w.node
	// Most leases of a large fleet find no work: one shared read that locks
	// nothing says so, before the pool is read or a transaction begins.
	if ok, err := s.Queued(ctx, node); err != nil || !ok {
		return nil, err
	}
	// The pool's claims in this replica take turns: a multi-instance
	// task's gang binds other waiting nodes, whose free slots no other
	// claim may count meanwhile.
	unlock := s.lockPoolClaims(node.AccountID, node.PoolID)
	defer unlock()
	ps := PoolScheduling{TaskSlotsPerNode: w.free, NodeFillType: FillPack}
	multi := false
	if s.cfg.Pools != nil {
		p, err := s.cfg.Pools.Pool(ctx, node.AccountID, node.PoolID)
		if cobalt.IsCode(err, cobalt.ENotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		ps = PoolScheduling{TaskSlotsPerNode: p.TaskSlotsPerNode, NodeFillType: p.TaskSchedulingPolicy.NodeFillType}
		multi = multiInstancePool(p)
	}
	snap := Snapshot{FillType: ps.NodeFillType, MultiInstance: multi}
	if snap.FillType != FillPack {
		snap.FillType = FillSpread
	}
	var others []*waiter
	s.mu.Lock()
	w.total = max(ps.TaskSlotsPerNode, w.free)
	snap.Nodes = append(snap.Nodes, SlotNode{ID: node.NodeID, Free: w.free, Total: w.total})
	limit := w.free
	seen := map[string]bool{node.NodeID: true}
	for o := range s.waiters[poolKey(node.AccountID, node.PoolID)] {
		if seen[o.node.NodeID] || len(o.pending) > 0 {
			continue
		}
		seen[o.node.NodeID] = true
		others = append(others, o)
		snap.Nodes = append(snap.Nodes, SlotNode{ID: o.node.NodeID, Free: o.free, Total: o.total})
		limit += o.free
	}
	s.mu.Unlock()
	limit = min(limit, maxClaimCandidates)
	wakeOthers := false
	var blockErr error
	var gangs map[int64][]string        // claimed task's Seq -> its subtasks' nodes
	unplaced := 0                       // gangs in the offered head that Place could not place
	var jobsRead map[string]*cobalt.Job // the candidates' jobs, read by the last pick
	pick := func(c []store.TaskCandidate) []int {
		jobsRead = map[string]*cobalt.Job{}
		allowed := s.withinParallelLimits(ctx, node.AccountID, c, jobsRead)
		var blocked map[string]bool
		if waitsForPrep(jobsRead) {
			blocked, blockErr = s.blockedJobs(ctx, node)
			if blockErr != nil {
				return nil
			}
		}
		if len(blocked) > 0 {
			// The job's preparation task failed on this node: Batch runs
			// none of the job's tasks there.
			allowed = slices.DeleteFunc(allowed, func(i int) bool { return blocked[strings.ToLower(c[i].JobKey)] })
		}
		snap.Tasks = snap.Tasks[:0]
		// The store never offers a task that waits on dependencies, so
		// none of these is Blocked.
		for _, i := range allowed {
			snap.Tasks = append(snap.Tasks, SlotTask{RequiredSlots: c[i].RequiredSlots, Instances: c[i].Instances})
		}
		var mine []int
		gangs = nil
		as := Place(snap)
		for _, a := range as {
			if a.Node == node.NodeID {
				mine = append(mine, allowed[a.Task])
				if len(a.Subtasks) > 0 {
					gangs = setGang(gangs, c[allowed[a.Task]].Seq, a.Subtasks)
				}
			} else if i := slices.Index(a.Subtasks, node.NodeID); i >= 0 {
				// This node is in the gang: it claims the task as its primary.
				mine = append(mine, allowed[a.Task])
				subs := slices.Clone(a.Subtasks)
				subs[i] = a.Node
				gangs = setGang(gangs, c[allowed[a.Task]].Seq, subs)
			} else {
				wakeOthers = true
			}
		}
		placed := map[int]bool{}
		for _, a := range as {
			placed[a.Task] = true
		}
		unplaced = 0
		for k, i := range allowed {
			if c[i].Instances > 1 && !placed[k] {
				unplaced++
			}
		}
		return mine
	}
	var (
		recs []store.TaskRecord
		err  error
	)
	for {
		recs, err = s.st.TaskClaim(ctx, store.ClaimParams{AccountKey: node.AccountID, PoolKey: node.PoolID, NodeID: node.NodeID,
			Limit: limit, State: taskRunning, NewLeaseID: newLeaseID, Before: w.before}, pick)
		if err == nil {
			w.before = nil // applied
		}
		if err != nil || blockErr != nil || len(recs) > 0 || unplaced == 0 || limit >= maxClaimCandidates {
			break
		}
		// Gangs that cannot be placed now stay queued without holding
		// anything: look past them for work this node can take.
		limit = min(limit+unplaced, maxClaimCandidates)
	}
	if err == nil {
		err = blockErr
	}
	if err != nil {
		return nil, err
	}
	if wakeOthers {
		for _, o := range others {
			select {
			case o.wake <- struct{}{}:
			default:
			}
		}
	}
	if len(recs) == 0 {
		return nil, nil
	}
	return s.deliverGangs(ctx, node, recs, gangs, jobsRead), nil
}

// waitsForPrep reports whether one of the jobs has a preparation task
// whose failure keeps the job's tasks off a node.
func waitsForPrep(jobs map[string]*cobalt.Job) bool {
	for _, j := range jobs {
		if j != nil && j.JobPreparationTask != nil && (j.JobPreparationTask.WaitForSuccess == nil || *j.JobPreparationTask.WaitForSuccess) {
			return true
		}
	}
	return false
}

// withinParallelLimits returns the indexes of the candidates whose jobs'
// maxParallelTasks still allows another running task, in order. It records
// the candidates' jobs it read in seen (nil for one it could not read).
func (s *Service) withinParallelLimits(ctx context.Context, accountID string, c []store.TaskCandidate, seen map[string]*cobalt.Job) []int {
	type budget struct{ left int }
	jobs := map[string]*budget{} // nil: unlimited
	out := make([]int, 0, len(c))
	for i, t := range c {
		b, ok := jobs[t.JobKey]
		if !ok {
			j, err := s.sharedJob(ctx, accountID, t.JobKey)
			if err == nil {
				seen[t.JobKey] = j
			} else {
				seen[t.JobKey] = nil
			}
			if err == nil && j.MaxParallelTasks != nil && *j.MaxParallelTasks > 0 {
				running := 0
				counts, err := s.st.TaskCounts(ctx, accountID, t.JobKey)
				if err == nil {
					for _, n := range counts {
						if n.State == taskRunning || n.State == taskPreparing {
							running += n.Count
						}
					}
				}
				b = &budget{left: *j.MaxParallelTasks - running}
			}
			jobs[t.JobKey] = b
		}
		if b != nil {
			if b.left <= 0 {
				continue
			}
			b.left--
		}
		out = append(out, i)
	}
	return out
}

// leases turns claimed tasks into leases. A task whose resource files cannot
// be resolved is completed with a failure instead. known are jobs the claim
// read (by job key; nil for one it could not read), which leases does not
// read again.
func (s *Service) leases(ctx context.Context, node cobalt.NodeRef, recs []store.TaskRecord, known map[string]*cobalt.Job) []nodeproto.TaskLease {
	jobs := make(map[string]*cobalt.Job, len(known))
	for k, j := range known {
		if j != nil {
			jobs[k] = j
		}
	}
	type prep struct {
		task *nodeproto.JobTask
		err  error
	}
	preps := map[string]prep{}
	out := make([]nodeproto.TaskLease, 0, len(recs))
	for _, r := range recs {
		j, ok := jobs[r.JobKey]
		if !ok {
			if got, err := s.sharedJob(ctx, node.AccountID, r.JobKey); err == nil {
				j = got
			}
			jobs[r.JobKey] = j
		}
		spec, err := decodeTaskSpec(r.Spec)
		if err != nil || j == nil {
			s.failLease(ctx, node, r, &cobalt.TaskFailureInfo{Category: "servererror", Code: "TaskSchedulingError", Message: "The task could not be read."})
			continue
		}
		l := nodeproto.TaskLease{LeaseID: r.LeaseID, JobID: j.ID, TaskID: r.ID, Attempt: r.RetryCount + r.RequeueCount + 1,
			CommandLine: spec.CommandLine, RequiredSlots: r.RequiredSlots,
			UserIdentity: nodeproto.UserIdentity{AutoUserScope: "pool", AutoUserElevation: "nonadmin"}, Container: leaseContainer(spec.ContainerSettings)}
		for _, e := range j.CommonEnvironmentSettings {
			l.Environment = append(l.Environment, nodeproto.EnvironmentSetting{Name: e.Name, Value: e.Value})
		}
		for _, e := range spec.EnvironmentSettings {
			l.Environment = append(l.Environment, nodeproto.EnvironmentSetting{Name: e.Name, Value: e.Value})
		}
		if ui := spec.UserIdentity; ui != nil {
			l.UserIdentity.UserName = ui.UserName
			if ui.AutoUser != nil {
				if ui.AutoUser.Scope != "" {
					l.UserIdentity.AutoUserScope = string(ui.AutoUser.Scope)
				}
				if ui.AutoUser.ElevationLevel != "" {
					l.UserIdentity.AutoUserElevation = string(ui.AutoUser.ElevationLevel)
				}
			}
		}
		var fail *cobalt.TaskFailureInfo
		pr, ok := preps[r.JobKey]
		if !ok {
			pr.task, pr.err = s.prepLease(ctx, node.AccountID, *j)
			preps[r.JobKey] = pr
		}
		if pr.err != nil {
			fail = &cobalt.TaskFailureInfo{Category: "usererror", Code: "BlobDownloadMiscError",
				Message: "A resource file of the job preparation task could not be resolved: " + cobalt.ErrorMessage(pr.err)}
		}
		l.JobPreparation = pr.task
		for _, rf := range spec.ResourceFiles {
			if fail != nil {
				break
			}
			prf, err := s.resolveResourceFile(ctx, node.AccountID, rf)
			if err != nil {
				fail = &cobalt.TaskFailureInfo{Category: "usererror", Code: "BlobDownloadMiscError",
					Message: "The auto-storage container " + rf.AutoStorageContainerName + " could not be resolved: " + cobalt.ErrorMessage(err)}
				break
			}
			l.ResourceFiles = append(l.ResourceFiles, prf)
		}
		if fail != nil {
			s.failLease(ctx, node, r, fail)
			continue
		}
		if m := spec.MultiInstanceSettings; m != nil {
			mi, fi := s.multiInstanceLease(ctx, node, m)
			if fi != nil {
				s.failLease(ctx, node, r, fi)
				continue
			}
			l.MultiInstance = mi
		}
		l.OutputFiles = outputFiles(spec.OutputFiles)
		if c := spec.Constraints; c != nil && !noLimit(c.MaxWallClockTime) {
			d := time.Duration(*c.MaxWallClockTime)
			l.MaxWallClockSeconds = int64((d + time.Second - 1) / time.Second)
			// The task's clock starts after the job's preparation task: the
			// server's backstop allows for that one's attempts, and sets
			// none when they have no bound.
			if jp := l.JobPreparation; jp != nil {
				if jp.MaxWallClockSeconds == 0 || jp.MaxTaskRetryCount < 0 {
					out = append(out, l)
					continue
				}
				d += time.Duration(jp.MaxWallClockSeconds) * time.Second * time.Duration(jp.MaxTaskRetryCount+1)
			}
			expiry := s.now().Add(d + s.cfg.LeaseGrace)
			if _, err := s.st.TaskUpdateByLease(ctx, r.LeaseID, func(t *store.TaskRecord) error {
				t.LeaseExpiry = expiry
				return nil
			}); err != nil {
				s.log.Warn("set lease expiry", logkey.Task, r.ID, logkey.Err, err)
			}
		}
		out = append(out, l)
	}
	return out
}

// resolveResourceFile turns a Batch resource file into the agent's form.
func (s *Service) resolveResourceFile(ctx context.Context, accountID string, rf cobalt.ResourceFile) (nodeproto.ResourceFile, error) {
	out := nodeproto.ResourceFile{StorageContainerURL: rf.StorageContainerURL, HTTPURL: rf.HTTPURL, BlobPrefix: rf.BlobPrefix,
		FilePath: rf.FilePath, FileMode: rf.FileMode}
	if rf.IdentityReference != nil {
		out.IdentityResourceID = rf.IdentityReference.ResourceID
	}
	if rf.AutoStorageContainerName != "" {
		if s.cfg.AutoStorage == nil {
			return out, cobalt.Errorf(cobalt.ENotFound, "the account has no auto-storage account")
		}
		u, err := s.cfg.AutoStorage.AutoStorageContainerURL(ctx, accountID, rf.AutoStorageContainerName)
		if err != nil {
			return out, err
		}
		out.StorageContainerURL = u
	}
	return out, nil
}

// failLease completes a just-claimed task with a failure.
func (s *Service) failLease(ctx context.Context, node cobalt.NodeRef, r store.TaskRecord, fi *cobalt.TaskFailureInfo) {
	if _, err := s.st.TaskUpdateByLease(ctx, r.LeaseID, func(t *store.TaskRecord) error {
		return s.completeRecord(t, nil, fi, nil)
	}); err != nil {
		s.log.Warn("fail task", logkey.Task, r.ID, logkey.Err, err)
		return
	}
	if err := s.afterTaskCompleted(ctx, node.AccountID, r.JobKey, true, r.ID); err != nil {
		s.log.Warn("after task completed", logkey.Task, r.ID, logkey.Err, err)
	}
}

func failureFromProto(f *nodeproto.FailureInfo) *cobalt.TaskFailureInfo {
	if f == nil {
		return nil
	}
	out := &cobalt.TaskFailureInfo{Category: f.Category, Code: f.Code, Message: f.Message}
	for _, d := range f.Details {
		out.Details = append(out.Details, cobalt.NameValue{Name: d.Name, Value: d.Value})
	}
	return out
}

// Report records that a leased task started or completed. A completed task
// that exited non-zero is retried while its maxTaskRetryCount allows
// (-1: always); other failures (resource files, wall clock) are final. A
// report for a lease that is no longer current (requeued, terminated,
// deleted) is ignored. Errors: EForbidden when the lease belongs to another
// node, EInvalid for an unknown event.
func (s *Service) Report(ctx context.Context, node cobalt.NodeRef, r nodeproto.ReportRequest) error {
	if r.JobTask != "" {
		return s.reportJobTask(ctx, node, r)
	}
	if r.Event == "released" {
		return s.releaseLeaseBack(ctx, node, r)
	}
	if r.Event == nodeproto.EventCoordinated || isSubtaskLease(r.LeaseID) {
		_, err := s.ReportInstance(ctx, node, r)
		return err
	}
	fn, out, err := s.reportUpdate(node, r)
	if err != nil {
		return err
	}
	_, err = s.st.TaskUpdateByLease(ctx, r.LeaseID, fn)
	return s.afterReport(ctx, node, r.LeaseID, out, err)
}

// taskReport is a plain task's "started" or "completed" report, which the
// store applies by lease (reportUpdate); the other reports (job
// preparation and release tasks, multi-instance subtasks, leases given
// back) take paths of their own.
func taskReport(r nodeproto.ReportRequest) bool {
	return r.JobTask == "" && r.Event != "released" && r.Event != nodeproto.EventCoordinated && !isSubtaskLease(r.LeaseID)
}

// reportOutcome is what a report's update did, for its after-effects.
type reportOutcome struct {
	completed, failed, retried bool
	jobKey, taskID             string
}

// reportUpdate returns the update by lease of a task report (taskReport)
// and the outcome it fills in when the store applies it (the store may
// apply it more than once: each run starts afresh).
func (s *Service) reportUpdate(node cobalt.NodeRef, r nodeproto.ReportRequest) (func(*store.TaskRecord) error, *reportOutcome, error) {
	now := s.now().UTC()
	out := &reportOutcome{}
	switch r.Event {
	case "started":
		return func(t *store.TaskRecord) error {
			if t.NodeID != node.NodeID {
				return cobalt.Errorf(cobalt.EForbidden, "the lease belongs to another node")
			}
			e := decodeExec(t.Exec)
			st := r.StartTime.UTC()
			if st.IsZero() {
				st = now
			}
			e.StartTime, e.NodeID = &st, t.NodeID
			t.Exec = e.encode()
			return nil
		}, out, nil
	case "completed":
		return func(t *store.TaskRecord) error {
			*out = reportOutcome{}
			if t.NodeID != node.NodeID {
				return cobalt.Errorf(cobalt.EForbidden, "the lease belongs to another node")
			}
			out.jobKey, out.taskID = t.JobKey, t.ID
			c, err := decodeTaskConstraints(t.Spec)
			if err != nil {
				return err
			}
			spec := cobalt.TaskSpec{Constraints: c} // all finishAttempt reads
			e := decodeExec(t.Exec)
			if e.StartTime == nil && !r.StartTime.IsZero() {
				e.StartTime = ptr(r.StartTime.UTC())
			}
			end := now
			if r.EndTime != nil {
				end = r.EndTime.UTC()
			}
			out.completed, out.failed, out.retried = s.finishAttempt(t, &e, &spec, r.ExitCode, failureFromProto(r.Failure), end)
			t.Exec = e.encode()
			return nil
		}, out, nil
	}
	return nil, nil, cobalt.Errorf(cobalt.EInvalid, "unknown report event %q", r.Event)
}

// afterReport finishes a task report whose update the store ruled on
// (err): a stale lease is ignored, a retried task wakes the pool's leases,
// a completed one has its job's after-effects.
func (s *Service) afterReport(ctx context.Context, node cobalt.NodeRef, leaseID string, out *reportOutcome, err error) error {
	if cobalt.IsCode(err, cobalt.ENotFound) {
		s.log.Debug("report for a stale lease", logkey.Node, node.NodeID, logkey.Lease, leaseID)
		return nil
	}
	if err != nil {
		return err
	}
	if out.retried {
		s.notify(node.AccountID, node.PoolID)
	}
	if out.completed {
		return s.afterTaskCompleted(ctx, node.AccountID, out.jobKey, out.failed, out.taskID)
	}
	return nil
}

// ReportAndLease applies a node's reports, in order, and claims tasks for
// its free slots (0: none). The task reports (taskReport) go into the
// claim's own transaction: a busy node's round trip, its finished tasks
// and its next ones, costs the store one transaction, not one per report
// and one for the claim. When the claim stops short of the store (the
// pool has no work) or fails, they are applied on their own. It returns
// each report's error (nil when applied, or about a lease no longer
// current) and the leases; the error is the claim's, the reports being
// applied all the same.
func (s *Service) ReportAndLease(ctx context.Context, node cobalt.NodeRef, rs []nodeproto.ReportRequest, freeSlots int) ([]error, []nodeproto.TaskLease, error) {
	errs := make([]error, len(rs))
	type pending struct {
		i   int
		u   *store.LeaseUpdate
		out *reportOutcome
	}
	var (
		ps     []pending
		before []*store.LeaseUpdate // ps' updates, for the claim
	)
	for i, r := range rs {
		if !taskReport(r) {
			errs[i] = s.Report(ctx, node, r)
			continue
		}
		fn, out, err := s.reportUpdate(node, r)
		if err != nil {
			errs[i] = err
			continue
		}
		u := &store.LeaseUpdate{LeaseID: r.LeaseID, Fn: fn}
		ps = append(ps, pending{i: i, u: u, out: out})
		before = append(before, u)
	}
	var (
		leases   []nodeproto.TaskLease
		leaseErr error
	)
	if freeSlots > 0 {
		leases, leaseErr = s.lease(ctx, node, freeSlots, 0, before)
	}
	for _, p := range ps {
		if !p.u.Done {
			_, p.u.Err = s.st.TaskUpdateByLease(ctx, p.u.LeaseID, p.u.Fn)
		}
		errs[p.i] = s.afterReport(ctx, node, p.u.LeaseID, p.out, p.u.Err)
	}
	return errs, leases, leaseErr
}

// finishAttempt ends the current attempt of a task with its outcome: a
// failure with exit code retries while maxTaskRetryCount allows (the task
// goes back to the queue), anything else completes the task. The instances
// of a multi-instance task end with it.
func (s *Service) finishAttempt(t *store.TaskRecord, e *taskExec, spec *cobalt.TaskSpec, exitCode *int, fi *cobalt.TaskFailureInfo, end time.Time) (completed, failed, retried bool) {
	now := s.now().UTC()
	isFail := fi != nil || exitCode != nil && *exitCode != 0
	retryable := fi == nil || fi.Code == "FailureExitCode"
	maxRetry := 0
	if spec.Constraints != nil && spec.Constraints.MaxTaskRetryCount != nil {
		maxRetry = *spec.Constraints.MaxTaskRetryCount
	}
	endInstances(e, now)
	if isFail && retryable && (maxRetry < 0 || t.RetryCount < maxRetry) {
		setTaskState(t, e, taskActive, now)
		t.RetryCount++
		e.LastRetryTime = &now
		t.LeaseID, t.NodeID, t.LeaseExpiry = "", "", time.Time{}
		return false, false, true
	}
	s.complete(t, e, spec, exitCode, fi, &end)
	return true, t.Result == resultFailure, false
}

// jobActionFor returns the job action ("none", "disable", "terminate") of a failed task.
func jobActionFor(t cobalt.Task) string {
	var ec cobalt.ExitConditions
	if t.ExitConditions != nil {
		ec = *t.ExitConditions
	}
	pick := func(o *cobalt.ExitOptions) string {
		if o == nil || o.JobAction == "" {
			return "terminate"
		}
		return o.JobAction
	}
	// Batch's order: a listed exit code or range wins, then a file
	// upload error's or a pre-processing error's options, then default.
	fi := t.ExecutionInfo.FailureInfo
	if code := t.ExecutionInfo.ExitCode; code != nil {
		for _, c := range ec.ExitCodes {
			if c.Code == *code {
				return pick(&c.ExitOptions)
			}
		}
		for _, c := range ec.ExitCodeRanges {
			if *code >= c.Start && *code <= c.End {
				return pick(&c.ExitOptions)
			}
		}
		if fi != nil && strings.Contains(fi.Code, "Upload") && ec.FileUploadError != nil {
			return pick(ec.FileUploadError)
		}
	} else if ec.PreProcessingError != nil {
		return pick(ec.PreProcessingError)
	}
	return pick(ec.Default)
}

// afterTaskCompleted applies the job's onTaskFailure and onAllTasksComplete.
func (s *Service) afterTaskCompleted(ctx context.Context, accountID, jobID string, failed bool, taskID string) error {
	jp, err := s.sharedJob(ctx, accountID, jobID)
	if cobalt.IsCode(err, cobalt.ENotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	j := *jp // a shallow copy: what it points to is shared and only read here
	if j.UsesTaskDependencies != nil && *j.UsesTaskDependencies {
		if err := s.releaseDependents(ctx, accountID, j, taskID); err != nil {
			return err
		}
	}
	if err := s.afterJobManager(ctx, accountID, j, taskID); err != nil {
		return err
	}
	if failed && j.OnTaskFailure == cobalt.OnTaskFailurePerformExitOptionsJobAction && j.State == cobalt.JobActive {
		if t, err := s.GetTask(ctx, accountID, jobID, taskID); err == nil {
			var aerr error
			switch jobActionFor(t) {
			case "terminate":
				aerr = s.terminateJob(ctx, accountID, jobID, "TaskFailed", Conditions{})
			case "disable":
				// Batch: as "disable job" with disableTasks requeue.
				aerr = s.DisableJob(ctx, accountID, jobID, DisableRequeue, Conditions{})
			}
			if aerr != nil && !cobalt.IsCode(aerr, cobalt.EConflict) {
				return aerr
			}
		}
	}
	if j.OnAllTasksComplete == cobalt.OnAllTasksCompleteTerminateJob && j.State != cobalt.JobCompleted {
		return s.maybeCompleteJob(ctx, accountID, jobID)
	}
	return nil
}

// NodeLost requeues every task the node holds: they become active again with
// requeueCount incremented; retryCount is not touched (as on Batch).
func (s *Service) NodeLost(ctx context.Context, node cobalt.NodeRef) error {
	recs, err := s.st.TaskRequeueNode(ctx, node.NodeID)
	if err != nil {
		return err
	}
	// A multi-instance task with a subtask there is requeued too: its
	// instances run together or not at all.
	subs, err := s.requeueSubtasksOf(ctx, node)
	if err != nil {
		return err
	}
	recs = append(recs, subs...)
	if len(recs) > 0 {
		s.log.Info("requeued the tasks of a lost node", logkey.Node, node.NodeID, logkey.Count, len(recs))
		s.notify(node.AccountID, node.PoolID)
	}
	return nil
}

// Reconcile compares the leases a node says it runs (from its heartbeat)
// with the store. It returns the leases the node must stop (their tasks were
// terminated, deleted or requeued), and requeues tasks claimed by the node
// that it has not been running for LostLeaseAge (a lease response that never
// arrived).
func (s *Service) Reconcile(ctx context.Context, node cobalt.NodeRef, running []string) ([]string, error) {
	valid := map[string]store.TaskRecord{}
	// One read serves the heartbeats of many nodes (nodebatch.go).
	recs, err := s.leasedOf.get(ctx, node.NodeID)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		if strings.EqualFold(r.AccountKey, node.AccountID) {
			valid[r.LeaseID] = r
		}
	}
	var stop []string
	have := map[string]bool{}
	for _, l := range running {
		have[l] = true
		if isSubtaskLease(l) {
			ok, err := s.subtaskValid(ctx, node, l)
			if err != nil {
				return stop, err
			}
			if !ok {
				stop = append(stop, l)
			}
			continue
		}
		if _, ok := valid[l]; !ok {
			stop = append(stop, l)
		}
	}
	now := s.now()
	requeued := false
	for lease, r := range valid {
		// A multi-instance task whose subtask never reached its node (that
		// node's wait ended with the lease in flight) goes back too.
		lost := !have[lease] && now.Sub(r.StateAt) >= s.cfg.LostLeaseAge
		if !lost && !unstartedSubtask(r, now.Add(-s.cfg.LostLeaseAge)) {
			continue
		}
		_, err := s.st.TaskUpdateByLease(ctx, lease, func(t *store.TaskRecord) error {
			e := decodeExec(t.Exec)
			setTaskState(t, &e, taskActive, now.UTC())
			t.LeaseID, t.NodeID, t.LeaseExpiry = "", "", time.Time{}
			t.RequeueCount++
			t.LastRequeueAt = now.UTC()
			t.Exec = e.encode()
			return nil
		})
		if err != nil && !cobalt.IsCode(err, cobalt.ENotFound) {
			return stop, err
		}
		requeued = true
	}
	if requeued {
		s.notify(node.AccountID, node.PoolID)
	}
	return stop, nil
}

// SweepExpiredLeases ends tasks whose lease outlived maxWallClockTime plus
// LeaseGrace: the agent did not enforce the limit or report, so the server
// completes the task with failure TaskEnded.
func (s *Service) SweepExpiredLeases(ctx context.Context) error {
	recs, _, err := s.st.TaskList(ctx, store.TaskListParams{LeaseExpiredBefore: s.now(), Page: store.Page{Limit: 1000}})
	if err != nil {
		return err
	}
	for _, r := range recs {
		_, err := s.st.TaskUpdateByLease(ctx, r.LeaseID, func(t *store.TaskRecord) error {
			return s.completeRecord(t, nil, &cobalt.TaskFailureInfo{Category: "usererror", Code: "TaskEnded",
				Message: "The task exceeded its maximum wall clock time and was ended."}, nil)
		})
		if cobalt.IsCode(err, cobalt.ENotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if err := s.afterTaskCompleted(ctx, r.AccountKey, r.JobKey, true, r.ID); err != nil {
			return err
		}
	}
	return nil
}

// SweepJobWallClock terminates every job that has been running longer than
// its constraints.maxWallClockTime, with terminateReason MaxWallClockTimeExpiry.
func (s *Service) SweepJobWallClock(ctx context.Context) error {
	now := s.now()
	tok := ""
	for {
		recs, next, err := s.st.JobList(ctx, store.JobListParams{States: []string{jobActive, jobDisabling, jobDisabled, jobEnabling},
			Page: store.Page{Limit: 1000, Token: tok}})
		if err != nil {
			return err
		}
		for _, r := range recs {
			j, err := jobFromRecord(r)
			if err != nil || j.Constraints == nil || noLimit(j.Constraints.MaxWallClockTime) {
				continue
			}
			if now.Sub(j.CreationTime) <= time.Duration(*j.Constraints.MaxWallClockTime) {
				continue
			}
			err = s.terminateJob(ctx, r.AccountKey, r.ID, "MaxWallClockTimeExpiry", Conditions{})
			if err != nil && !cobalt.IsCode(err, cobalt.EConflict) && !cobalt.IsCode(err, cobalt.ENotFound) {
				return err
			}
		}
		if next == "" {
			return nil
		}
		tok = next
	}
}

// SweepRetention removes the files of completed tasks whose retentionTime
// has passed, through Config.RemoveTaskFiles, and then forgets the deadline
// and marks the task's files removed (cobalt.Task.FilesRemoved), for the
// files API to answer TaskFilesCleanedup; so too the directories of job
// preparation and release tasks (sweepJobPrepRetention).
func (s *Service) SweepRetention(ctx context.Context) error {
	if s.cfg.RemoveTaskFiles == nil {
		return nil
	}
	if err := s.sweepJobPrepRetention(ctx); err != nil {
		return err
	}
	recs, _, err := s.st.TaskList(ctx, store.TaskListParams{RetainedBefore: s.now(), Page: store.Page{Limit: 1000}})
	if err != nil {
		return err
	}
	for _, r := range recs {
		e := decodeExec(r.Exec)
		node := e.NodeID
		if node == "" {
			node = r.NodeID
		}
		jobID := r.JobKey
		if j, err := s.st.JobGet(ctx, r.AccountKey, r.JobKey); err == nil {
			jobID = j.ID
		}
		if node != "" {
			if err := s.cfg.RemoveTaskFiles(ctx, r.AccountKey, node, jobID, r.ID); err != nil {
				s.log.Warn("remove task files", logkey.Node, node, logkey.Job, jobID, logkey.Task, r.ID, logkey.Err, err)
				continue
			}
		}
		_, err := s.st.TaskUpdate(ctx, r.AccountKey, r.JobKey, r.ID, func(t *store.TaskRecord) error {
			if t.State != taskCompleted || t.RetainUntil.IsZero() {
				return nil // it ran again meanwhile
			}
			e := decodeExec(t.Exec)
			e.FilesRemoved = node != ""
			t.Exec = e.encode()
			t.RetainUntil = time.Time{}
			return nil
		})
		if err != nil && !cobalt.IsCode(err, cobalt.ENotFound) {
			return err
		}
	}
	return nil
}
