package storetest

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

func scheduleStore(t *testing.T, s store.Store) store.ScheduleStore {
	ss, ok := any(s).(store.ScheduleStore)
	if !ok {
		t.Fatal("the store does not implement store.ScheduleStore")
	}
	return ss
}

func init() {
	register("Schedule/CRUD", func(t *testing.T, s store.Store) {
		ss := scheduleStore(t, s)
		wake := time.Unix(1_700_000_000, 0).UTC()
		r, err := ss.ScheduleCreate(ctx(t), store.ScheduleRecord{AccountKey: jobAcct, ID: "Nightly", State: "active", WakeAt: wake, Spec: []byte(`{"a":1}`)})
		if err != nil {
			t.Fatal(err)
		}
		if r.Key != "nightly" || r.Version != 1 {
			t.Fatalf("created %+v", r)
		}
		if _, err := ss.ScheduleCreate(ctx(t), store.ScheduleRecord{AccountKey: jobAcct, ID: "NIGHTLY", State: "active"}); !cobalt.IsCode(err, cobalt.EConflict) {
			t.Fatalf("duplicate: %v, want EConflict", err)
		}
		g, err := ss.ScheduleGet(ctx(t), jobAcct, "nIGHTLY")
		if err != nil {
			t.Fatal(err)
		}
		if g.ID != "Nightly" || !g.WakeAt.Equal(wake) || string(g.Spec) != `{"a":1}` || g.State != "active" {
			t.Fatalf("got %+v", g)
		}
		u, err := ss.ScheduleUpdate(ctx(t), jobAcct, "nightly", func(r *store.ScheduleRecord) error {
			r.State, r.WakeAt, r.Spec, r.ID = "disabled", time.Time{}, []byte(`{"a":2}`), "renamed"
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if u.Version != 2 || u.ID != "Nightly" || u.State != "disabled" || !u.WakeAt.IsZero() {
			t.Fatalf("updated %+v", u)
		}
		boom := errors.New("boom")
		if _, err := ss.ScheduleUpdate(ctx(t), jobAcct, "nightly", func(r *store.ScheduleRecord) error { r.State = "x"; return boom }); !errors.Is(err, boom) {
			t.Fatalf("fn error: %v", err)
		}
		if g, _ := ss.ScheduleGet(ctx(t), jobAcct, "nightly"); g.State != "disabled" || g.Version != 2 {
			t.Fatalf("a failed update wrote: %+v", g)
		}
		if _, err := ss.ScheduleUpdate(ctx(t), jobAcct, "missing", func(*store.ScheduleRecord) error { return nil }); !cobalt.IsCode(err, cobalt.ENotFound) {
			t.Fatalf("update missing: %v", err)
		}
		if err := ss.ScheduleDelete(ctx(t), jobAcct, "NIGHTLY"); err != nil {
			t.Fatal(err)
		}
		if err := ss.ScheduleDelete(ctx(t), jobAcct, "nightly"); !cobalt.IsCode(err, cobalt.ENotFound) {
			t.Fatalf("delete twice: %v", err)
		}
		if _, err := ss.ScheduleGet(ctx(t), jobAcct, "nightly"); !cobalt.IsCode(err, cobalt.ENotFound) {
			t.Fatalf("get deleted: %v", err)
		}
	})

	register("Schedule/ListAndDue", func(t *testing.T, s store.Store) {
		ss := scheduleStore(t, s)
		base := time.Unix(1_700_000_000, 0).UTC()
		other := jobAcct + "2"
		mk := func(acct, id, state string, wake time.Time) {
			if _, err := ss.ScheduleCreate(ctx(t), store.ScheduleRecord{AccountKey: acct, ID: id, State: state, WakeAt: wake}); err != nil {
				t.Fatal(err)
			}
		}
		mk(jobAcct, "s3", "active", base.Add(3*time.Second))
		mk(jobAcct, "s1", "active", base.Add(1*time.Second))
		mk(jobAcct, "s2", "disabled", base)
		mk(jobAcct, "s4", "active", time.Time{})
		mk(other, "s5", "active", base.Add(2*time.Second))
		mk(jobAcct, "s6", "active", base.Add(time.Hour))

		var ids []string
		tok := ""
		for {
			page, next, err := ss.ScheduleList(ctx(t), store.ScheduleListParams{AccountKey: jobAcct, Page: store.Page{Limit: 2, Token: tok}})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range page {
				ids = append(ids, r.ID)
			}
			if next == "" {
				break
			}
			tok = next
		}
		if got := join(ids); got != "s1,s2,s3,s4,s6" {
			t.Fatalf("list = %s", got)
		}
		page, _, err := ss.ScheduleList(ctx(t), store.ScheduleListParams{AccountKey: jobAcct, States: []string{"disabled"}})
		if err != nil || len(page) != 1 || page[0].ID != "s2" {
			t.Fatalf("list disabled = %+v, %v", page, err)
		}
		all, _, err := ss.ScheduleList(ctx(t), store.ScheduleListParams{})
		if err != nil || len(all) != 6 {
			t.Fatalf("list all accounts = %d, %v", len(all), err)
		}
		due, err := ss.ScheduleDue(ctx(t), base.Add(3*time.Second), 10)
		if err != nil {
			t.Fatal(err)
		}
		ids = nil
		for _, r := range due {
			ids = append(ids, r.ID)
		}
		if got := join(ids); got != "s1,s5,s3" {
			t.Fatalf("due = %s, want s1,s5,s3 (active, wake set, earliest first)", got)
		}
		if due, _ := ss.ScheduleDue(ctx(t), base.Add(3*time.Second), 1); len(due) != 1 || due[0].ID != "s1" {
			t.Fatalf("due limit 1 = %+v", due)
		}
	})

	register("Schedule/UpdateIsCompareAndSwap", func(t *testing.T, s store.Store) {
		ss := scheduleStore(t, s)
		if _, err := ss.ScheduleCreate(ctx(t), store.ScheduleRecord{AccountKey: jobAcct, ID: "cas", State: "active", Spec: []byte(`0`)}); err != nil {
			t.Fatal(err)
		}
		// Each writer advances the counter in Spec only if it reads the value
		// it expects; concurrent writers never both advance from one value.
		const writers, rounds = 4, 10
		var wg sync.WaitGroup
		var mu sync.Mutex
		advanced := map[string]int{}
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range rounds {
					var from string
					_, err := ss.ScheduleUpdate(ctx(t), jobAcct, "cas", func(r *store.ScheduleRecord) error {
						from = string(r.Spec)
						r.Spec = []byte(string(r.Spec) + "+")
						return nil
					})
					if err != nil && !cobalt.IsCode(err, cobalt.EPreconditionFailed) {
						t.Errorf("writer %d: %v", w, err)
						return
					}
					if err == nil {
						mu.Lock()
						advanced[from]++
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		for from, n := range advanced {
			if n != 1 {
				t.Fatalf("%d writers advanced from %q", n, from)
			}
		}
		r, _ := ss.ScheduleGet(ctx(t), jobAcct, "cas")
		if int(r.Version)-1 != len(advanced) {
			t.Fatalf("version %d after %d successful updates", r.Version, len(advanced))
		}
	})
}

func join(ids []string) string { return strings.Join(ids, ",") }

func init() {
	register("Job/ListByIDPrefix", func(t *testing.T, s store.Store) {
		js := jobStore(t, s)
		for _, id := range []string{"Sched:job-1", "sched:job-2", "schedx", "other", "sched2:job-1"} {
			mkJob(t, js, id, "p")
		}
		page, _, err := js.JobList(ctx(t), store.JobListParams{AccountKey: jobAcct, IDPrefix: "SCHED:"})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, j := range page {
			ids = append(ids, j.ID)
		}
		if got := join(ids); got != "Sched:job-1,sched:job-2" {
			t.Fatalf("jobs with prefix = %s", got)
		}
	})
}
