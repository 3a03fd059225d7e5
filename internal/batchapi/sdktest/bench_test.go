package sdktest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	cobalt "github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/rbac"
)

// signSharedKey signs r as @azure/batch does.
func signSharedKey(r *http.Request, account, key string, bodyLen int) {
	r.Header.Set("ocp-date", time.Now().UTC().Format(http.TimeFormat))
	q := r.URL.Query()
	names := make([]string, 0, len(q))
	for k := range q {
		names = append(names, k)
	}
	sort.Strings(names)
	s := r.Method + "\n\n\n" + strconv.Itoa(bodyLen) + "\n\n" + r.Header.Get("Content-Type") + "\n\n\n\n\n\n\n" +
		"ocp-date:" + r.Header.Get("ocp-date") + "\n/" + account + r.URL.EscapedPath()
	for _, n := range names {
		s += "\n" + n + ":" + q.Get(n)
	}
	k, _ := base64.StdEncoding.DecodeString(key)
	m := hmac.New(sha256.New, k)
	m.Write([]byte(s))
	r.Header.Set("Authorization", "SharedKey "+account+":"+base64.StdEncoding.EncodeToString(m.Sum(nil)))
}

// BenchmarkAddTaskCollection adds tasks 100 at a time through the data plane
// (HTTPS, SharedKey, JSON) beside the baseline of calling the jobs service's
// AddTaskCollection directly on the same store, and reports tasks/s.
func BenchmarkAddTaskCollection(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	if _, err := e.jobs.AddJob(ctx, e.accountID, cobalt.JobSpec{ID: "bench", PoolInfo: &cobalt.PoolInformation{PoolID: "nopool"}}); err != nil {
		b.Fatal(err)
	}
	n := 0
	batchOf := func() []cobalt.TaskSpec {
		specs := make([]cobalt.TaskSpec, 100)
		for i := range specs {
			n++
			specs[i] = cobalt.TaskSpec{ID: fmt.Sprintf("t%d", n), CommandLine: "/bin/true"}
		}
		return specs
	}
	b.Run("baseline-service", func(b *testing.B) {
		start := time.Now()
		for b.Loop() {
			if _, err := e.jobs.AddTaskCollection(ctx, e.accountID, "bench", batchOf()); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*100)/time.Since(start).Seconds(), "tasks/s")
	})
	b.Run("https-sharedkey", func(b *testing.B) {
		url := "https://" + e.endpoint + "/jobs/bench/addtaskcollection?api-version=2022-10-01.16.0"
		start := time.Now()
		for b.Loop() {
			body, _ := json.Marshal(map[string]any{"value": batchOf()})
			req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json; odata=minimalmetadata; charset=utf-8")
			signSharedKey(req, e.account, e.key, len(body))
			resp, err := e.client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			var out struct {
				Value []struct{ Status string } `json:"value"`
			}
			err = json.NewDecoder(resp.Body).Decode(&out)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 || len(out.Value) != 100 || !strings.EqualFold(out.Value[0].Status, "success") {
				b.Fatalf("add collection: %d %v %+v", resp.StatusCode, err, out.Value[:min(1, len(out.Value))])
			}
		}
		b.ReportMetric(float64(b.N*100)/time.Since(start).Seconds(), "tasks/s")
	})
}

// BenchmarkGetTask measures one GET task through the data plane with
// SharedKey and with an Entra bearer token (validation and RBAC), beside the
// baseline of the jobs service's GetTask on the same store.
func BenchmarkGetTask(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	if _, err := e.jobs.AddJob(ctx, e.accountID, cobalt.JobSpec{ID: "bench", PoolInfo: &cobalt.PoolInformation{PoolID: "nopool"}}); err != nil {
		b.Fatal(err)
	}
	if _, err := e.jobs.AddTask(ctx, e.accountID, "bench", cobalt.TaskSpec{ID: "t1", CommandLine: "/bin/true"}); err != nil {
		b.Fatal(err)
	}
	_, cred := e.goClient(e.newPrincipal("6aaa78f1-f7de-44ca-8722-c64a23943cae")) // Azure Batch Data Contributor
	tok, err := cred.GetToken(ctx, policyTokenOptions())
	if err != nil {
		b.Fatal(err)
	}
	url := "https://" + e.endpoint + "/jobs/bench/tasks/t1?api-version=2024-07-01.20.0"
	get := func(b *testing.B, auth func(*http.Request)) {
		req, _ := http.NewRequest("GET", url, nil)
		auth(req)
		resp, err := e.client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body) // drained, so that the connection is reused
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("GET task: %d", resp.StatusCode)
		}
	}
	b.Run("baseline-service", func(b *testing.B) {
		for b.Loop() {
			if _, err := e.jobs.GetTask(ctx, e.accountID, "bench", "t1"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("https-sharedkey", func(b *testing.B) {
		for b.Loop() {
			get(b, func(r *http.Request) { signSharedKey(r, e.account, e.key, 0) })
		}
	})
	b.Run("https-bearer-rbac", func(b *testing.B) {
		for b.Loop() {
			get(b, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok.Token) })
		}
	})
}

// BenchmarkListTasksPage lists a job's 1,000 completed tasks as one page
// through the data plane (HTTPS, SharedKey, the store read, the render),
// as azbatch's pager asks for them, and reports the page's bytes. The
// client's decode of the page is BenchmarkSDKTaskPageDecode (benchrun).
func BenchmarkListTasksPage(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	c, _ := e.goClient(e.newPrincipal(rbac.RoleBatchDataContributor))
	if _, err := c.CreatePool(ctx, testPool("lpool", 1), nil); err != nil {
		b.Fatal(err)
	}
	if _, err := e.jobs.AddJob(ctx, e.accountID, cobalt.JobSpec{ID: "list", PoolInfo: &cobalt.PoolInformation{PoolID: "lpool"}}); err != nil {
		b.Fatal(err)
	}
	for c := range 10 {
		specs := make([]cobalt.TaskSpec, 100)
		for i := range specs {
			specs[i] = cobalt.TaskSpec{ID: fmt.Sprintf("t%06d", c*100+i), CommandLine: "/bin/true"}
		}
		if _, err := e.jobs.AddTaskCollection(ctx, e.accountID, "list", specs); err != nil {
			b.Fatal(err)
		}
	}
	nctx, ncancel := context.WithCancel(ctx)
	defer ncancel()
	go e.fakeNode(nctx, "lpool", e.waitNode("lpool"))
	for deadline := time.Now().Add(2 * time.Minute); ; {
		counts, err := e.jobs.JobTaskCounts(ctx, e.accountID, "list")
		if err != nil {
			b.Fatal(err)
		}
		if counts.TaskCounts.Completed == 1000 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("tasks not completed: %+v", counts.TaskCounts)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ncancel()
	url := "https://" + e.endpoint + "/jobs/list/tasks?api-version=2024-07-01.20.0"
	var size int
	for b.Loop() {
		req, _ := http.NewRequest("GET", url, nil)
		signSharedKey(req, e.account, e.key, 0)
		resp, err := e.client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("list tasks: %d %.200s", resp.StatusCode, body)
		}
		size = len(body)
	}
	b.ReportMetric(float64(size), "bytes/page")
}
