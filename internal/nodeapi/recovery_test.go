package nodeapi

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/batch"
	"github.com/cobaltbatch/cobalt/internal/jobs"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
	"github.com/cobaltbatch/cobalt/internal/store"
	"github.com/cobaltbatch/cobalt/internal/store/sqlite"
)

// jobsFixture is a node API over a real pool service and a real jobs
// service sharing one SQLite store; the account's data plane is on port 4567
// and the control plane forwards port 1111.
type jobsFixture struct {
	*fixture
	jobs *jobs.Service
	node batch.NodeLaunch
	st   store.Store
}

const accountPort = 4567

func newJobsFixture(t testing.TB) *jobsFixture {
	return newJobsFixtureWith(t, func(d Dispatcher) Dispatcher { return d })
}

// newJobsFixtureWith builds the fixture with the node API's dispatcher wrapped by wrap.
func newJobsFixtureWith(t testing.TB, wrap func(Dispatcher) Dispatcher) *jobsFixture {
	return newJobsFixtureClock(t, wrap, nil)
}

// newJobsFixtureClock builds the fixture with the pool service's clock now
// (nil: time.Now).
func newJobsFixtureClock(t testing.TB, wrap func(Dispatcher) Dispatcher, now func() time.Time) *jobsFixture {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "cobalt.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	js, err := jobs.New(jobs.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	f := &jobsFixture{fixture: &fixture{dir: &directory{ids: map[string]cobalt.Principal{}}, iss: &issuer{}, nl: &launches{}}, jobs: js, st: st}
	svc, err := batch.New(batch.Config{Store: st, Nodes: f.nl, Identities: f.dir, ForwardPorts: []int{1111}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	svc.SubscribeNodeLost(js.NodeLost)
	f.svc = svc
	f.acct = &cobalt.Account{ID: acctID, Name: "acct1", TenantID: "t1", SubscriptionID: "sub1", ResourceGroup: "rg1",
		Endpoint: "127.0.0.1:4567"}
	if _, _, err := svc.AccountCreate(context.Background(), f.acct); err != nil {
		t.Fatal(err)
	}
	api, err := New(Config{Pools: svc, Dispatcher: wrap(js), Tokens: f.iss, Identities: f.dir})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewTLSServer(api.Handler())
	t.Cleanup(f.srv.Close)
	f.put(t, "p", poolBody(1))
	f.node = f.nl.of("p")[0]
	if _, err := js.AddJob(context.Background(), f.acct.Key(), cobalt.JobSpec{ID: "j", PoolInfo: &cobalt.PoolInformation{PoolID: "p"}}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *jobsFixture) register(t testing.TB) nodeproto.NodeConfig {
	t.Helper()
	var reg nodeproto.RegisterResponse
	if st, e := f.call(t, f.node.Credential, nodeproto.PathRegister, nodeproto.RegisterRequest{NodeID: f.node.NodeID}, &reg); st != 200 {
		t.Fatalf("register: %d %+v", st, e)
	}
	return reg.Config
}

func (f *jobsFixture) heartbeat(t testing.TB, running ...string) []string {
	t.Helper()
	var hr nodeproto.HeartbeatResponse
	state := "idle"
	if len(running) > 0 {
		state = "running"
	}
	if st, e := f.call(t, f.node.Credential, nodeproto.PathHeartbeat, nodeproto.HeartbeatRequest{State: state, RunningLeases: running}, &hr); st != 200 {
		t.Fatalf("heartbeat: %d %+v", st, e)
	}
	return hr.Commands
}

// leaseStarted adds a task, leases it to the node and reports it started.
func (f *jobsFixture) leaseStarted(t testing.TB, taskID string) nodeproto.TaskLease {
	t.Helper()
	zero := 0
	if _, err := f.jobs.AddTask(context.Background(), f.acct.Key(), "j", cobalt.TaskSpec{ID: taskID, CommandLine: "/bin/true",
		Constraints: &cobalt.TaskConstraints{MaxTaskRetryCount: &zero}}); err != nil {
		t.Fatal(err)
	}
	var lr nodeproto.LeaseResponse
	if st, e := f.call(t, f.node.Credential, nodeproto.PathLease, nodeproto.LeaseRequest{FreeSlots: 1}, &lr); st != 200 || len(lr.Leases) != 1 || lr.Leases[0].TaskID != taskID {
		t.Fatalf("lease: %d %+v %+v", st, e, lr)
	}
	l := lr.Leases[0]
	if st, e := f.call(t, f.node.Credential, nodeproto.PathReport, nodeproto.ReportRequest{LeaseID: l.LeaseID, Event: "started", StartTime: time.Now()}, &nodeproto.ReportResponse{}); st != 200 {
		t.Fatalf("report started: %d %+v", st, e)
	}
	return l
}

func (f *jobsFixture) task(t *testing.T, id string) cobalt.Task {
	t.Helper()
	tk, err := f.jobs.GetTask(t.Context(), f.acct.Key(), "j", id)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// TestRegisterRequeuesLeasedTasks: an agent that registers again (its
// process restarted, or the node rebooted) runs nothing, so the tasks leased
// to it go back to the queue at once, counted as requeues, not retries, and
// then complete on their next lease.
func TestRegisterRequeuesLeasedTasks(t *testing.T) {
	t.Parallel()
	f := newJobsFixture(t)
	f.register(t)
	f.heartbeat(t)
	l := f.leaseStarted(t, "t1")
	if tk := f.task(t, "t1"); tk.State != cobalt.TaskRunning {
		t.Fatalf("leased task is %s", tk.State)
	}

	f.register(t) // the agent restarted
	tk := f.task(t, "t1")
	if tk.State != cobalt.TaskActive || tk.ExecutionInfo.RequeueCount != 1 || tk.ExecutionInfo.RetryCount != 0 {
		t.Fatalf("after the node registered again the task is %s (requeues %d, retries %d), want active, 1 requeue, 0 retries",
			tk.State, tk.ExecutionInfo.RequeueCount, tk.ExecutionInfo.RetryCount)
	}
	var lr nodeproto.LeaseResponse
	if st, e := f.call(t, f.node.Credential, nodeproto.PathLease, nodeproto.LeaseRequest{FreeSlots: 1}, &lr); st != 200 || len(lr.Leases) != 1 || lr.Leases[0].LeaseID == l.LeaseID {
		t.Fatalf("lease after re-registration: %d %+v %+v", st, e, lr)
	}
	exit, end := 0, time.Now()
	if st, e := f.call(t, f.node.Credential, nodeproto.PathReport, nodeproto.ReportRequest{LeaseID: lr.Leases[0].LeaseID, Event: "completed",
		StartTime: end, EndTime: &end, ExitCode: &exit}, &nodeproto.ReportResponse{}); st != 200 {
		t.Fatalf("report completed: %d %+v", st, e)
	}
	if tk := f.task(t, "t1"); tk.State != cobalt.TaskCompleted || tk.ExecutionInfo.Result != "success" {
		t.Fatalf("task %s %q", tk.State, tk.ExecutionInfo.Result)
	}
}

// TestHeartbeatTerminatesEndedTasks: a task terminated (or deleted) while
// its node runs it gets a terminate command for its lease at the node's
// next heartbeat; a task still running does not.
func TestHeartbeatTerminatesEndedTasks(t *testing.T) {
	t.Parallel()
	f := newJobsFixture(t)
	f.register(t)
	f.heartbeat(t)
	l1 := f.leaseStarted(t, "t1")
	l2 := f.leaseStarted(t, "t2")
	if cmds := f.heartbeat(t, l1.LeaseID, l2.LeaseID); len(cmds) != 0 {
		t.Fatalf("commands for running tasks: %v", cmds)
	}
	if err := f.jobs.TerminateTask(t.Context(), f.acct.Key(), "j", "t1", jobs.Conditions{}); err != nil {
		t.Fatal(err)
	}
	if err := f.jobs.DeleteTask(t.Context(), f.acct.Key(), "j", "t2", jobs.Conditions{}); err != nil {
		t.Fatal(err)
	}
	cmds := f.heartbeat(t, l1.LeaseID, l2.LeaseID)
	for _, l := range []string{l1.LeaseID, l2.LeaseID} {
		if !slices.Contains(cmds, "terminate:"+l) {
			t.Errorf("heartbeat commands %v lack terminate:%s", cmds, l)
		}
	}
}

// TestRegisterForwardsAccountPort: a node's configuration forwards the
// control plane's ports and its own Batch account's data-plane port, so
// that a task in a node namespace can call its account's endpoint.
func TestRegisterForwardsAccountPort(t *testing.T) {
	t.Parallel()
	f := newJobsFixture(t)
	cfg := f.register(t)
	if !slices.Contains(cfg.ForwardPorts, accountPort) || !slices.Contains(cfg.ForwardPorts, 1111) {
		t.Fatalf("forwarded ports %v, want 1111 and the account's %d", cfg.ForwardPorts, accountPort)
	}
	again := f.register(t)
	if len(again.ForwardPorts) != len(cfg.ForwardPorts) {
		t.Fatalf("ports %v after a second registration, first %v", again.ForwardPorts, cfg.ForwardPorts)
	}
	seen := 0
	for _, p := range again.ForwardPorts {
		if p == accountPort {
			seen++
		}
	}
	if seen != 1 {
		t.Fatalf("port %d listed %d times: %v", accountPort, seen, again.ForwardPorts)
	}
}

// noReconcile hides the dispatcher's Reconcile: heartbeats as before lease reconciliation.
type noReconcile struct{ Dispatcher }

// BenchmarkHeartbeat measures one node heartbeat over HTTPS from a node
// running 4 tasks (four one-slot leases), with the lease reconciliation against the jobs service
// (reconcile) and, as the baseline in the same run, without it (baseline).
func BenchmarkHeartbeat(b *testing.B) {
	for _, c := range []struct {
		name string
		wrap func(Dispatcher) Dispatcher
	}{
		{"baseline", func(d Dispatcher) Dispatcher { return noReconcile{d} }},
		{"reconcile", func(d Dispatcher) Dispatcher { return d }},
	} {
		b.Run(c.name, func(b *testing.B) {
			f := newJobsFixtureWith(b, c.wrap)
			f.register(b)
			f.heartbeat(b)
			var running []string
			for i := range 4 {
				running = append(running, f.leaseStarted(b, "t"+string(rune('0'+i))).LeaseID)
			}
			b.ResetTimer()
			start := time.Now()
			for b.Loop() {
				if cmds := f.heartbeat(b, running...); len(cmds) != 0 {
					b.Fatalf("commands %v", cmds)
				}
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "µs/heartbeat")
		})
	}
}
