package storetest

import (
	"testing"

	"github.com/cobaltbatch/cobalt/internal/store"
)

func init() {
	register("Job/TaskInstances", func(t *testing.T, s store.Store) {
		js := jobStore(t, s)
		mkJob(t, js, "j", "p")
		out, errs, err := js.TaskAdd(ctx(t), jobAcct, "j", []store.TaskRecord{
			{ID: "single", State: "active", RequiredSlots: 1},
			{ID: "gang", State: "active", RequiredSlots: 1, Instances: 3},
		})
		if err != nil || errs[0] != nil || errs[1] != nil {
			t.Fatalf("add: %v %v", err, errs)
		}
		if out[0].Instances != 1 || out[1].Instances != 3 {
			t.Fatalf("added instances: %d %d, want 1 3", out[0].Instances, out[1].Instances)
		}
		var cands []store.TaskCandidate
		got, err := js.TaskClaim(ctx(t), store.ClaimParams{AccountKey: jobAcct, PoolKey: "p", NodeID: "n", Limit: 10, State: "running", NewLeaseID: newLease},
			func(c []store.TaskCandidate) []int { cands = append(cands, c...); return []int{1} })
		if err != nil || len(got) != 1 || got[0].ID != "gang" || got[0].Instances != 3 {
			t.Fatalf("claim: %+v %v", got, err)
		}
		if len(cands) != 2 || cands[0].Instances != 1 || cands[1].Instances != 3 {
			t.Fatalf("candidates: %+v", cands)
		}
		// An update keeps the count whatever the closure does to it.
		u, err := js.TaskUpdate(ctx(t), jobAcct, "j", "gang", func(r *store.TaskRecord) error { r.Instances = 9; return nil })
		if err != nil || u.Instances != 3 {
			t.Fatalf("update: %d %v", u.Instances, err)
		}
		g, err := js.TaskGet(ctx(t), jobAcct, "j", "gang")
		if err != nil || g.Instances != 3 {
			t.Fatalf("get: %d %v", g.Instances, err)
		}
	})
}
