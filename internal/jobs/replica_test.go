package jobs

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
	"github.com/cobaltbatch/cobalt/internal/store/postgres"
	"github.com/cobaltbatch/cobalt/internal/store/storetest"
)

// TestTwoReplicasOnPostgres runs two Services, each with its own connection
// pool and its own four agents, on one PostgreSQL database, dispatching one
// job's tasks concurrently: every task runs exactly once.
func TestTwoReplicasOnPostgres(t *testing.T) {
	base := storetest.PostgresURL(t) // skips when TEST_POSTGRES_URL is unset
	url := storetest.NewPostgresSchema(t, base)
	var svcs []*Service
	for range 2 {
		st, err := postgres.Open(t.Context(), url, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		svcs = append(svcs, newService(t, st, Config{PollInterval: 20 * time.Millisecond}))
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if _, err := svcs[0].AddJob(ctx, acct, cobalt.JobSpec{ID: "j", PoolInfo: &cobalt.PoolInformation{PoolID: "pool1"}}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	runs := map[string][]string{}
	var wg sync.WaitGroup
	for r, s := range svcs {
		for n := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				node := cobalt.NodeRef{AccountID: acct, PoolID: "pool1", NodeID: fmt.Sprintf("r%d-n%d", r, n)}
				fakeAgent(ctx, s, node, 4, func(l nodeproto.TaskLease) {
					mu.Lock()
					runs[l.TaskID] = append(runs[l.TaskID], node.NodeID)
					mu.Unlock()
				})
			}()
		}
	}
	const total = 600
	// Submit through both replicas.
	for b := range total / 100 {
		var specs []cobalt.TaskSpec
		for i := range 100 {
			specs = append(specs, cobalt.TaskSpec{ID: fmt.Sprintf("t%04d", b*100+i), CommandLine: "exit 0"})
		}
		if _, err := svcs[b%2].AddTaskCollection(ctx, acct, "j", specs); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "all tasks to complete", func() bool {
		c, err := svcs[1].JobTaskCounts(ctx, acct, "j")
		return err == nil && c.TaskCounts.Completed == total
	})
	cancel()
	wg.Wait()
	perReplica := map[byte]int{}
	for id, nodes := range runs {
		if len(nodes) != 1 {
			t.Errorf("task %s ran %d times: %v", id, len(nodes), nodes)
		}
		perReplica[nodes[0][1]]++
	}
	if len(runs) != total {
		t.Fatalf("%d tasks ran, want %d", len(runs), total)
	}
	t.Logf("tasks dispatched per replica: %v", perReplica)
	c, _ := svcs[0].JobTaskCounts(t.Context(), acct, "j")
	if c.TaskCounts.Succeeded != total {
		t.Fatalf("counts %+v", c)
	}
}
