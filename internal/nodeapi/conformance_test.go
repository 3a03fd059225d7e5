package nodeapi

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
	"github.com/cobaltbatch/cobalt/internal/nodeproto/nodeprototest"
)

// TestNodeProtocolConformance runs the node protocol's conformance suite
// against the real node API, over the real pool and jobs services.
func TestNodeProtocolConformance(t *testing.T) {
	t.Parallel()
	f := newJobsFixture(t)
	for _, id := range []string{idA, idB, idC} {
		n := id[strings.LastIndex(id, "/")+1:]
		f.dir.ids[strings.ToLower(id)] = cobalt.Principal{ObjectID: "oid-" + n, ClientID: "cid-" + n, TenantID: "t1", ResourceID: id}
	}
	var (
		mu    sync.Mutex // the fixture's pool puts reconcile; one at a time
		pools int
	)
	sets := [][]string{nil, {idA}, {idB, idC}}
	nodeprototest.Run(t, nodeprototest.Target{
		BaseURL: f.srv.URL,
		Client:  f.srv.Client(),
		NewNode: func(t *testing.T, identities int) nodeprototest.Node {
			t.Helper()
			if identities < 0 || identities >= len(sets) {
				t.Fatalf("no identity set of %d", identities)
			}
			mu.Lock()
			defer mu.Unlock()
			pools++
			pool := fmt.Sprintf("conf%d", pools)
			f.put(t, pool, poolBody(1, sets[identities]...))
			ls := f.nl.of(pool)
			if len(ls) != 1 {
				t.Fatalf("pool %s launched %d nodes", pool, len(ls))
			}
			n := nodeprototest.Node{ID: ls[0].NodeID, PoolID: pool, Credential: ls[0].Credential}
			for _, id := range sets[identities] {
				p, err := f.dir.LookupIdentity(t.Context(), id)
				if err != nil {
					t.Fatal(err)
				}
				n.Identities = append(n.Identities, nodeproto.Identity{ResourceID: id, ClientID: p.ClientID, PrincipalID: p.ObjectID})
			}
			return n
		},
		Enqueue: func(t *testing.T, n nodeprototest.Node, taskID, commandLine string) {
			t.Helper()
			ctx := context.Background()
			job := "job-" + strings.ToLower(n.PoolID)
			if _, err := f.jobs.AddJob(ctx, f.acct.Key(), cobalt.JobSpec{ID: job, PoolInfo: &cobalt.PoolInformation{PoolID: n.PoolID}}); err != nil {
				t.Fatal(err)
			}
			if _, err := f.jobs.AddTask(ctx, f.acct.Key(), job, cobalt.TaskSpec{ID: taskID, CommandLine: commandLine}); err != nil {
				t.Fatal(err)
			}
		},
	})
}
