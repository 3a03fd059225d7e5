package agent

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"

	"github.com/cobaltbatch/cobalt/internal/agent/taskrun"
	"github.com/cobaltbatch/cobalt/internal/logkey"
)

// heartbeatLoop reports the node's state every interval and at every state
// change, and carries out the control plane's commands. remove cancels the
// agent.
func (a *Agent) heartbeatLoop(ctx context.Context, stop context.CancelFunc) {
	interval := a.cfg.HeartbeatInterval
	if f := a.fenceAfter(); f > 0 {
		// A fenced node reports at least four times within its fence, so
		// that one lost heartbeat does not kill its tasks.
		interval = min(interval, f/4)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		a.mu.Lock()
		req := nodeproto.HeartbeatRequest{NodeID: a.cfg.NodeID, State: a.stateLocked()}
		if a.startInfo != nil {
			si := *a.startInfo
			req.StartTaskInfo = &si
		}
		for id := range a.running {
			req.RunningLeases = append(req.RunningLeases, id)
		}
		req.Errors = a.nodeErrors
		req.RemoteLoginPort = a.loginPort
		gen := a.opGen
		req.LogUploads = a.logResults
		a.mu.Unlock()
		var resp nodeproto.HeartbeatResponse
		sent := a.cfg.Now()
		err := a.api.call(ctx, nodeproto.PathHeartbeat, req, &resp, 30*time.Second)
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil && isRemoval(err):
			a.logger.Info("node removed by the control plane", logkey.Reason, cobalt.ErrorReason(err))
			a.markRemoved()
			stop()
			return
		case err != nil:
			a.logger.Warn("heartbeat failed", logkey.Err, err)
		}
		if err == nil {
			if fenced := a.contact(sent); len(fenced) > 0 {
				go a.giveBack(ctx, fenced)
			}
			a.mu.Lock()
			a.logResults = a.logResults[len(req.LogUploads):] // reported
			a.mu.Unlock()
			a.syncUsers(ctx, resp.Users)
			a.startLogUploads(ctx, resp.LogUploads)
		}
		for _, c := range resp.Commands {
			op, _, _ := strings.Cut(c, ":")
			switch {
			case op == commandReimage || op == commandDeallocate:
				a.nodeOp(ctx, c, gen)
			case c == commandRemove:
				a.logger.Info("remove command")
				a.markRemoved()
				stop()
				return
			case c == commandReboot:
				a.logger.Info("reboot command")
				a.reboot(ctx)
			case strings.HasPrefix(c, commandTerminatePrefix):
				a.terminate(strings.TrimPrefix(c, commandTerminatePrefix))
			default:
				a.logger.Warn("unknown command", logkey.Command, c)
			}
		}
		a.startReleases(ctx, resp.JobReleases)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-a.changed:
		}
	}
}

func (a *Agent) markRemoved() {
	a.mu.Lock()
	a.removed = true
	a.mu.Unlock()
	a.stopTasks()
}

// beginStart runs the start sequence: the start task if the pool has one,
// waiting for it when WaitForSuccess says so.
func (a *Agent) beginStart(ctx context.Context) {
	a.mu.Lock()
	st := a.node.StartTask
	if a.startStop != nil {
		a.startStop()
	}
	sctx, cancel := context.WithCancel(ctx)
	a.startStop = cancel
	a.startInfo = nil
	a.nodeErrors = nil
	cc := a.node.Containers
	if len(a.node.Mounts) > 0 || (cc != nil && len(cc.ImageNames) > 0) {
		// The pool's mounts and images come first: the node is "starting"
		// until they are all on it, and unusable when one fails.
		a.phase = phaseStarting
		a.mu.Unlock()
		a.notify()
		go a.prepare(sctx, cc, st)
		return
	}
	a.phase = startPhase(st)
	a.mu.Unlock()
	a.notify()
	if st == nil {
		return
	}
	go a.runStartTask(sctx, *st)
}

// startPhase is the node's phase once its start task, if any, is under
// way: waiting for it when the pool says WaitForSuccess, else ready.
func startPhase(st *nodeproto.StartTask) phase {
	if st != nil && st.WaitForSuccess {
		return phaseWaitingStart
	}
	return phaseReady
}

// prepare mounts the pool's blob containers, then pulls its container
// images, then goes on with the start sequence; a node that cannot mount
// one or pull one is unusable with an error for each.
func (a *Agent) prepare(ctx context.Context, cc *nodeproto.ContainerConfiguration, st *nodeproto.StartTask) {
	var errs []nodeproto.NodeError
	if len(a.node.Mounts) > 0 {
		errs = a.mountBlobs(ctx, a.node.Mounts)
	}
	if len(errs) == 0 && cc != nil && len(cc.ImageNames) > 0 {
		if p, ok := a.runner.(imagePuller); ok {
			errs = p.PullImages(ctx, *cc)
		} else {
			errs = []nodeproto.NodeError{{Code: CodeContainersNotSupported, Message: "The pool has a containerConfiguration, but this node " +
				"cannot run containers: container pools need the netns isolation mode (Linux, root, runc)."}}
		}
	}
	if ctx.Err() != nil {
		return // rebooted or stopped: the next start sequence prepares again
	}
	a.mu.Lock()
	if len(errs) > 0 {
		a.nodeErrors = errs
		a.mu.Unlock()
		a.logger.Warn("the node could not mount its file systems or pull its container images; it is unusable", logkey.Count, len(errs))
		a.notify()
		return
	}
	a.phase = startPhase(st)
	a.mu.Unlock()
	a.notify()
	if st != nil {
		a.runStartTask(ctx, *st)
	}
}

func (a *Agent) runStartTask(ctx context.Context, st nodeproto.StartTask) {
	for attempt := 0; ; attempt++ {
		a.mu.Lock()
		a.startInfo = &nodeproto.StartTaskInfo{State: startTaskStateRunning, StartTime: a.cfg.Now().UTC(), RetryCount: attempt}
		a.mu.Unlock()
		a.notify()
		tcfg, _ := a.taskConfig("")
		info := a.runner.RunStartTask(ctx, tcfg, a.dirs, st, attempt)
		if ctx.Err() != nil {
			return // rebooted or stopped: the next start sequence reports
		}
		info.RetryCount = attempt
		if info.State == "" {
			info.State = startTaskStateCompleted
		}
		ok := info.Result == startTaskResultSuccess || (info.Result == "" && info.Failure == nil && info.ExitCode != nil && *info.ExitCode == 0)
		last := ok || (st.MaxTaskRetryCount >= 0 && attempt >= st.MaxTaskRetryCount)
		a.mu.Lock()
		a.startInfo = &info
		if last && st.WaitForSuccess {
			if ok {
				a.phase = phaseReady
			} else {
				a.phase = phaseStartFailed
			}
		}
		a.mu.Unlock()
		a.notify()
		if last {
			a.logger.Info("start task finished", logkey.Success, ok, logkey.Attempts, attempt+1)
			return
		}
	}
}

// reboot stops every task, as a reboot would, registers again (as a
// restarted agent does; the control plane clears the reboot command then)
// and runs the start sequence again, with the pool's current start task.
func (a *Agent) reboot(ctx context.Context) {
	a.stopTasks()
	a.tasksWG.Wait()
	a.forgetPrepsOnReboot()
	a.mu.Lock()
	a.phase = phaseStarting
	a.startInfo = nil
	a.mu.Unlock()
	reg, err := a.register(ctx)
	if err != nil {
		if ctx.Err() == nil {
			a.logger.Warn("register after reboot failed", logkey.Err, err)
		}
		return
	}
	a.mu.Lock()
	a.node.StartTask = reg.Config.StartTask
	a.mu.Unlock()
	a.beginStart(ctx)
}

// stopTasks abandons every running task and the start task.
func (a *Agent) stopTasks() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.startStop != nil {
		a.startStop()
	}
	for _, rt := range a.running {
		rt.abandoned = true
		rt.cancel()
	}
}

// terminate ends one task; its completion is reported.
func (a *Agent) terminate(leaseID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if rt := a.running[leaseID]; rt != nil {
		rt.cancel()
	}
}

// leaseLoop long-polls for work whenever the node can take some.
func (a *Agent) leaseLoop(ctx context.Context) {
	backoff := 200 * time.Millisecond
	for ctx.Err() == nil {
		a.mu.Lock()
		st, free := a.stateLocked(), a.freeSlots()
		canLease := (st == StateIdle || st == StateRunning) && free > 0
		if canLease {
			a.leasing += free
		}
		a.mu.Unlock()
		if !canLease {
			select {
			case <-ctx.Done():
				return
			case <-a.wake:
			}
			continue
		}
		wait := a.cfg.LeaseWait
		var resp nodeproto.LeaseResponse
		err := a.api.call(ctx, nodeproto.PathLease, nodeproto.LeaseRequest{
			NodeID: a.cfg.NodeID, FreeSlots: free, WaitSeconds: int((wait + time.Second - 1) / time.Second),
		}, &resp, wait+30*time.Second)
		if err == nil {
			for _, l := range resp.Leases {
				a.startLease(ctx, l)
			}
		}
		a.mu.Lock()
		a.leasing -= free
		a.mu.Unlock()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			a.logger.Warn("lease failed", logkey.Err, err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 200 * time.Millisecond
	}
}

// startLease runs one leased task in its own goroutine.
func (a *Agent) startLease(ctx context.Context, l nodeproto.TaskLease) {
	if before, ok := a.runLease(ctx, l); ok {
		a.slotsChanged(before)
	}
}

// runLease starts one leased task in its own goroutine and returns the
// node's state before it; the caller wakes the loops (slotsChanged). It
// returns false for a lease the node already runs.
func (a *Agent) runLease(ctx context.Context, l nodeproto.TaskLease) (before string, ok bool) {
	tctx, cancel := context.WithCancel(ctx)
	rt := &runningTask{lease: l, slots: max(l.RequiredSlots, 1), cancel: cancel}
	a.mu.Lock()
	if _, dup := a.running[l.LeaseID]; dup {
		a.mu.Unlock()
		cancel()
		return "", false
	}
	before = a.stateLocked()
	a.running[l.LeaseID] = rt
	a.used += rt.slots
	a.peakUsed = max(a.peakUsed, a.used)
	a.tasksWG.Add(1)
	a.mu.Unlock()
	go func() {
		defer a.tasksWG.Done()
		defer cancel()
		taskKey := l.JobID + "/" + l.TaskID
		if jp := l.JobPreparation; jp != nil && !a.ensurePrep(tctx, *jp) {
			// The job's preparation task failed here and the job waits for
			// its success: the task goes back for another node.
			a.mu.Lock()
			before := a.stateLocked()
			delete(a.running, l.LeaseID)
			a.used -= rt.slots
			abandoned := rt.abandoned
			a.mu.Unlock()
			a.slotsChanged(before)
			if !abandoned && tctx.Err() == nil {
				a.report(ctx, nodeproto.ReportRequest{NodeID: a.cfg.NodeID, LeaseID: l.LeaseID, Event: reportReleased})
			}
			return
		}
		started := a.startReport(ctx, l)
		tcfg, forget := a.taskConfig(taskKey)
		var rep nodeproto.ReportRequest
		if a.node.Containers != nil && l.Container == nil {
			// Batch: every task on a container pool runs in a container.
			now := a.cfg.Now().UTC()
			rep = nodeproto.ReportRequest{StartTime: now, EndTime: &now, Failure: &nodeproto.FailureInfo{Category: "usererror",
				Code: taskrun.CodeContainerTaskSettingsNotFound, Message: "Container-enabled compute node requires task container settings"}}
		} else if l.MultiInstance != nil {
			rep = a.runMultiInstance(tctx, tcfg, l)
		} else {
			rep = a.runner.RunTask(tctx, tcfg, a.dirs, l)
		}
		forget()
		startSent, startAt := started.finish()
		a.mu.Lock()
		before := a.stateLocked()
		delete(a.running, l.LeaseID)
		a.used -= rt.slots
		abandoned := rt.abandoned
		a.mu.Unlock()
		if abandoned {
			a.slotsChanged(before)
			return
		}
		rep.NodeID, rep.LeaseID = a.cfg.NodeID, l.LeaseID
		if rep.Event == "" {
			rep.Event = reportCompleted
		}
		if !startSent && rep.StartTime.IsZero() {
			// The completion carries the start it replaces.
			rep.StartTime = startAt
		}
		// The reporter sends it with the node's other completions and
		// takes the freed slots' next tasks in the same round trip.
		a.reportEnded(ctx, rep, before)
	}()
	return before, true
}

// startReportDelay is how long a task runs before its "started" report is
// sent: a task that ends sooner reports once, its completion carrying its
// start time (one request and one store transaction fewer per short task;
// the task is already running in the store since its claim).
var startReportDelay = time.Second

// pendingStart is a task's "started" report, sent after startReportDelay
// unless the task ends first.
type pendingStart struct {
	mu       sync.Mutex
	at       time.Time
	sent     bool
	finished bool
	timer    *time.Timer
}

// startReport schedules the lease's "started" report. A multi-instance
// task reports its start at once (its instances coordinate through the
// control plane).
func (a *Agent) startReport(ctx context.Context, l nodeproto.TaskLease) *pendingStart {
	p := &pendingStart{at: a.cfg.Now().UTC()}
	send := func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.finished {
			return
		}
		// Held while the report is in flight: the completion waits for it,
		// so the control plane sees the two in order.
		p.sent = true
		a.report(ctx, nodeproto.ReportRequest{NodeID: a.cfg.NodeID, LeaseID: l.LeaseID, Event: reportStarted, StartTime: p.at})
	}
	if l.MultiInstance != nil || startReportDelay <= 0 {
		send()
		return p
	}
	p.mu.Lock()
	p.timer = time.AfterFunc(startReportDelay, send)
	p.mu.Unlock()
	return p
}

// finish marks the task ended: it reports whether the "started" report was
// sent (waiting for one in flight) and the task's start time.
func (p *pendingStart) finish() (sent bool, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finished = true
	if p.timer != nil {
		p.timer.Stop()
	}
	return p.sent, p.at
}

// report sends a task report, retrying transient failures a few times.
func (a *Agent) report(ctx context.Context, r nodeproto.ReportRequest) {
	backoff := 200 * time.Millisecond
	for try := 0; try < 6; try++ {
		err := a.api.call(ctx, nodeproto.PathReport, r, nil, 30*time.Second)
		if err == nil || ctx.Err() != nil {
			return
		}
		code := cobalt.ErrorCode(err)
		if code != cobalt.EInternal && code != cobalt.ETooManyRequests {
			a.logger.Warn("report refused", logkey.Lease, r.LeaseID, logkey.Event, r.Event, logkey.Err, err)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff *= 2
	}
	a.logger.Warn("report failed", logkey.Lease, r.LeaseID, logkey.Event, r.Event)
}

// taskConfig is the runner configuration for a task ("" for the start task).
// In process mode each task gets its own IDENTITY_HEADER so that the tokens
// it asks for are attributed to it; done forgets that secret.
func (a *Agent) taskConfig(taskKey string) (cfg taskrun.Config, done func()) {
	env, done := a.baseEnv, func() {}
	if taskKey != "" && a.secret != "" {
		s := newSecret()
		a.taskSecrets.Store(s, taskKey)
		done = func() { a.taskSecrets.Delete(s) }
		env = make([]string, 0, len(a.baseEnv))
		for _, kv := range a.baseEnv {
			if strings.HasPrefix(kv, "IDENTITY_HEADER=") {
				kv = "IDENTITY_HEADER=" + s
			}
			env = append(env, kv)
		}
	}
	return taskrun.Config{
		Logger:     a.logger,
		Now:        a.cfg.Now,
		Token:      a.tokens.taskToken,
		HTTPClient: a.httpc,
		Wrap:       func(cmd *exec.Cmd) { a.iso.wrap(cmd) },
		BaseEnv:    env,
	}, done
}

// vmID derives a stable UUID-shaped VM ID from the node ID.
func vmID(nodeID string) string {
	s := sha256.Sum256([]byte("vmid:" + nodeID))
	s[6] = s[6]&0x0f | 0x40
	s[8] = s[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", s[0:4], s[4:6], s[6:8], s[8:10], s[10:16])
}
