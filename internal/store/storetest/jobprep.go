package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/store"
)

func init() {
	register("JobPrep/ReleasesOfNodes", func(t *testing.T, s store.Store) {
		for _, x := range []struct{ job, node, release string }{
			{"j1", "n1", "pending"}, {"j2", "n1", ""}, {"j3", "n1", "completed"}, {"j1", "n2", "pending"}, {"j1", "n3", "pending"},
		} {
			if _, err := s.JobPrepUpdate(ctx(t), jobAcct, x.job, x.node, func(r *store.JobPrepRecord) error {
				r.PoolKey, r.ReleaseState, r.Info = "pool", x.release, []byte(`{}`)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.JobPrepReleasesOf(ctx(t), []string{"n1", "n2", "n9"})
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, r := range got {
			keys = append(keys, r.JobKey+"@"+r.NodeID)
		}
		slices.Sort(keys)
		if fmt.Sprint(keys) != "[j1@n1 j1@n2]" {
			t.Fatalf("pending releases of n1, n2, n9: %v, want [j1@n1 j1@n2]", keys)
		}
		if got, err := s.JobPrepReleasesOf(ctx(t), nil); err != nil || len(got) != 0 {
			t.Fatalf("no nodes: %v %v", got, err)
		}
	})
	register("JobPrep/UpdateListRelease", func(t *testing.T, s store.Store) {
		set := func(job, node string, blocked bool) store.JobPrepRecord {
			t.Helper()
			r, err := s.JobPrepUpdate(ctx(t), jobAcct, job, node, func(r *store.JobPrepRecord) error {
				r.PoolKey, r.Blocked, r.Info = "pool", blocked, []byte(`{"n":"`+node+`"}`)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		a := set("Job1", "n1", false)
		if a.Version != 1 || a.JobKey != "job1" || a.CreatedAt.IsZero() {
			t.Fatalf("created %+v", a)
		}
		if b := set("job1", "n1", true); b.Version != 2 || !b.Blocked || !b.CreatedAt.Equal(a.CreatedAt) {
			t.Fatalf("updated %+v", b)
		}
		set("job1", "n2", false)
		set("job2", "n1", false)
		boom := errors.New("boom")
		if _, err := s.JobPrepUpdate(ctx(t), jobAcct, "job3", "n1", func(*store.JobPrepRecord) error { return boom }); !errors.Is(err, boom) {
			t.Fatalf("fn error: %v", err)
		}
		list := func(p store.JobPrepListParams) []store.JobPrepRecord {
			t.Helper()
			var out []store.JobPrepRecord
			for {
				recs, next, err := s.JobPrepList(ctx(t), p)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, recs...)
				if next == "" {
					return out
				}
				p.Page.Token = next
			}
		}
		if got := list(store.JobPrepListParams{AccountKey: jobAcct, Page: store.Page{Limit: 1}}); len(got) != 3 {
			t.Fatalf("paged list: %d records, want 3 (job3's failed update must write nothing)", len(got))
		}
		if got := list(store.JobPrepListParams{AccountKey: jobAcct, JobKey: "JOB1"}); len(got) != 2 || got[0].NodeID != "n1" || got[1].NodeID != "n2" {
			t.Fatalf("job1's records: %+v", got)
		}
		if got := list(store.JobPrepListParams{NodeID: "n1", BlockedOnly: true}); len(got) != 1 || got[0].JobKey != "job1" || string(got[0].Info) != `{"n":"n1"}` {
			t.Fatalf("blocked on n1: %+v", got)
		}
		n, err := s.JobPrepMarkRelease(ctx(t), jobAcct, "job1")
		if err != nil || n != 2 {
			t.Fatalf("mark release: %d, %v", n, err)
		}
		if n, _ := s.JobPrepMarkRelease(ctx(t), jobAcct, "job1"); n != 0 {
			t.Fatalf("marked again: %d", n)
		}
		if got := list(store.JobPrepListParams{NodeID: "n2", ReleaseState: "pending"}); len(got) != 1 || got[0].JobKey != "job1" {
			t.Fatalf("pending on n2: %+v", got)
		}
		// Retention deadlines: set, listed when due, cleared.
		for node, at := range map[string]int64{"n1": 50, "n2": 70} {
			if _, err := s.JobPrepUpdate(ctx(t), jobAcct, "job1", node, func(r *store.JobPrepRecord) error {
				r.RetainUntil = time.Unix(at, 0)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		if got := list(store.JobPrepListParams{RetainedBefore: time.Unix(60, 0)}); len(got) != 1 || got[0].NodeID != "n1" ||
			!got[0].RetainUntil.Equal(time.Unix(50, 0)) || got[0].ReleaseState != "pending" {
			t.Fatalf("due at 60: %+v", got)
		}
		if _, err := s.JobPrepUpdate(ctx(t), jobAcct, "job1", "n1", func(r *store.JobPrepRecord) error {
			r.RetainUntil = time.Time{}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if got := list(store.JobPrepListParams{RetainedBefore: time.Unix(100, 0)}); len(got) != 1 || got[0].NodeID != "n2" {
			t.Fatalf("due at 100 after n1's was cleared: %+v", got)
		}
		if err := s.JobPrepDelete(ctx(t), jobAcct, "job1", "n2"); err != nil {
			t.Fatal(err)
		}
		if got := list(store.JobPrepListParams{AccountKey: jobAcct, JobKey: "job1"}); len(got) != 1 {
			t.Fatalf("after one delete: %+v", got)
		}
		if err := s.JobPrepDelete(ctx(t), jobAcct, "job1", ""); err != nil {
			t.Fatal(err)
		}
		if got := list(store.JobPrepListParams{AccountKey: jobAcct}); len(got) != 1 || got[0].JobKey != "job2" {
			t.Fatalf("after deleting job1: %+v", got)
		}
	})
}
