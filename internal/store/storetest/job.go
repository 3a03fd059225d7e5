package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

const jobAcct = "/subscriptions/s/resourcegroups/rg/providers/microsoft.batch/batchaccounts/a"

func jobStore(t *testing.T, s store.Store) store.JobStore {
	js, ok := any(s).(store.JobStore)
	if !ok {
		t.Fatal("the store does not implement store.JobStore")
	}
	return js
}

func mkJob(t *testing.T, js store.JobStore, id, pool string) store.JobRecord {
	t.Helper()
	j, err := js.JobCreate(ctx(t), store.JobRecord{AccountKey: jobAcct, ID: id, PoolKey: pool, State: "active", Dispatch: true, Spec: []byte(`{"x":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func addTasks(t *testing.T, js store.JobStore, job string, ids ...string) []store.TaskRecord {
	t.Helper()
	var in []store.TaskRecord
	for _, id := range ids {
		in = append(in, store.TaskRecord{ID: id, State: "active", RequiredSlots: 1})
	}
	out, errs, err := js.TaskAdd(ctx(t), jobAcct, job, in)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range errs {
		if e != nil {
			t.Fatalf("task %s: %v", ids[i], e)
		}
	}
	return out
}

var leaseN atomic.Int64

func newLease() string { return fmt.Sprintf("lease-%d", leaseN.Add(1)) }

func pickAll(c []store.TaskCandidate) []int {
	idx := make([]int, len(c))
	for i := range c {
		idx[i] = i
	}
	return idx
}

func init() {
	register("Job/CreateGetCaseInsensitive", func(t *testing.T, s store.Store) {
		js := jobStore(t, s)
		mkJob(t, js, "MyJob", "Pool1")
		if _, err := js.JobCreate(ctx(t), store.JobRecord{AccountKey: jobAcct, ID: "myjob", State: "active"}); !cobalt.IsCode(err, cobalt.EConflict) {
			t.Fatalf("duplicate create: got %v, want EConflict", err)
		}
		j, err := js.JobGet(ctx(t), jobAcct, "MYJOB")
		if err != nil {
			t.Fatal(err)
		}
		if j.ID != "MyJob" || j.PoolKey != "pool1" || j.Version != 1 || string(j.Spec) != `{"x":1}` || !j.Dispatch {
			t.Fatalf("got %+v", j)
		}
		if _, err := js.JobGet(ctx(t), jobAcct, "other"); !cobalt.IsCode(err, cobalt.ENotFound) {
			t.Fatalf("get missing: %v", err)
		}
	})
	register("Job/UpdatePropagatesToTasks", func(t *testing.T, s store.Store) {
		js := jobStore(t, s)
		mkJob(t, js, "j", "p")
		addTasks(t, js, "j", "t1", "t2")
		j, err := js.JobUpdate(ctx(t), jobAcct, "J", func(j *store.JobRecord) error {
			j.Dispatch, j.Priority, j.State = false, 7, "disabled"
			return nil
		})
		if err != nil || j.Version != 2 || j.State != "disabled" {
			t.Fatalf("update: %+v %v", j, err)
		}
		got, err := js.TaskClaim(ctx(t), store.ClaimParams{AccountKey: jobAcct, PoolKey: "p", NodeID: "n", Limit: 10, State: "running", NewLeaseID: newLease}, pickAll)
		if err != nil || len(got) != 0 {
			t.Fatalf("claim from a disabled job: %v %v", got, err)
		}
		if _, err := js.JobUpdate(ctx(t), jobAcct, "j", func(j *store.JobRecord) error { j.Dispatch = true; return nil }); err != nil {
			t.Fatal(err)
		}
		got, err = js.TaskClaim(ctx(t), store.ClaimParams{AccountKey: jobAcct, PoolKey: "p", NodeID: "n", Limit: 10, State: "running", NewLeaseID: newLease}, pickAll)
		if err != nil || len(got) != 2 || got[0].Priority != 7 {
			t.Fatalf("claim after enable: %v %v", got, err)
		}
		wantErr := cobalt.Errorf(cobalt.EConflict, "no")
		if _, err := js.JobUpdate(ctx(t), jobAcct, "j", func(*store.JobRecord) error { return wantErr }); err != wantErr {
			t.Fatalf("fn error: %v", err)
		}
	})
	register("Job/ListAndDelete", func(t *testing.T, s store.Store) {
		js := jobStore(t, s)
		for i := range 5 {
			mkJob(t, js, fmt.Sprintf("j%d", i), "p")
		}
		addTasks(t, js, "j1", "a", "b")
		var all []string
		tok := ""
		for {
			js2, next, err := js.JobList(ctx(t), store.JobListParams{AccountKey: jobAcct, Page: store.Page{Limit: 2, Token: tok}})
			if err != nil {
				t.Fatal(err)
			}
			for _, j := range js2 {
				all = append(all, j.ID)
			}
			if next == "" {
				break
			}
			tok = next
		}
		if fmt.Sprint(all) != "[j0 j1 j2 j3 j4]" {
			t.Fatalf("list: %v", all)
		}
		if err := js.JobDelete(ctx(t), jobAcct, "J1"); err != nil {
			t.Fatal(err)
		}
		if _, err := js.TaskGet(ctx(t), jobAcct, "j1", "a"); !cobalt.IsCode(err, cobalt.ENotFound) {
			t.Fatalf("task of a deleted job: %v", err)
		}
		if err := js.JobDelete(ctx(t), jobAcct, "j1"); !cobalt.IsCode(err, cobalt.ENotFound) {
			t.Fatalf("delete twice: %v", err)
		}
		l, _, err := js.JobList(ctx(t), store.JobListParams{AccountKey: jobAcct, States: []string{"completed"}})
		if err != nil || len(l) != 0 {
			t.Fatalf("state filter: %v %v", l, err)
		}
		if _, err := js.JobCreate(ctx(t), store.JobRecord{AccountKey: jobAcct + "2", ID: "j0", State: "active"}); err != nil {
			t.Fatal(err)
		}
		var every []string
		tok = ""
		for {
			page, next, err := js.JobList(ctx(t), store.JobListParams{Page: store.Page{Limit: 2, Token: tok}})
			if err != nil {
				t.Fatal(err)
			}
			for _, j := range page {
				every = append(every, j.ID)
			}
			if next == "" {
				break
			}
			tok = next
		}
		if fmt.Sprint(every) != "[j0 j2 j3 j4 j0]" {
			t.Fatalf("list of every account: %v", every)
		}
	})
	register("Task/AddPerTaskResults", func(t *testing.T, s store.Store) {
		js := jobStore(t, s)
		mkJob(t, js, "j", "p")
		addTasks(t, js, "j", "T1")
		out, errs, err := js.TaskAdd(ctx(t), jobAcct, "j", []store.TaskRecord{
			{ID: "t1", State: "active"}, {ID: "t2", State: "active"}, {ID: "T2", State: "active"}, {ID: "t3", State: "active", RequiredSlots: 2},
		})
		if err != nil {
			t.Fatal(err)
		}
		if !cobalt.IsCode(errs[0], cobalt.EConflict) || errs[1] != nil || !cobalt.IsCode(errs[2], cobalt.EConflict) || errs[3] != nil {
			t.Fatalf("errs: %v", errs)
		}
		if out[1].Seq == 0 || out[3].Seq <= out[1].Seq || out[3].RequiredSlots != 2 {
			t.Fatalf("out: %+v", out)
		}
		if _, _, err := js.TaskAdd(ctx(t), jobAcct, "nojob", []store.TaskRecord{{ID: "x"}}); !cobalt.IsCode(err, cobalt.ENotFound) {
			t.Fatalf("add to a missing job: %v", err)
		}
		got, err := js.TaskGet(ctx(t), jobAcct, "J", "t3")
		if err != nil || got.ID != "t3" || got.PoolKey != "p" || got.State != "active" {
			t.Fatalf("get: %+v %v", got, err)
		}
	})
	register("Task/ClaimFIFOAndPriority", func(t *testing.T, s store.Store) {
		js := jobStore(t, s)
		mkJob(t, js, "low", "p")
		addTasks(t, js, "low", "l1", "l2")
		mkJob(t, js, "high", "p")
		if _, err := js.JobUpdate(ctx(t), jobAcct, "high", func(j *store.JobRecord) error { j.Priority = 5; return nil }); err != nil {
			t.Fatal(err)
		}
		addTasks(t, js, "high", "h1", "h2")
		mkJob(t, js, "other", "q")
		addTasks(t, js, "other", "o1")
		var offered []string
		got, err := js.TaskClaim(ctx(t), store.ClaimParams{AccountKey: jobAcct, PoolKey: "P", NodeID: "n1", Limit: 3, State: "running", NewLeaseID: newLease,
			LeaseExpiry: func(store.TaskCandidate) time.Time { return time.Unix(100, 0) }},
			func(c []store.TaskCandidate) []int {
				for _, x := range c {
					offered = append(offered, x.Key)
				}
				return []int{0, 2, 2, 9}
			})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(offered) != "[h1 h2 l1]" {
			t.Fatalf("offered %v", offered)
		}
		if len(got) != 2 || got[0].ID != "h1" || got[1].ID != "l1" || got[0].State != "running" || got[0].NodeID != "n1" || got[0].LeaseID == "" || !got[0].LeaseExpiry.Equal(time.Unix(100, 0)) {
			t.Fatalf("claimed %+v", got)
		}
		tl, _, err := js.TaskList(ctx(t), store.TaskListParams{LeaseExpiredBefore: time.Unix(101, 0)}) // every account
		if err != nil || len(tl) != 2 {
			t.Fatalf("expired leases: %v %v", len(tl), err)
		}
		// The lease is the handle for reports.
		u, err := js.TaskUpdateByLease(ctx(t), got[0].LeaseID, func(t *store.TaskRecord) error {
			t.State, t.Result, t.LeaseID = "completed", "success", ""
			return nil
		})
		if err != nil || u.State != "completed" || u.Version != got[0].Version+1 {
			t.Fatalf("update by lease: %+v %v", u, err)
		}
		if _, err := js.TaskUpdateByLease(ctx(t), got[0].LeaseID, func(*store.TaskRecord) error { return nil }); !cobalt.IsCode(err, cobalt.ENotFound) {
			t.Fatalf("stale lease: %v", err)
		}
		counts, err := js.TaskCounts(ctx(t), jobAcct, "high")
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(counts) != "[{active  1 1} {completed success 1 1}]" {
			t.Fatalf("counts %v", counts)
		}
		if any, err := js.TaskAnyIncomplete(ctx(t), jobAcct, "high"); err != nil || !any {
			t.Fatalf("incomplete: %v %v", any, err)
		}
	})
	register("Task/LeasedToNodes", func(t *testing.T, s store.Store) {
		js := jobStore(t, s)
		mkJob(t, js, "j", "p")
		addTasks(t, js, "j", "a", "b", "c", "d", "e")
		claim := func(node string, n int) []store.TaskRecord {
			t.Helper()
			got, err := js.TaskClaim(ctx(t), store.ClaimParams{AccountKey: jobAcct, PoolKey: "p", NodeID: node, Limit: n, State: "running", NewLeaseID: newLease}, pickAll)
			if err != nil || len(got) != n {
				t.Fatalf("claim %d for %s: %v %v", n, node, got, err)
			}
			return got
		}
		n1, n2 := claim("n1", 2), claim("n2", 1)
		claim("n3", 1)
		// One of n1's tasks completes: it keeps its node, loses its lease.
		if _, err := js.TaskUpdateByLease(ctx(t), n1[0].LeaseID, func(r *store.TaskRecord) error {
			r.State, r.LeaseID = "completed", ""
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		got, err := js.TaskLeasedToNodes(ctx(t), []string{"n1", "n2", "n9"})
		if err != nil {
			t.Fatal(err)
		}
		var leases []string
		for _, r := range got {
			leases = append(leases, r.NodeID+":"+r.LeaseID)
		}
		slices.Sort(leases)
		want := []string{"n1:" + n1[1].LeaseID, "n2:" + n2[0].LeaseID}
		if !slices.Equal(leases, want) {
			t.Fatalf("leased to n1, n2, n9: %v, want %v", leases, want)
		}
		if got, err := js.TaskLeasedToNodes(ctx(t), nil); err != nil || len(got) != 0 {
			t.Fatalf("no nodes: %v %v", got, err)
		}
	})
	register("Task/Queued", func(t *testing.T, s store.Store) {
		js := jobStore(t, s)
		queued := func(pool string) bool {
			t.Helper()
			ok, err := js.TaskQueued(ctx(t), strings.ToUpper(jobAcct), pool)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		mkJob(t, js, "j", "p")
		if queued("p") {
			t.Fatal("a pool without tasks has work queued")
		}
		if _, _, err := js.TaskAdd(ctx(t), jobAcct, "j", []store.TaskRecord{{ID: "w", State: "active", RequiredSlots: 1, Waiting: true}}); err != nil {
			t.Fatal(err)
		}
		if queued("p") {
			t.Fatal("a task waiting on dependencies counts as queued")
		}
		addTasks(t, js, "j", "a")
		if !queued("P") || queued("other") {
			t.Fatalf("queued: p %v, other %v; want true, false", queued("P"), queued("other"))
		}
		if _, err := js.JobUpdate(ctx(t), jobAcct, "j", func(j *store.JobRecord) error { j.Dispatch = false; return nil }); err != nil {
			t.Fatal(err)
		}
		if queued("p") {
			t.Fatal("a task of a disabled job counts as queued")
		}
		if _, err := js.JobUpdate(ctx(t), jobAcct, "j", func(j *store.JobRecord) error { j.Dispatch = true; return nil }); err != nil {
			t.Fatal(err)
		}
		got, err := js.TaskClaim(ctx(t), store.ClaimParams{AccountKey: jobAcct, PoolKey: "p", NodeID: "n1", Limit: 10, State: "running", NewLeaseID: newLease}, pickAll)
		if err != nil || len(got) != 1 {
			t.Fatalf("claim: %v %v", got, err)
		}
		if queued("p") {
			t.Fatal("a claimed task counts as queued")
		}
	})
	register("Task/ListLeasedByNode", func(t *testing.T, s store.Store) {
		js := jobStore(t, s)
		mkJob(t, js, "j", "p")
		addTasks(t, js, "j", "a", "b", "c")
		got, err := js.TaskClaim(ctx(t), store.ClaimParams{AccountKey: jobAcct, PoolKey: "p", NodeID: "n1", Limit: 2, State: "running", NewLeaseID: newLease}, pickAll)
		if err != nil || len(got) != 2 {
			t.Fatalf("claim: %v %v", got, err)
		}
		if _, err := js.TaskClaim(ctx(t), store.ClaimParams{AccountKey: jobAcct, PoolKey: "p", NodeID: "n2", Limit: 1, State: "running", NewLeaseID: newLease}, pickAll); err != nil {
			t.Fatal(err)
		}
		// The first task completes on n1: it keeps its node, loses its lease.
		if _, err := js.TaskUpdateByLease(ctx(t), got[0].LeaseID, func(r *store.TaskRecord) error {
			r.State, r.LeaseID = "completed", ""
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		all, _, err := js.TaskList(ctx(t), store.TaskListParams{AccountKey: jobAcct, NodeID: "n1"})
		if err != nil || len(all) != 2 {
			t.Fatalf("node list: %v %v", all, err)
		}
		leased, _, err := js.TaskList(ctx(t), store.TaskListParams{AccountKey: jobAcct, NodeID: "n1", Leased: true})
		if err != nil || len(leased) != 1 || leased[0].Key != got[1].Key || leased[0].LeaseID != got[1].LeaseID {
			t.Fatalf("leased on n1: %+v %v, want only %s", leased, err, got[1].Key)
		}
		other, _, err := js.TaskList(ctx(t), store.TaskListParams{AccountKey: "other", NodeID: "n1", Leased: true})
		if err != nil || len(other) != 0 {
			t.Fatalf("leased on n1 in another account: %+v %v", other, err)
		}
	})
	register("Task/RequeueNode", func(t *testing.T, s store.Store) {
		js := jobStore(t, s)
		mkJob(t, js, "j", "p")
		addTasks(t, js, "j", "a", "b", "c")
		got, err := js.TaskClaim(ctx(t), store.ClaimParams{AccountKey: jobAcct, PoolKey: "p", NodeID: "n1", Limit: 2, State: "running", NewLeaseID: newLease}, pickAll)
		if err != nil || len(got) != 2 {
			t.Fatalf("claim: %v %v", got, err)
		}
		tl, _, err := js.TaskList(ctx(t), store.TaskListParams{AccountKey: jobAcct, NodeID: "n1"})
		if err != nil || len(tl) != 2 {
			t.Fatalf("node list: %v %v", tl, err)
		}
		req, err := js.TaskRequeueNode(ctx(t), "n1")
		if err != nil || len(req) != 2 {
			t.Fatalf("requeue: %v %v", req, err)
		}
		a, _ := js.TaskGet(ctx(t), jobAcct, "j", "a")
		if a.State != "active" || a.LeaseID != "" || a.NodeID != "" || a.RequeueCount != 1 || a.RetryCount != 0 || a.LastRequeueAt.IsZero() {
			t.Fatalf("after requeue: %+v", a)
		}
		got, err = js.TaskClaim(ctx(t), store.ClaimParams{AccountKey: jobAcct, PoolKey: "p", NodeID: "n2", Limit: 10, State: "running", NewLeaseID: newLease}, pickAll)
		if err != nil || len(got) != 3 || got[0].ID != "a" {
			t.Fatalf("claim after requeue: %v %v", got, err)
		}
	})
	register("Task/UpdateListDelete", func(t *testing.T, s store.Store) {
		js := jobStore(t, s)
		mkJob(t, js, "j", "p")
		addTasks(t, js, "j", "c", "a", "b")
		u, err := js.TaskUpdate(ctx(t), jobAcct, "j", "B", func(t *store.TaskRecord) error {
			t.State, t.Exec, t.RetainUntil = "completed", []byte(`{"e":1}`), time.Unix(50, 0)
			return nil
		})
		if err != nil || u.State != "completed" || string(u.Exec) != `{"e":1}` {
			t.Fatalf("update: %+v %v", u, err)
		}
		l, _, err := js.TaskList(ctx(t), store.TaskListParams{AccountKey: jobAcct, JobKey: "j", States: []string{"active"}})
		if err != nil || len(l) != 2 || l[0].ID != "a" || l[1].ID != "c" {
			t.Fatalf("filtered list: %v %v", l, err)
		}
		l, _, err = js.TaskList(ctx(t), store.TaskListParams{AccountKey: jobAcct, RetainedBefore: time.Unix(60, 0)})
		if err != nil || len(l) != 1 || l[0].ID != "b" {
			t.Fatalf("retention list: %v %v", l, err)
		}
		var ids []string
		tok := ""
		for {
			page, next, err := js.TaskList(ctx(t), store.TaskListParams{AccountKey: jobAcct, JobKey: "j", Page: store.Page{Limit: 1, Token: tok}})
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range page {
				ids = append(ids, x.ID)
			}
			if next == "" {
				break
			}
			tok = next
		}
		if fmt.Sprint(ids) != "[a b c]" {
			t.Fatalf("paged: %v", ids)
		}
		if err := js.TaskDelete(ctx(t), jobAcct, "j", "A"); err != nil {
			t.Fatal(err)
		}
		if err := js.TaskDelete(ctx(t), jobAcct, "j", "a"); !cobalt.IsCode(err, cobalt.ENotFound) {
			t.Fatalf("delete twice: %v", err)
		}
	})
	register("Task/UpdateWritesEachChangedField", func(t *testing.T, s store.Store) {
		// An update writes only the columns it changed: each field, changed
		// alone, must reach the store, and leave the others as they were.
		js := jobStore(t, s)
		mkJob(t, js, "j", "p")
		addTasks(t, js, "j", "x")
		at := func(sec int64) time.Time { return time.Unix(sec, 0).UTC() }
		changes := []struct {
			name string
			fn   func(*store.TaskRecord)
		}{
			{"id case", func(r *store.TaskRecord) { r.ID = "X" }},
			{"state", func(r *store.TaskRecord) { r.State = "running" }},
			{"requiredSlots", func(r *store.TaskRecord) { r.RequiredSlots = 3 }},
			{"result", func(r *store.TaskRecord) { r.Result = "failure" }},
			{"retryCount", func(r *store.TaskRecord) { r.RetryCount = 2 }},
			{"requeueCount", func(r *store.TaskRecord) { r.RequeueCount = 4 }},
			{"lastRequeueAt", func(r *store.TaskRecord) { r.LastRequeueAt = at(70) }},
			{"leaseId", func(r *store.TaskRecord) { r.LeaseID = "lease-x" }},
			{"nodeId", func(r *store.TaskRecord) { r.NodeID = "node-x" }},
			{"leaseExpiry", func(r *store.TaskRecord) { r.LeaseExpiry = at(80) }},
			{"retainUntil", func(r *store.TaskRecord) { r.RetainUntil = at(90) }},
			{"spec", func(r *store.TaskRecord) { r.Spec = []byte(`{"s":2}`) }},
			{"exec", func(r *store.TaskRecord) { r.Exec = []byte(`{"e":2}`) }},
			{"waiting", func(r *store.TaskRecord) { r.Waiting = true }},
			{"lease cleared", func(r *store.TaskRecord) { r.LeaseID, r.LeaseExpiry = "", time.Time{} }},
			{"waiting cleared", func(r *store.TaskRecord) { r.Waiting = false }},
		}
		want, err := js.TaskGet(ctx(t), jobAcct, "j", "x")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range changes {
			c.fn(&want)
			u, err := js.TaskUpdate(ctx(t), jobAcct, "j", "x", func(r *store.TaskRecord) error { c.fn(r); return nil })
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			want.Version, want.UpdatedAt, want.StateAt = u.Version, u.UpdatedAt, u.StateAt
			got, err := js.TaskGet(ctx(t), jobAcct, "j", "x")
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if g, w := fmt.Sprintf("%+v", taskFields(got)), fmt.Sprintf("%+v", taskFields(want)); g != w {
				t.Fatalf("after %s:\n got %s\nwant %s", c.name, g, w)
			}
		}
		if l, _, err := js.TaskList(ctx(t), store.TaskListParams{AccountKey: jobAcct, NodeID: "node-x"}); err != nil || len(l) != 1 {
			t.Fatalf("by node after the updates: %v %v", l, err)
		}
	})
	register("Task/ClaimAppliesLeaseUpdatesFirst", func(t *testing.T, s store.Store) {
		js := jobStore(t, s)
		mkJob(t, js, "j", "p")
		addTasks(t, js, "j", "a", "b", "c", "d", "e")
		params := func(limit int, before ...*store.LeaseUpdate) store.ClaimParams {
			return store.ClaimParams{AccountKey: jobAcct, PoolKey: "p", NodeID: "n1", Limit: limit, State: "running", NewLeaseID: newLease, Before: before}
		}
		got, err := js.TaskClaim(ctx(t), params(3), pickAll)
		if err != nil || len(got) != 3 {
			t.Fatalf("claim: %v %v", got, err)
		}
		la, lb, lc := got[0].LeaseID, got[1].LeaseID, got[2].LeaseID
		complete := func(r *store.TaskRecord) error { r.State, r.LeaseID, r.Result = "completed", "", "success"; return nil }
		refused := errors.New("refused by fn")

		// An update the store cannot write fails the whole claim: the
		// update before it is undone too, and nothing is claimed.
		first := &store.LeaseUpdate{LeaseID: la, Fn: complete}
		stealB := &store.LeaseUpdate{LeaseID: lb, Fn: func(r *store.TaskRecord) error { r.LeaseID = lc; return nil }}
		if got, err := js.TaskClaim(ctx(t), params(1, first, stealB), pickAll); err == nil || len(got) != 0 || first.Done || stealB.Done {
			t.Fatalf("a claim with a failing update: %v %v (done %v %v)", got, err, first.Done, stealB.Done)
		}
		if a, _ := js.TaskGet(ctx(t), jobAcct, "j", "a"); a.State != "running" || a.LeaseID != la {
			t.Fatalf("a failed claim kept an update: %+v", a)
		}

		done := &store.LeaseUpdate{LeaseID: la, Fn: complete}
		no := &store.LeaseUpdate{LeaseID: lb, Fn: func(*store.TaskRecord) error { return refused }}
		gone := &store.LeaseUpdate{LeaseID: "no-such-lease", Fn: complete}
		got, err = js.TaskClaim(ctx(t), params(1, done, no, gone), pickAll)
		if err != nil || len(got) != 1 || got[0].ID != "d" {
			t.Fatalf("claim after updates: %v %v", got, err)
		}
		if !done.Done || done.Err != nil || !no.Done || !errors.Is(no.Err, refused) || !gone.Done || !cobalt.IsCode(gone.Err, cobalt.ENotFound) {
			t.Fatalf("rulings: %+v %+v %+v", done, no, gone)
		}
		if a, _ := js.TaskGet(ctx(t), jobAcct, "j", "a"); a.State != "completed" || a.LeaseID != "" {
			t.Fatalf("a after its update: %+v", a)
		}
		if b, _ := js.TaskGet(ctx(t), jobAcct, "j", "b"); b.State != "running" || b.LeaseID != lb {
			t.Fatalf("b after a refused update: %+v", b)
		}

		// Without a limit, a claim applies only its updates.
		onlyB := &store.LeaseUpdate{LeaseID: lb, Fn: complete}
		if got, err := js.TaskClaim(ctx(t), params(0, onlyB), pickAll); err != nil || len(got) != 0 || !onlyB.Done || onlyB.Err != nil {
			t.Fatalf("updates alone: %v %v %+v", got, err, onlyB)
		}
		if b, _ := js.TaskGet(ctx(t), jobAcct, "j", "b"); b.State != "completed" {
			t.Fatalf("b after its update: %+v", b)
		}
		if e, _ := js.TaskGet(ctx(t), jobAcct, "j", "e"); e.State != "active" {
			t.Fatalf("an update-only claim claimed e: %+v", e)
		}
	})
	register("Task/ConcurrentClaimsNeverOverlap", func(t *testing.T, s store.Store) {
		js := jobStore(t, s)
		mkJob(t, js, "j", "p")
		var ids []string
		for i := range 200 {
			ids = append(ids, fmt.Sprintf("t%03d", i))
		}
		addTasks(t, js, "j", ids...)
		var mu sync.Mutex
		claimed := map[string]string{}
		var wg sync.WaitGroup
		for n := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				node := fmt.Sprintf("n%d", n)
				for {
					got, err := js.TaskClaim(ctx(t), store.ClaimParams{AccountKey: jobAcct, PoolKey: "p", NodeID: node, Limit: 3, State: "running", NewLeaseID: newLease}, pickAll)
					if err != nil {
						t.Error(err)
						return
					}
					if len(got) == 0 {
						any, err := js.TaskAnyIncomplete(ctx(t), jobAcct, "j")
						if err != nil || !any {
							return
						}
						l, _, _ := js.TaskList(ctx(t), store.TaskListParams{AccountKey: jobAcct, JobKey: "j", States: []string{"active"}, Page: store.Page{Limit: 1}})
						if len(l) == 0 {
							return
						}
						continue
					}
					mu.Lock()
					for _, x := range got {
						if prev, dup := claimed[x.ID]; dup {
							t.Errorf("task %s claimed by %s and %s", x.ID, prev, node)
						}
						claimed[x.ID] = node
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(claimed) != 200 {
			keys := make([]string, 0, len(claimed))
			for k := range claimed {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			t.Fatalf("claimed %d tasks, want 200", len(claimed))
		}
	})
}

func init() {
	register("Task/WaitingNeverClaimed", func(t *testing.T, s store.Store) {
		js := jobStore(t, s)
		mkJob(t, js, "dag", "p")
		out, errs, err := js.TaskAdd(ctx(t), jobAcct, "dag", []store.TaskRecord{
			{ID: "root", State: "active", RequiredSlots: 1},
			{ID: "mid", State: "active", RequiredSlots: 1, Waiting: true},
			{ID: "sink", State: "active", RequiredSlots: 1, Waiting: true},
		})
		if err != nil || errs[0] != nil || errs[1] != nil || errs[2] != nil {
			t.Fatalf("add: %v %v", errs, err)
		}
		if out[0].Waiting || !out[1].Waiting {
			t.Fatalf("added %+v", out)
		}
		if got, err := js.TaskGet(ctx(t), jobAcct, "dag", "mid"); err != nil || !got.Waiting || got.State != "active" {
			t.Fatalf("get waiting: %+v %v", got, err)
		}
		claim := func() []string {
			var offered []string
			got, err := js.TaskClaim(ctx(t), store.ClaimParams{AccountKey: jobAcct, PoolKey: "p", NodeID: "n1", Limit: 10, State: "running", NewLeaseID: newLease},
				func(c []store.TaskCandidate) []int {
					for _, x := range c {
						offered = append(offered, x.Key)
					}
					return pickAll(c)
				})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(offered) {
				t.Fatalf("claimed %d of %d offered", len(got), len(offered))
			}
			return offered
		}
		if got := claim(); fmt.Sprint(got) != "[root]" {
			t.Fatalf("offered %v, want only the task that does not wait", got)
		}
		w, next, err := js.TaskList(ctx(t), store.TaskListParams{AccountKey: jobAcct, JobKey: "dag", Waiting: true, Page: store.Page{Limit: 1}})
		if err != nil || len(w) != 1 || w[0].ID != "mid" || next == "" {
			t.Fatalf("waiting page 1: %+v %q %v", w, next, err)
		}
		w, next, err = js.TaskList(ctx(t), store.TaskListParams{AccountKey: jobAcct, JobKey: "dag", Waiting: true, Page: store.Page{Limit: 1, Token: next}})
		if err != nil || len(w) != 1 || w[0].ID != "sink" || next != "" {
			t.Fatalf("waiting page 2: %+v %q %v", w, next, err)
		}
		// Clearing the flag queues the task; the other stays out.
		u, err := js.TaskUpdate(ctx(t), jobAcct, "dag", "mid", func(r *store.TaskRecord) error { r.Waiting = false; return nil })
		if err != nil || u.Waiting {
			t.Fatalf("unblock: %+v %v", u, err)
		}
		if got := claim(); fmt.Sprint(got) != "[mid]" {
			t.Fatalf("offered %v after unblocking mid", got)
		}
		if got := claim(); len(got) != 0 {
			t.Fatalf("offered %v while sink waits", got)
		}
		w, _, err = js.TaskList(ctx(t), store.TaskListParams{AccountKey: jobAcct, JobKey: "dag", Waiting: true})
		if err != nil || len(w) != 1 || w[0].ID != "sink" {
			t.Fatalf("waiting after unblock: %+v %v", w, err)
		}
	})
}

// taskFields is r with its times in UTC, for comparing records as text.
func taskFields(r store.TaskRecord) store.TaskRecord {
	for _, p := range []*time.Time{&r.StateAt, &r.LastRequeueAt, &r.LeaseExpiry, &r.RetainUntil, &r.CreatedAt, &r.UpdatedAt} {
		if !p.IsZero() {
			*p = time.Unix(0, p.UnixNano()).UTC()
		}
	}
	return r
}
