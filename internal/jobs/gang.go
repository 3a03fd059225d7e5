package jobs

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/batchwire"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// This file is the dispatch of multi-instance tasks. A claim that places
// such a task (Place's gang) on the claiming node and on other nodes
// waiting in this replica claims the task in the store as the claimer's
// (the primary), records the instances in the task's execution record, and
// hands each other node its subtask lease ("<lease>.<n>") through its
// waiter, all under the replica's lock, or none of it: the task goes back
// to the queue when one of those nodes stopped waiting. Reports of the
// instances update the same record by the primary's lease, so the task's
// one lease is the truth for all of them: when it ends (completed,
// terminated, requeued, deleted) every instance's lease is stale and the
// nodes stop them at their next heartbeat.

// instanceExec is one instance of a multi-instance task in its execution
// record; index 0 is the primary.
type instanceExec struct {
	NodeID          string                     `json:"nodeId"`
	State           string                     `json:"state,omitempty"` // "" until started: preparing
	StateAt         *time.Time                 `json:"stateAt,omitempty"`
	PreviousState   string                     `json:"previousState,omitempty"`
	PreviousStateAt *time.Time                 `json:"previousStateAt,omitempty"`
	StartTime       *time.Time                 `json:"startTime,omitempty"`
	EndTime         *time.Time                 `json:"endTime,omitempty"`
	ExitCode        *int                       `json:"exitCode,omitempty"`
	FailureInfo     *batchwire.TaskFailureInfo `json:"failureInfo,omitempty"`
	Result          string                     `json:"result,omitempty"`
	Coordinated     bool                       `json:"coordinated,omitempty"`
}

func (in *instanceExec) setState(state string, now time.Time) {
	if in.State == state {
		return
	}
	in.PreviousState, in.PreviousStateAt = in.State, in.StateAt
	if in.PreviousState == "" && in.StateAt != nil {
		in.PreviousState = string(cobalt.SubtaskPreparing)
	}
	in.State, in.StateAt = state, &now
}

// endInstances completes every instance still running: the primary's end
// ends them all (Batch terminates the subtasks when the primary exits).
func endInstances(e *taskExec, now time.Time) {
	for i := range e.Instances {
		in := &e.Instances[i]
		if in.State == string(cobalt.SubtaskCompleted) {
			continue
		}
		in.setState(string(cobalt.SubtaskCompleted), now)
		in.EndTime = &now
		if in.Result == "" {
			in.Result = resultSuccess
			if !in.Coordinated && in.FailureInfo == nil {
				in.Result = resultFailure
				in.FailureInfo = &batchwire.TaskFailureInfo{Category: "usererror", Code: "TaskEnded",
					Message: "The multi-instance task ended before this instance completed its coordination command."}
			}
		}
	}
}

// multiInstancePool says whether the pool can run multi-instance tasks:
// inter-node communication enabled and one task slot per node (Batch's
// rule; on any other pool such a task stays active).
func multiInstancePool(p *cobalt.Pool) bool {
	return p != nil && p.EnableInterNodeCommunication && max(p.TaskSlotsPerNode, 1) == 1
}

// lockPoolClaims serializes the claims of one pool in this replica.
func (s *Service) lockPoolClaims(accountID, poolID string) func() {
	k := poolKey(accountID, poolID)
	v, _ := s.claimLocks.LoadOrStore(k, &sync.Mutex{})
	mu := v.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

func setGang(g map[int64][]string, seq int64, subs []string) map[int64][]string {
	if g == nil {
		g = map[int64][]string{}
	}
	g[seq] = subs
	return g
}

// isSubtaskLease says whether a lease ID names a subtask ("<lease>.<n>").
func isSubtaskLease(id string) bool { return strings.Contains(id, ".") }

// splitLease returns a lease ID's task lease and instance (0: the primary).
func splitLease(id string) (string, int, bool) {
	base, n, ok := strings.Cut(id, ".")
	if !ok {
		return id, 0, true
	}
	i, err := strconv.Atoi(n)
	if err != nil || i < 1 {
		return "", 0, false
	}
	return base, i, true
}

// multiInstanceLease is the lease's multi-instance part (its nodes are set
// by the claim); a common resource file that cannot be resolved fails the
// task, as the task's own resource files do.
func (s *Service) multiInstanceLease(ctx context.Context, node cobalt.NodeRef, m *cobalt.MultiInstanceSettings) (*nodeproto.MultiInstance, *cobalt.TaskFailureInfo) {
	mi := &nodeproto.MultiInstance{NumberOfInstances: m.Instances(), CoordinationCommandLine: m.CoordinationCommandLine, Nodes: []string{node.NodeID}}
	for _, rf := range m.CommonResourceFiles {
		prf, err := s.resolveResourceFile(ctx, node.AccountID, rf)
		if err != nil {
			return nil, &cobalt.TaskFailureInfo{Category: "usererror", Code: "BlobDownloadMiscError",
				Message: "The auto-storage container " + rf.AutoStorageContainerName + " could not be resolved: " + cobalt.ErrorMessage(err)}
		}
		mi.CommonResourceFiles = append(mi.CommonResourceFiles, prf)
	}
	return mi, nil
}

// deliverGangs turns the claimed records into leases and, for each
// multi-instance task, records its instances and hands its subtasks to the
// other nodes of its gang. known are the jobs the claim read (leases).
func (s *Service) deliverGangs(ctx context.Context, node cobalt.NodeRef, recs []store.TaskRecord, gangs map[int64][]string, known map[string]*cobalt.Job) []nodeproto.TaskLease {
	seqs := make(map[string]int64, len(recs))
	for _, r := range recs {
		seqs[r.LeaseID] = r.Seq
	}
	all := s.leases(ctx, node, recs, known)
	out := all[:0]
	for _, l := range all {
		if l.MultiInstance == nil {
			out = append(out, l)
			continue
		}
		subs := gangs[seqs[l.LeaseID]]
		if len(subs)+1 != l.MultiInstance.NumberOfInstances {
			// Placed as an ordinary task (a gang of one), or the claim's
			// view of the gang is gone: only a full gang runs.
			if l.MultiInstance.NumberOfInstances > 1 {
				s.unclaim(ctx, node, l.LeaseID)
				continue
			}
		}
		l.MultiInstance.Nodes = append([]string{node.NodeID}, subs...)
		if err := s.recordInstances(ctx, l.LeaseID, l.MultiInstance.Nodes); err != nil {
			s.log.Warn("record the instances of a multi-instance task", logkey.Lease, l.LeaseID, logkey.Err, err)
			s.unclaim(ctx, node, l.LeaseID)
			continue
		}
		if len(subs) > 0 && !s.bindSubtasks(node, l, subs) {
			s.unclaim(ctx, node, l.LeaseID)
			continue
		}
		out = append(out, l)
	}
	return out
}

// recordInstances stores a freshly claimed task's instances.
func (s *Service) recordInstances(ctx context.Context, leaseID string, nodes []string) error {
	_, err := s.st.TaskUpdateByLease(ctx, leaseID, func(t *store.TaskRecord) error {
		e := decodeExec(t.Exec)
		e.Instances = make([]instanceExec, len(nodes))
		for i, n := range nodes {
			e.Instances[i] = instanceExec{NodeID: n}
		}
		t.Exec = e.encode()
		return nil
	})
	return err
}

// bindSubtasks gives each node of subs its subtask lease of the primary
// lease l, if every one of them still waits in this replica; otherwise it
// gives none.
func (s *Service) bindSubtasks(node cobalt.NodeRef, l nodeproto.TaskLease, subs []string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	byID := map[string]*waiter{}
	for w := range s.waiters[poolKey(node.AccountID, node.PoolID)] {
		byID[w.node.NodeID] = w
	}
	ws := make([]*waiter, len(subs))
	for i, id := range subs {
		w := byID[id]
		if w == nil || w.free < 1 || len(w.pending) > 0 {
			return false
		}
		ws[i] = w
	}
	for i, w := range ws {
		sl := l
		mi := *l.MultiInstance
		mi.SubtaskID = i + 1
		sl.LeaseID = l.LeaseID + "." + strconv.Itoa(i+1)
		sl.CommandLine, sl.ResourceFiles, sl.OutputFiles, sl.RequiredSlots = "", nil, nil, 1
		sl.MultiInstance = &mi
		w.free--
		w.pending = append(w.pending, sl)
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	return true
}

// unclaim puts a just-claimed task back in the queue as if it had never
// been claimed (no retry or requeue counted).
func (s *Service) unclaim(ctx context.Context, node cobalt.NodeRef, leaseID string) {
	_, err := s.st.TaskUpdateByLease(ctx, leaseID, func(t *store.TaskRecord) error {
		e := decodeExec(t.Exec)
		setTaskState(t, &e, taskActive, s.now().UTC())
		e.StartTime, e.NodeID, e.Instances = nil, "", nil
		t.LeaseID, t.NodeID, t.LeaseExpiry = "", "", time.Time{}
		t.Exec = e.encode()
		return nil
	})
	if err != nil && !cobalt.IsCode(err, cobalt.ENotFound) {
		s.log.Warn("put a multi-instance task back", logkey.Lease, leaseID, logkey.Err, err)
	}
}

// ReportInstance records a report of one instance of a multi-instance
// task: a subtask's start or end, or any instance's coordination. For
// EventCoordinated it returns whether every instance has coordinated with
// success (the primary then runs the task's command line). A subtask that
// fails ends the task's attempt with its failure (Batch fails the whole
// task and retries it within maxTaskRetryCount). A report for a stale lease
// is ignored. Errors: EForbidden when the instance belongs to another
// node, EInvalid for a malformed lease or an unknown event.
func (s *Service) ReportInstance(ctx context.Context, node cobalt.NodeRef, r nodeproto.ReportRequest) (bool, error) {
	base, idx, ok := splitLease(r.LeaseID)
	if !ok {
		return false, cobalt.Errorf(cobalt.EInvalid, "malformed lease ID")
	}
	var (
		proceed, completed, failed, retried bool
		jobKey, taskID                      string
	)
	now := s.now().UTC()
	_, err := s.st.TaskUpdateByLease(ctx, base, func(t *store.TaskRecord) error {
		proceed, completed, failed, retried = false, false, false, false
		jobKey, taskID = t.JobKey, t.ID
		e := decodeExec(t.Exec)
		if idx >= len(e.Instances) || e.Instances[idx].NodeID != node.NodeID {
			return cobalt.Errorf(cobalt.EForbidden, "the lease belongs to another node")
		}
		in := &e.Instances[idx]
		if in.State == string(cobalt.SubtaskCompleted) {
			return errStale
		}
		fi := failureFromProto(r.Failure)
		switch r.Event {
		case "started":
			st := r.StartTime.UTC()
			if st.IsZero() {
				st = now
			}
			in.StartTime = &st
			in.setState(string(cobalt.SubtaskRunning), now)
		case nodeproto.EventCoordinated:
			if in.State == "" {
				in.setState(string(cobalt.SubtaskRunning), now)
			}
			in.ExitCode = r.ExitCode
			if fi == nil && r.ExitCode != nil && *r.ExitCode == 0 {
				in.Coordinated = true
			}
			proceed = true
			for _, o := range e.Instances {
				proceed = proceed && o.Coordinated
			}
			if in.Coordinated || idx == 0 {
				break // the primary reports its own failure as the task's
			}
			fallthrough
		case "completed":
			if idx == 0 {
				return cobalt.Errorf(cobalt.EInvalid, "the primary completes through its task's lease")
			}
			end := now
			if r.EndTime != nil {
				end = r.EndTime.UTC()
			}
			if fi == nil && r.ExitCode != nil && *r.ExitCode != 0 {
				fi = exitFailure(*r.ExitCode)
			}
			in.setState(string(cobalt.SubtaskCompleted), now)
			in.EndTime, in.ExitCode, in.FailureInfo, in.Result = &end, r.ExitCode, failureRecord(fi), resultSuccess
			if fi != nil {
				in.Result = resultFailure
				spec, err := decodeTaskSpec(t.Spec)
				if err != nil {
					return err
				}
				completed, failed, retried = s.finishAttempt(t, &e, &spec, r.ExitCode, fi, end)
			}
		default:
			return cobalt.Errorf(cobalt.EInvalid, "unknown report event %q", r.Event)
		}
		t.Exec = e.encode()
		return nil
	})
	if errors.Is(err, errStale) || cobalt.IsCode(err, cobalt.ENotFound) {
		s.log.Debug("report for a stale lease", logkey.Node, node.NodeID, logkey.Lease, r.LeaseID)
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if retried {
		s.notify(node.AccountID, node.PoolID)
	}
	if completed {
		return false, s.afterTaskCompleted(ctx, node.AccountID, jobKey, failed, taskID)
	}
	return proceed, nil
}

var errStale = errors.New("stale instance report")

// subtaskValid says whether a node still runs the subtask lease id: the
// task's lease is current and the instance is the node's and not completed.
func (s *Service) subtaskValid(ctx context.Context, node cobalt.NodeRef, id string) (bool, error) {
	base, idx, ok := splitLease(id)
	if !ok || idx == 0 {
		return false, nil
	}
	valid := false
	_, err := s.st.TaskUpdateByLease(ctx, base, func(t *store.TaskRecord) error {
		e := decodeExec(t.Exec)
		valid = (t.State == taskRunning || t.State == taskPreparing) && idx < len(e.Instances) &&
			e.Instances[idx].NodeID == node.NodeID && e.Instances[idx].State != string(cobalt.SubtaskCompleted)
		return errStale // read only
	})
	if errors.Is(err, errStale) || cobalt.IsCode(err, cobalt.ENotFound) {
		return valid, nil
	}
	return false, err
}

// unstartedSubtask says whether a claimed multi-instance task has a
// subtask that never started although the task was claimed before cutoff
// (its node never received the lease): the task is then requeued.
func unstartedSubtask(r store.TaskRecord, cutoff time.Time) bool {
	if r.Instances < 2 || !r.StateAt.Before(cutoff) {
		return false
	}
	e := decodeExec(r.Exec)
	for i, in := range e.Instances {
		if i > 0 && in.State == "" {
			return true
		}
	}
	return false
}

// ListSubtasks lists the subtasks of a multi-instance task in its current
// or last attempt ("list subtasks"). An ordinary task has none. Errors:
// ErrJobNotFound, ErrTaskNotFound.
func (s *Service) ListSubtasks(ctx context.Context, accountID, jobID, taskID string) ([]cobalt.SubtaskInformation, error) {
	j, err := s.GetJob(ctx, accountID, jobID)
	if err != nil {
		return nil, err
	}
	r, err := s.st.TaskGet(ctx, accountID, jobID, taskID)
	if err != nil {
		return nil, errTaskNotFound(err)
	}
	e := decodeExec(r.Exec)
	out := []cobalt.SubtaskInformation{}
	for i, in := range e.Instances {
		if i == 0 {
			continue
		}
		si := cobalt.SubtaskInformation{ID: i, StartTime: in.StartTime, EndTime: in.EndTime, ExitCode: in.ExitCode,
			State: cobalt.SubtaskState(in.State), StateTransitionTime: in.StateAt,
			PreviousState: cobalt.SubtaskState(in.PreviousState), PreviousStateTransitionTime: in.PreviousStateAt,
			Result:   cobalt.TaskResult(in.Result),
			NodeInfo: &cobalt.TaskNodeInfo{PoolID: e.PoolID, NodeID: in.NodeID, TaskRootDirectory: TaskRootDirectory(j.ID, r.ID)}}
		if si.State == "" {
			si.State = cobalt.SubtaskPreparing
		}
		if in.FailureInfo != nil {
			fi := in.FailureInfo.ToDomain()
			si.FailureInfo = &fi
		}
		out = append(out, si)
	}
	return out, nil
}

// requeueSubtasksOf requeues the multi-instance tasks that have a running
// subtask on a lost node (its primary, elsewhere, is stopped by its own
// node's next heartbeat), as a lost node's own tasks are: active again
// with requeueCount incremented.
func (s *Service) requeueSubtasksOf(ctx context.Context, node cobalt.NodeRef) ([]store.TaskRecord, error) {
	var out []store.TaskRecord
	tok := ""
	for {
		recs, next, err := s.st.TaskList(ctx, store.TaskListParams{AccountKey: node.AccountID, Leased: true,
			States: []string{taskPreparing, taskRunning}, Page: store.Page{Limit: 1000, Token: tok}})
		if err != nil {
			return out, err
		}
		for _, r := range recs {
			if r.Instances < 2 || !strings.EqualFold(r.PoolKey, node.PoolID) || !hasSubtaskOn(decodeExec(r.Exec), node.NodeID) {
				continue
			}
			now := s.now().UTC()
			u, err := s.st.TaskUpdateByLease(ctx, r.LeaseID, func(t *store.TaskRecord) error {
				e := decodeExec(t.Exec)
				if !hasSubtaskOn(e, node.NodeID) {
					return errStale
				}
				endInstances(&e, now)
				setTaskState(t, &e, taskActive, now)
				t.LeaseID, t.NodeID, t.LeaseExpiry = "", "", time.Time{}
				t.RequeueCount++
				t.LastRequeueAt = now
				t.Exec = e.encode()
				return nil
			})
			if errors.Is(err, errStale) || cobalt.IsCode(err, cobalt.ENotFound) {
				continue
			}
			if err != nil {
				return out, err
			}
			out = append(out, u)
		}
		if next == "" {
			return out, nil
		}
		tok = next
	}
}

// hasSubtaskOn says whether a subtask of the task runs on the node.
func hasSubtaskOn(e taskExec, nodeID string) bool {
	for i, in := range e.Instances {
		if i > 0 && in.NodeID == nodeID && in.State != string(cobalt.SubtaskCompleted) {
			return true
		}
	}
	return false
}
