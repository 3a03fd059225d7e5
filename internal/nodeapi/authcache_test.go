package nodeapi

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/batch"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// clock is a settable time for the pool service.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// warm registers the fixture's node and sends a heartbeat and a lease that
// finds no work, so the node is in the authentication cache.
func (f *jobsFixture) warm(t *testing.T) {
	t.Helper()
	f.register(t)
	f.heartbeat(t)
	if st, e := f.lease(t); st != 200 {
		t.Fatalf("lease: %d %+v", st, e)
	}
}

func (f *jobsFixture) lease(t *testing.T) (int, nodeproto.Error) {
	t.Helper()
	var lr nodeproto.LeaseResponse
	return f.call(t, f.node.Credential, nodeproto.PathLease, nodeproto.LeaseRequest{FreeSlots: 1}, &lr)
}

func (f *jobsFixture) heartbeatStatus(t *testing.T) int {
	t.Helper()
	var hr nodeproto.HeartbeatResponse
	st, _ := f.call(t, f.node.Credential, nodeproto.PathHeartbeat, nodeproto.HeartbeatRequest{State: "idle"}, &hr)
	return st
}

// Another replica (or cobalt host remove) clears the node's credential in
// the store: this replica's cache must not keep the node in. Its next
// heartbeat is refused at once; a lease that would take a task is refused at
// once; a lease of an idle pool answers "no work" until NodeAuthCacheTTL
// passes and is refused after it.
func TestCachedCredentialClearedElsewhere(t *testing.T) {
	t.Parallel()
	for _, first := range []string{"heartbeat", "heartbeat after the TTL", "lease with work", "lease after the TTL"} {
		t.Run(first, func(t *testing.T) {
			t.Parallel()
			c := &clock{t: time.Now()}
			f := newJobsFixtureClock(t, func(d Dispatcher) Dispatcher { return d }, c.now)
			f.warm(t)
			if _, err := f.st.NodeUpdate(t.Context(), f.node.NodeID, func(r *store.NodeRecord) error {
				r.CredentialHash = nil
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			switch first {
			case "heartbeat":
				if st := f.heartbeatStatus(t); st != http.StatusUnauthorized {
					t.Fatalf("heartbeat with a cleared credential: %d, want 401", st)
				}
			case "heartbeat after the TTL":
				// A heartbeat authenticates from the cache whatever its age;
				// its write still checks the node.
				c.add(2 * batch.NodeAuthCacheTTL)
				if st := f.heartbeatStatus(t); st != http.StatusUnauthorized {
					t.Fatalf("heartbeat with a cleared credential: %d, want 401", st)
				}
			case "lease with work":
				if _, err := f.jobs.AddTask(t.Context(), f.acct.Key(), "j", cobalt.TaskSpec{ID: "t1", CommandLine: "/bin/true"}); err != nil {
					t.Fatal(err)
				}
				if st, e := f.lease(t); st != http.StatusUnauthorized {
					t.Fatalf("lease with a cleared credential and work queued: %d %+v, want 401", st, e)
				}
				if tk := f.task(t, "t1"); tk.State != cobalt.TaskActive {
					t.Fatalf("the task went to the refused node: %s", tk.State)
				}
			case "lease after the TTL":
				if st, _ := f.lease(t); st != 200 {
					t.Fatalf("lease of an idle pool within the TTL: %d, want 200 (no work)", st)
				}
				c.add(batch.NodeAuthCacheTTL)
				if st, _ := f.lease(t); st != http.StatusUnauthorized {
					t.Fatalf("lease %s after the credential was cleared: %d, want 401", batch.NodeAuthCacheTTL, st)
				}
			}
			// Once refused, refused for every request.
			if st := f.heartbeatStatus(t); st != http.StatusUnauthorized {
				t.Fatalf("heartbeat after: %d, want 401", st)
			}
			if st, _ := f.lease(t); st != http.StatusUnauthorized {
				t.Fatalf("lease after: %d, want 401", st)
			}
		})
	}
}

// A node deleted by another replica is refused at its next heartbeat.
func TestCachedNodeDeletedElsewhere(t *testing.T) {
	t.Parallel()
	f := newJobsFixture(t)
	f.warm(t)
	if err := f.st.NodeDelete(t.Context(), f.node.NodeID); err != nil {
		t.Fatal(err)
	}
	if st := f.heartbeatStatus(t); st != http.StatusUnauthorized {
		t.Fatalf("heartbeat of a deleted node: %d, want 401", st)
	}
	if st, _ := f.lease(t); st != http.StatusUnauthorized {
		t.Fatalf("lease of a deleted node: %d, want 401", st)
	}
}

// A command given to a cached node (here a reimage, through the data plane)
// reaches it with its next heartbeat, and a node that stopped taking work
// gets none from a lease answered from the cache.
func TestCachedNodeSeesChangesAtOnce(t *testing.T) {
	t.Parallel()
	f := newJobsFixture(t)
	f.warm(t)
	if err := f.svc.NodeReimage(t.Context(), f.acct.Key(), "p", f.node.NodeID, ""); err != nil {
		t.Fatal(err)
	}
	if cmds := f.heartbeat(t); !slices.ContainsFunc(cmds, func(c string) bool { return c == "reimage" }) {
		t.Fatalf("heartbeat after a reimage: commands %v, want reimage", cmds)
	}
	if _, err := f.jobs.AddTask(context.Background(), f.acct.Key(), "j", cobalt.TaskSpec{ID: "t1", CommandLine: "/bin/true"}); err != nil {
		t.Fatal(err)
	}
	var lr nodeproto.LeaseResponse
	if st, e := f.call(t, f.node.Credential, nodeproto.PathLease, nodeproto.LeaseRequest{FreeSlots: 1}, &lr); st != 200 || len(lr.Leases) != 0 {
		t.Fatalf("lease of a reimaging node: %d %+v %+v, want no task", st, e, lr)
	}
}

// A heartbeat delayed past the cache's TTL by load is still accepted (from
// the cache, checked by its compare-and-swap), and keeps the node usable.
func TestCachedHeartbeatAfterTheTTL(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Now()}
	f := newJobsFixtureClock(t, func(d Dispatcher) Dispatcher { return d }, c.now)
	f.warm(t)
	for range 3 {
		c.add(2 * batch.NodeAuthCacheTTL)
		f.heartbeat(t)
	}
	if st, e := f.lease(t); st != 200 {
		t.Fatalf("lease: %d %+v", st, e)
	}
}

// A report authenticates from the cache for NodeAuthCacheTTL at most: a
// node whose credential was cleared elsewhere cannot complete its task
// after that, and the task stays as it was.
func TestCachedReportRefusedAfterTheTTL(t *testing.T) {
	t.Parallel()
	c := &clock{t: time.Now()}
	f := newJobsFixtureClock(t, func(d Dispatcher) Dispatcher { return d }, c.now)
	f.warm(t)
	l := f.leaseStarted(t, "t1")
	if _, err := f.st.NodeUpdate(t.Context(), f.node.NodeID, func(r *store.NodeRecord) error {
		r.CredentialHash = nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	c.add(batch.NodeAuthCacheTTL)
	zero, end := 0, time.Now()
	st, _ := f.call(t, f.node.Credential, nodeproto.PathReport, nodeproto.ReportRequest{LeaseID: l.LeaseID, Event: "completed",
		ExitCode: &zero, StartTime: end, EndTime: &end}, &nodeproto.ReportResponse{})
	if st != http.StatusUnauthorized {
		t.Fatalf("report %s after the credential was cleared: %d, want 401", batch.NodeAuthCacheTTL, st)
	}
	if tk := f.task(t, "t1"); tk.State != cobalt.TaskRunning {
		t.Fatalf("the refused report changed the task: %s", tk.State)
	}
}
