package benchrun

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"slices"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/batch/azbatch"
)

// tasks runs opts.Tasks `/bin/true` tasks, added 100 per call with 8 calls
// in flight, on 4 nodes × 4 slots, and times the first submit to the last
// completion, beside `xargs -P 16 -n 1 /bin/true` on as many arguments
// before and after (the baseline is their mean). Then it lists the job's
// tasks, all pages (the list row).
func (b *bench) tasks(ctx context.Context) []Result {
	n := b.opts.Tasks
	row := Result{Row: "tasks", Work: fmt.Sprintf("%d /bin/true tasks, add collection 100/call ×8 in flight, 4 nodes × 4 slots", n),
		Target: "≥ 0.5 of xargs"}
	list := Result{Row: "list", Work: fmt.Sprintf("list %d tasks, all pages", n), Target: "< 1 s"}
	fail := func(err error) []Result { row.Err, list.Err = err, err; return []Result{row, list} }

	if _, err := b.d.createPool(ctx, "tasks", 4, 4, ""); err != nil {
		return fail(err)
	}
	job := "tasks"
	if _, err := b.d.batch.CreateJob(ctx, azbatch.CreateJobContent{ID: to.Ptr(job), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr("tasks")}}, nil); err != nil {
		return fail(err)
	}
	before, err := xargsRate(ctx, n)
	if err != nil {
		return fail(err)
	}
	stop := b.profile(ctx, "tasks", 20*time.Second)
	defer stop()
	cp0, nodes0, cpuErr := treeCPU(b.child.pid())
	self0, selfErr := processCPU(os.Getpid())
	start := time.Now()
	if err := b.addTasks(ctx, job, n); err != nil {
		return fail(err)
	}
	submitted := time.Since(start)
	for {
		c, err := b.d.batch.GetJobTaskCounts(ctx, job, nil)
		if err != nil {
			return fail(err)
		}
		if tc := c.TaskCounts; tc != nil && int(*tc.Completed) >= n {
			if *tc.Failed > 0 {
				return fail(fmt.Errorf("%d of %d tasks failed: %s", *tc.Failed, n, b.firstFailure(ctx, job)))
			}
			break
		}
		if time.Since(start) > 30*time.Minute {
			return fail(fmt.Errorf("tasks not done after 30 minutes"))
		}
		// Each poll counts the job's tasks: at 20 ms the bench's own polling
		// was a fifth of the control plane's CPU. 100 ms is 0.2% of a
		// minute's run.
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return fail(err)
		}
	}
	rate := float64(n) / time.Since(start).Seconds()
	if cp1, nodes1, err := treeCPU(b.child.pid()); err == nil && cpuErr == nil {
		// The whole system's CPU per task: cobalt up (control plane and
		// the node agents in it), the processes under it (spawner, node
		// inits and the tasks they reaped), and this client.
		per := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / float64(n) }
		line := fmt.Sprintf("tasks: CPU per task: cobalt up %.3f ms, processes under it %.3f ms", per(cp1-cp0), per(nodes1-nodes0))
		if self1, err := processCPU(os.Getpid()); err == nil && selfErr == nil {
			line += fmt.Sprintf(", bench client %.3f ms", per(self1-self0))
		}
		b.logf("%s", line)
	}
	after, err := xargsRate(ctx, n)
	if err != nil {
		return fail(err)
	}
	base := (before + after) / 2
	b.logf("tasks: submission alone %.0f tasks/s; xargs before %.0f/s, after %.0f/s", float64(n)/submitted.Seconds(), before, after)
	row.Figure = fmt.Sprintf("%.0f tasks/s", rate)
	row.Baseline = fmt.Sprintf("xargs -P 16: %.0f/s", base)
	row.Ratio = fmt.Sprintf("%.2f", rate/base)
	row.OK = rate/base >= 0.5

	stopList := b.profile(ctx, "list", 2*time.Second)
	list, el := b.listTasks(ctx, list, job, n)
	stopList()
	if list.Err == nil {
		if decode, server, err := b.decodeAlone(ctx, job, n); err != nil {
			b.logf("list: the client alone: %v", err)
		} else {
			list.Baseline = fmt.Sprintf("azbatch decoding the same pages alone: %.2f s; the server's time to first byte, all pages of a second listing: %.2f s",
				decode.Seconds(), server.Seconds())
			list.Ratio = fmt.Sprintf("%.2f of the time is decoding alone", decode.Seconds()/el.Seconds())
		}
	}
	// The later rows want the installation's capacity and a quiet machine.
	if err := b.d.deletePool(ctx, "tasks"); err != nil {
		b.logf("tasks: delete pool: %v", err)
	}
	return []Result{row, list}
}

// addTasks adds n /bin/true tasks to job, 100 per call, 8 calls in flight.
func (b *bench) addTasks(ctx context.Context, job string, n int) error {
	calls := make(chan int)
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range calls {
				group := azbatch.TaskGroup{Value: make([]azbatch.CreateTaskContent, 100)}
				for i := range group.Value {
					group.Value[i] = azbatch.CreateTaskContent{ID: to.Ptr(fmt.Sprintf("t%06d", c*100+i)), CommandLine: to.Ptr("/bin/true")}
				}
				resp, err := b.d.batch.CreateTaskCollection(ctx, job, group, nil)
				if err == nil {
					for _, r := range resp.Value {
						if r.Status != nil && *r.Status != azbatch.TaskAddStatusSuccess {
							err = fmt.Errorf("task %s: %s", *r.TaskID, *r.Status)
							break
						}
					}
				}
				if err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	for c := range n / 100 {
		calls <- c
	}
	close(calls)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// listTasks times listing every task of job through the data plane, all
// pages, as the SDK's pager reads them. The figure adds the CPU time of the
// control plane and of this process (the client) during the listing: the
// pager decodes each page before it asks for the next, so the wall time is
// about the client's CPU plus the server's time per page.
func (b *bench) listTasks(ctx context.Context, r Result, job string, n int) (Result, time.Duration) {
	srv0, err0 := processCPU(b.child.pid())
	cli0, err1 := processCPU(os.Getpid())
	stopClient := b.selfProfile("list-client")
	start := time.Now()
	got := 0
	pager := b.d.batch.NewListTasksPager(job, nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			stopClient()
			r.Err = err
			return r, 0
		}
		got += len(page.Value)
	}
	el := time.Since(start)
	stopClient()
	srv1, err2 := processCPU(b.child.pid())
	cli1, err3 := processCPU(os.Getpid())
	if got != n {
		r.Err = fmt.Errorf("listed %d tasks, want %d", got, n)
		return r, 0
	}
	r.Figure = fmt.Sprintf("%.2f s", el.Seconds())
	if err := errors.Join(err0, err1, err2, err3); err == nil {
		r.Figure += fmt.Sprintf(" (control plane CPU %.2f s, client CPU %.2f s)", (srv1 - srv0).Seconds(), (cli1 - cli0).Seconds())
	}
	r.OK = el < time.Second
	return r, el
}

// decodeAlone lists every task of job again, untimed, keeping each page's
// body as it arrived and the time from each request's last byte written to
// its response's first byte read (the server's time for the page), then
// times azbatch decoding those pages one after the other as the pager does
// (json.Unmarshal into a TaskListResult), with no server: the part of the
// list row's time that is the client's alone, and the part the server takes.
func (b *bench) decodeAlone(ctx context.Context, job string, n int) (decode, server time.Duration, err error) {
	capture := &bodyCapture{}
	opts := b.d.opts
	opts.PerCallPolicies = append(slices.Clone(opts.PerCallPolicies), capture)
	c, err := azbatch.NewClient(b.d.batchEndpoint, b.d.cred, &azbatch.ClientOptions{ClientOptions: opts})
	if err != nil {
		return 0, 0, err
	}
	got := 0
	for pager := c.NewListTasksPager(job, nil); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return 0, 0, err
		}
		got += len(page.Value)
	}
	if got != n || len(capture.bodies) == 0 {
		return 0, 0, fmt.Errorf("listed %d tasks in %d pages, want %d", got, len(capture.bodies), n)
	}
	start := time.Now()
	for _, body := range capture.bodies {
		var page azbatch.TaskListResult
		if err := json.Unmarshal(body, &page); err != nil {
			return 0, 0, err
		}
	}
	return time.Since(start), capture.wait, nil
}

// bodyCapture is a pipeline policy that keeps every successful response's
// body, handing the pipeline a copy, and adds up the time from each
// request's last byte written to its response's first byte read.
type bodyCapture struct {
	bodies [][]byte
	wait   time.Duration
}

func (c *bodyCapture) Do(req *policy.Request) (*http.Response, error) {
	var wrote time.Time
	trace := &httptrace.ClientTrace{
		WroteRequest:         func(httptrace.WroteRequestInfo) { wrote = time.Now() },
		GotFirstResponseByte: func() { c.wait += time.Since(wrote) },
	}
	resp, err := req.WithContext(httptrace.WithClientTrace(req.Raw().Context(), trace)).Next()
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	c.bodies = append(c.bodies, body)
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// xargsRate runs `xargs -P 16 -n 1 /bin/true` on n arguments and returns
// processes per second.
func xargsRate(ctx context.Context, n int) (float64, error) {
	start := time.Now()
	x := exec.CommandContext(ctx, "sh", "-c", fmt.Sprintf("seq %d | xargs -P 16 -n 1 /bin/true", n))
	if out, err := x.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("xargs: %v %s", err, out)
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// firstFailure describes one failed task of job, for an error message.
func (b *bench) firstFailure(ctx context.Context, job string) string {
	pager := b.d.batch.NewListTasksPager(job, nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return err.Error()
		}
		for _, t := range page.Value {
			if e := t.ExecutionInfo; e != nil && (e.FailureInfo != nil || (e.ExitCode != nil && *e.ExitCode != 0)) {
				out, _ := json.Marshal(e)
				return *t.ID + ": " + string(out)
			}
		}
	}
	return "none found"
}

// processCPU returns the user and system CPU time pid has used (its own,
// from /proc/PID/stat).
func processCPU(pid int) (time.Duration, error) {
	st, err := readProcStat(pid)
	return st.own, err
}
