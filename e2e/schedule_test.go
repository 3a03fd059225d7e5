package e2e

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/batch/azbatch"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/cobaltbatch/cobalt/internal/server"
)

// testClock is the server's clock, moved by the test.
type testClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.off) }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// scheduleJobs waits until the schedule's recent job is want (its sweep
// runs every few seconds) and returns every job it created.
func scheduleJobs(t *testing.T, c context.Context, bc *azbatch.Client, id, want string) []string {
	t.Helper()
	for {
		s, err := bc.GetJobSchedule(c, id, nil)
		if err != nil {
			t.Fatalf("GetJobSchedule: %v", err)
		}
		if ei := s.ExecutionInfo; ei != nil && ei.RecentJob != nil && *ei.RecentJob.ID == want {
			break
		}
		select {
		case <-c.Done():
			t.Fatalf("the schedule did not create %s", want)
		case <-time.After(200 * time.Millisecond):
		}
	}
	var ids []string
	for pg := bc.NewListJobsFromSchedulePager(id, nil); pg.More(); {
		page, err := pg.NextPage(c)
		if err != nil {
			t.Fatalf("ListJobsFromSchedule: %v", err)
		}
		for _, j := range page.Value {
			ids = append(ids, *j.ID)
		}
	}
	return ids
}

// TestScheduleAcrossRestart runs `cobalt up` on a clock the test moves: a
// schedule recurring every minute creates a job per minute, and after the
// server was down for five minutes and a half it creates one job on start,
// not one per minute missed (Batch's startWindow rule).
func TestScheduleAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	clk := &testClock{}
	opts := server.Options{DataDir: dir, Isolation: "process", Now: clk.Now}
	e := startWith(t, opts)
	c := ctx(t)
	rgs, err := armresources.NewResourceGroupsClient(e.EP.SubscriptionID, e.Admin(), e.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rgs.CreateOrUpdate(c, "sched", armresources.ResourceGroup{Location: to.Ptr(e.EP.Location)}, nil); err != nil {
		t.Fatal(err)
	}
	var out struct {
		Account struct {
			AccountEndpoint string `json:"accountEndpoint"`
		} `json:"account"`
	}
	e.node("batchpool.js", map[string]any{"resourceGroup": "sched", "account": "schedacct", "pool": "schedpool", "location": e.EP.Location,
		"poolBody": poolBody(0)}, &out)
	endpoint := out.Account.AccountEndpoint
	bc := e.batchClient(t, endpoint)
	if _, err := bc.CreateJobSchedule(c, azbatch.CreateJobScheduleContent{ID: to.Ptr("minutely"),
		Schedule:         &azbatch.JobScheduleConfiguration{RecurrenceInterval: to.Ptr("PT1M")},
		JobSpecification: &azbatch.JobSpecification{PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr("schedpool")}}}, nil); err != nil {
		t.Fatalf("CreateJobSchedule: %v", err)
	}
	if ids := scheduleJobs(t, c, bc, "minutely", "minutely:job-1"); !slices.Equal(ids, []string{"minutely:job-1"}) {
		t.Fatalf("jobs %v", ids)
	}
	if _, err := bc.TerminateJob(c, "minutely:job-1", nil); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Minute)
	if ids := scheduleJobs(t, c, bc, "minutely", "minutely:job-2"); !slices.Equal(ids, []string{"minutely:job-1", "minutely:job-2"}) {
		t.Fatalf("jobs %v", ids)
	}
	if _, err := bc.TerminateJob(c, "minutely:job-2", nil); err != nil {
		t.Fatal(err)
	}
	if err := e.Server.Close(); err != nil {
		t.Fatal(err)
	}

	clk.Add(5*time.Minute + 30*time.Second)
	e2 := startWith(t, opts)
	bc = e2.batchClient(t, endpoint)
	ids := scheduleJobs(t, c, bc, "minutely", "minutely:job-3")
	if !slices.Equal(ids, []string{"minutely:job-1", "minutely:job-2", "minutely:job-3"}) {
		t.Fatalf("after the downtime the schedule created %v", ids)
	}
	// The next job is due in the future of the (stopped) clock: none more.
	s, err := bc.GetJobSchedule(c, "minutely", nil)
	if err != nil {
		t.Fatal(err)
	}
	if nr := s.ExecutionInfo.NextRunTime; nr == nil || !nr.After(clk.Now()) || nr.Sub(clk.Now()) > time.Minute {
		t.Fatalf("nextRunTime %v, now %s", nr, clk.Now())
	}
}
