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

// TestDiamondTwoReplicasOnPostgres runs a 300-task diamond (1 root, 298
// middle tasks, 1 sink; the 1,000-task diamond runs in-process on SQLite and
// end to end on real nodes) with two Services on one PostgreSQL database, each
// with its own agents and each taking half of the add collections: releases
// of dependents run in both replicas, and every task still starts only after
// its dependencies ended, exactly once.
func TestDiamondTwoReplicasOnPostgres(t *testing.T) {
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
	if _, err := svcs[0].AddJob(ctx, acct, cobalt.JobSpec{ID: "d", PoolInfo: &cobalt.PoolInformation{PoolID: "pool1"},
		UsesTaskDependencies: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	const middle = 298
	specs := []cobalt.TaskSpec{{ID: "sink", CommandLine: "exit 0", DependsOn: &cobalt.TaskDependencies{TaskIDRanges: []cobalt.TaskIDRange{{Start: 1, End: middle}}}}}
	for i := 1; i <= middle; i++ {
		specs = append(specs, cobalt.TaskSpec{ID: fmt.Sprint(i), CommandLine: "exit 0", DependsOn: &cobalt.TaskDependencies{TaskIDs: []string{"root"}}})
	}
	specs = append(specs, cobalt.TaskSpec{ID: "root", CommandLine: "exit 0"})
	for b := 0; len(specs) > 0; b++ {
		n := min(len(specs), MaxTaskCollection)
		if _, err := svcs[b%2].AddTaskCollection(ctx, acct, "d", specs[:n]); err != nil {
			t.Fatal(err)
		}
		specs = specs[n:]
	}
	r := &depRun{start: map[string]time.Time{}, end: map[string]time.Time{}}
	var wg sync.WaitGroup
	for i, s := range svcs {
		for n := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.agent(ctx, s, cobalt.NodeRef{AccountID: acct, PoolID: "pool1", NodeID: fmt.Sprintf("r%d-n%d", i, n)}, 4)
			}()
		}
	}
	waitFor(t, "all tasks to complete", func() bool {
		c, err := svcs[1].JobTaskCounts(ctx, acct, "d")
		return err == nil && c.TaskCounts.Completed == middle+2
	})
	cancel()
	wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.order) != middle+2 || r.order[0] != "root" || r.order[middle+1] != "sink" {
		t.Fatalf("ran %d tasks (each once: %d distinct)", len(r.order), len(r.start))
	}
	for i := 1; i <= middle; i++ {
		id := fmt.Sprint(i)
		if r.start[id].Before(r.end["root"]) || r.start["sink"].Before(r.end[id]) {
			t.Fatalf("task %s ran out of dependency order", id)
		}
	}
}
