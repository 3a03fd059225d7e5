package sdktest

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/batch/azbatch"
	cobalt "github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/batch"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
	"github.com/cobaltbatch/cobalt/internal/rbac"
	"github.com/cobaltbatch/cobalt/internal/testenv"
)

// statsNode plays a node whose tasks each run 1.5 s by the times it
// reports; a task whose ID starts with "fail" exits with 1.
func (e *env) statsNode(ctx context.Context, poolID, nodeID string) {
	ref := cobalt.NodeRef{AccountID: strings.ToLower(e.accountID), PoolID: poolID, NodeID: nodeID}
	for ctx.Err() == nil {
		leases, err := e.jobs.Lease(ctx, ref, 4, 500*time.Millisecond)
		if err != nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		for _, l := range leases {
			start := time.Now().UTC().Add(-2 * time.Second)
			end := start.Add(1500 * time.Millisecond)
			code := 0
			if strings.HasPrefix(l.TaskID, "fail") {
				code = 1
			}
			_ = e.jobs.Report(ctx, ref, nodeproto.ReportRequest{NodeID: nodeID, LeaseID: l.LeaseID, Event: "started", StartTime: start})
			_ = e.jobs.Report(ctx, ref, nodeproto.ReportRequest{NodeID: nodeID, LeaseID: l.LeaseID, Event: "completed",
				StartTime: start, EndTime: &end, ExitCode: &code})
		}
	}
}

// runStatsLoad makes pool "stats" (one node), job "work" with three tasks
// that succeed and one that fails after one retry, and waits until they
// complete.
func (e *env) runStatsLoad(ctx context.Context, c *azbatch.Client) {
	t := e.t
	if _, err := c.CreatePool(ctx, testPool("stats", 1), nil); err != nil {
		t.Fatalf("CreatePool: %v", err)
	}
	if _, err := c.CreateJob(ctx, azbatch.CreateJobContent{ID: to.Ptr("work"), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr("stats")}}, nil); err != nil {
		t.Fatalf("CreateJob: %v", err)
	}
	group := azbatch.TaskGroup{}
	for _, id := range []string{"ok1", "ok2", "ok3"} {
		group.Value = append(group.Value, azbatch.CreateTaskContent{ID: to.Ptr(id), CommandLine: to.Ptr("/bin/true")})
	}
	group.Value = append(group.Value, azbatch.CreateTaskContent{ID: to.Ptr("fail1"), CommandLine: to.Ptr("/bin/false"),
		Constraints: &azbatch.TaskConstraints{MaxTaskRetryCount: to.Ptr[int32](1)}})
	if _, err := c.CreateTaskCollection(ctx, "work", group, nil); err != nil {
		t.Fatalf("CreateTaskCollection: %v", err)
	}
	go e.statsNode(ctx, "stats", e.waitNode("stats"))
	for ctx.Err() == nil {
		counts, err := c.GetJobTaskCounts(ctx, "work", nil)
		if err != nil {
			t.Fatalf("GetJobTaskCounts: %v", err)
		}
		if *counts.TaskCounts.Completed == 4 {
			if *counts.TaskCounts.Succeeded != 3 || *counts.TaskCounts.Failed != 1 ||
				*counts.TaskSlotCounts.Succeeded != 3 || *counts.TaskSlotCounts.Failed != 1 || *counts.TaskSlotCounts.Completed != 4 {
				t.Fatalf("task counts %+v, slot counts %+v", counts.TaskCounts, counts.TaskSlotCounts)
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the tasks never completed")
}

// TestGoSDKStatistics reads $expand=stats on jobs and pools through azbatch:
// the figures follow from the tasks the node ran.
func TestGoSDKStatistics(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, cred := e.goClient(e.newPrincipal(rbac.RoleBatchDataContributor))
	e.runStatsLoad(ctx, c)

	// Bad input gets Batch's errors.
	tok, err := cred.GetToken(ctx, policyTokenOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct{ path, code string }{
		{"/poolusagemetrics?api-version=2024-07-01.20.0&starttime=yesterday", "InvalidQueryParameterValue"},
		{"/lifetimepoolstats?api-version=2024-07-01.20.0", "InvalidUri"},
		{"/lifetimejobstats?api-version=2025-06-01.21.0", "InvalidUri"},
		{"/jobs/work?api-version=2024-07-01.20.0&$expand=statz", "InvalidQueryParameterValue"},
	} {
		req, _ := http.NewRequestWithContext(ctx, "GET", "https://"+e.endpoint+bad.path, nil)
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Code string }
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != 400 || body.Code != bad.code {
			t.Errorf("GET %s: %d %q, want 400 %s", bad.path, resp.StatusCode, body.Code, bad.code)
		}
	}

	j, err := c.GetJob(ctx, "work", &azbatch.GetJobOptions{Expand: []string{"stats"}})
	if err != nil {
		t.Fatalf("GetJob: %v", err)
	}
	st := j.Stats
	if st == nil || *st.NumSucceededTasks != 3 || *st.NumFailedTasks != 1 || *st.NumTaskRetries != 1 || *st.ReadIOps != 0 ||
		*st.WriteIOps != 0 || *st.WallClockTime != "PT6S" || *st.UserCPUTime != "PT0S" || st.StartTime == nil ||
		st.StartTime.Sub(*j.CreationTime).Abs() >= time.Microsecond || st.LastUpdateTime == nil || !strings.HasSuffix(*st.URL, "/jobs/work/stats") {
		b, _ := json.Marshal(st)
		t.Fatalf("job stats: %s (job created %v)", b, j.CreationTime)
	}
	if j, err := c.GetJob(ctx, "work", nil); err != nil || j.Stats != nil {
		t.Fatalf("GetJob without $expand: %+v %v", j.Stats, err)
	}
	n := 0
	for pg := c.NewListJobsPager(&azbatch.ListJobsOptions{Expand: []string{"stats"}}); pg.More(); {
		page, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListJobs: %v", err)
		}
		for _, j := range page.Value {
			if j.Stats == nil || *j.Stats.NumSucceededTasks != 3 {
				t.Fatalf("listed job stats: %+v", j.Stats)
			}
			n++
		}
	}
	if n != 1 {
		t.Fatalf("ListJobs: %d jobs", n)
	}

	p, err := c.GetPool(ctx, "stats", &azbatch.GetPoolOptions{Expand: []string{"stats"}})
	if err != nil {
		t.Fatalf("GetPool: %v", err)
	}
	if ps := p.Stats; ps == nil || ps.UsageStats == nil || ps.UsageStats.DedicatedCoreTime == nil || ps.StartTime == nil ||
		ps.StartTime.Sub(*p.CreationTime).Abs() >= time.Microsecond || !strings.HasSuffix(*ps.URL, "/pools/stats/stats") {
		t.Fatalf("pool stats: %+v", p.Stats)
	} else if d, err := batch.ParseDuration(*ps.UsageStats.DedicatedCoreTime); err != nil || d <= 0 {
		t.Fatalf("dedicatedCoreTime %q: %v", *ps.UsageStats.DedicatedCoreTime, err)
	}
	if _, err := c.GetPool(ctx, "stats", &azbatch.GetPoolOptions{Expand: []string{"nope"}}); err == nil {
		t.Fatal("GetPool with $expand=nope succeeded")
	}
}

// TestNodeSDKStatistics runs test/node/batch/stats.js: @azure/batch 10.2.0
// (api-version 2022-10-01.16.0) reads the lifetime job and pool
// statistics, the pool usage metrics and $expand=stats.
func TestNodeSDKStatistics(t *testing.T) {
	testenv.Require(t, testenv.NodeModule(batchModule))
	e := newEnvWith(t, func(c *batch.Config) {
		c.PollInterval = 50 * time.Millisecond
		c.AutoScale.SamplePeriod = 100 * time.Millisecond
	})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c, _ := e.goClient(e.newPrincipal(rbac.RoleBatchDataContributor))
	e.runStatsLoad(ctx, c)
	time.Sleep(300 * time.Millisecond) // a few samples of the pool's node

	var got struct {
		Lifetime struct {
			NumSucceededTasks, NumFailedTasks, NumTaskRetries int
			ReadIOps                                          int
			WallClockTime                                     string
		} `json:"lifetime"`
		LifetimePool struct {
			DedicatedCoreTime string `json:"dedicatedCoreTime"`
		} `json:"lifetimePool"`
		Usage []struct {
			PoolID         string  `json:"poolId"`
			VMSize         string  `json:"vmSize"`
			TotalCoreHours float64 `json:"totalCoreHours"`
		} `json:"usage"`
		JobStats struct {
			NumSucceededTasks int `json:"numSucceededTasks"`
		} `json:"jobStats"`
		NewVersion int `json:"newVersionStatus"`
	}
	testenv.RunNodeJSON(ctx, t, testenv.NodeRun{Script: "batch/stats.js", Modules: []string{batchModule}, CAFile: e.ca.CAFile(),
		Env: map[string]string{"BATCH_URL": "https://" + e.endpoint, "BATCH_ACCOUNT": e.account, "BATCH_KEY": e.key, "JOB_ID": "work"}}, &got)
	t.Logf("node saw: %+v", got)
	if l := got.Lifetime; l.NumSucceededTasks != 3 || l.NumFailedTasks != 1 || l.NumTaskRetries != 1 || l.WallClockTime != "PT6S" {
		t.Errorf("lifetime job stats: %+v", l)
	}
	if d, err := batch.ParseDuration(got.LifetimePool.DedicatedCoreTime); err != nil || d <= 0 {
		t.Errorf("lifetime pool stats: %+v", got.LifetimePool)
	}
	if len(got.Usage) != 1 || got.Usage[0].PoolID != "stats" || got.Usage[0].VMSize != "standard_d2s_v3" || got.Usage[0].TotalCoreHours <= 0 {
		t.Errorf("usage metrics: %+v", got.Usage)
	}
	if got.JobStats.NumSucceededTasks != 3 {
		t.Errorf("job $expand=stats: %+v", got.JobStats)
	}
	// api-versions from 2023-05-01 on have no lifetime statistics.
	if got.NewVersion != 400 {
		t.Errorf("lifetimejobstats at 2024-07-01.20.0: %d", got.NewVersion)
	}
}
