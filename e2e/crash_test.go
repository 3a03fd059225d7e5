package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/batch/azbatch"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/cobaltbatch/cobalt/internal/agent"
	"github.com/cobaltbatch/cobalt/internal/sdkharness"
	"github.com/cobaltbatch/cobalt/internal/server"
	"github.com/cobaltbatch/cobalt/internal/testenv"
)

// moduleRoot is the repository root (this file is in e2e/).
func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..")
}

// plainPool creates a resource group, a Batch account and a pool without
// identities or start task through the management plane (the pool with
// @azure/arm-batch) and returns the account's endpoint.
func (e *env) plainPool(t *testing.T, c context.Context, pool string, nodes, slots int) string {
	t.Helper()
	rgs, err := armresources.NewResourceGroupsClient(e.EP.SubscriptionID, e.Admin(), e.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rgs.CreateOrUpdate(c, "work-rg", armresources.ResourceGroup{Location: to.Ptr(e.EP.Location)}, nil); err != nil {
		t.Fatalf("create resource group: %v", err)
	}
	var out struct {
		Account struct {
			AccountEndpoint string `json:"accountEndpoint"`
		} `json:"account"`
	}
	e.node("batchpool.js", map[string]any{
		"resourceGroup": "work-rg", "account": "work" + strconv.FormatInt(time.Now().UnixNano()%1_000_000, 10), "pool": pool, "location": e.EP.Location,
		"poolBody": map[string]any{
			"vmSize": "STANDARD_D2S_V3",
			"deploymentConfiguration": map[string]any{"virtualMachineConfiguration": map[string]any{
				"imageReference": map[string]any{"publisher": "canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "latest"},
				"nodeAgentSkuId": "batch.node.ubuntu 24.04"}},
			"scaleSettings":    map[string]any{"fixedScale": map[string]any{"targetDedicatedNodes": nodes}},
			"taskSlotsPerNode": slots,
		},
	}, &out)
	if out.Account.AccountEndpoint == "" {
		t.Fatalf("the Batch account has no accountEndpoint: %+v", out)
	}
	return out.Account.AccountEndpoint
}

// clientEnv is the clients' view of a Cobalt that runs in another process.
func clientEnv(t *testing.T, dataDir string) *env {
	t.Helper()
	return &env{sdkharness.FromDataDir(t, dataDir)}
}

// traversableTempDir is a temporary directory whose parents let other users
// through, so that tasks running as Batch's non-admin user reach the node
// directories under it (as servertest.Start arranges).
func traversableTempDir(t *testing.T) string {
	dir := t.TempDir()
	for d := dir; d != filepath.Dir(d) && strings.HasPrefix(d, os.TempDir()+string(filepath.Separator)); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// cobaltProcess is `cobalt up` running as a child process.
type cobaltProcess struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// startCobalt runs `cobalt up` on dataDir and returns once it prints that it
// is ready. Its output goes to logFile.
func startCobalt(t *testing.T, bin, dataDir, logFile string, extra ...string) *cobaltProcess {
	t.Helper()
	_ = os.Remove(filepath.Join(dataDir, "endpoints.json"))
	logf, err := os.OpenFile(logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	cmd := exec.Command(bin, append([]string{"up", "--data", dataDir, "--port-base", "0", "--isolation", "process"}, extra...)...)
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &cobaltProcess{cmd: cmd, exited: make(chan struct{})}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		once := false
		for sc.Scan() {
			fmt.Fprintln(logf, sc.Text())
			if !once && strings.Contains(sc.Text(), "cobalt is ready") {
				once = true
				close(ready)
			}
		}
		_ = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
			return
		default:
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-p.exited
		}
	})
	select {
	case <-ready:
		return p
	case <-p.exited:
		t.Fatalf("cobalt up exited before it was ready:\n%s", tail(logFile))
	case <-time.After(60 * time.Second):
		t.Fatalf("cobalt up was not ready within a minute:\n%s", tail(logFile))
	}
	return nil
}

// kill ends the process with SIGKILL, as a crash or an OOM kill would.
func (p *cobaltProcess) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.exited
}

func tail(file string) string {
	b, _ := os.ReadFile(file)
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	return string(b)
}

func buildCobalt(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "cobalt")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/cobalt")
	cmd.Dir = moduleRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/cobalt: %v\n%s", err, out)
	}
	return bin
}

func taskCounts(t *testing.T, c context.Context, bc *azbatch.Client, job string) azbatch.TaskCounts {
	t.Helper()
	r, err := bc.GetJobTaskCounts(c, job, nil)
	if err != nil {
		t.Fatalf("get task counts: %v", err)
	}
	return *r.TaskCounts
}

// TestCrashLosesNoTasks is durability end to end: `cobalt up` runs as its
// own process, 2,000 short tasks are added by add-collection with the Go
// SDK, the process is SIGKILLed while they run and restarted on the same
// data directory, and every task completes successfully afterwards: none is
// lost, none is left running on a node that no longer exists.
func TestCrashLosesNoTasks(t *testing.T) {
	t.Parallel()
	const tasks = 2000
	bin := buildCobalt(t)
	dir := traversableTempDir(t)
	logFile := filepath.Join(t.TempDir(), "cobalt.log")
	p := startCobalt(t, bin, dir, logFile)
	e := clientEnv(t, dir)
	c := ctx(t)
	endpoint := e.plainPool(t, c, "crashpool", 2, 4)
	bc := e.batchClient(t, endpoint)
	if _, err := bc.CreateJob(c, azbatch.CreateJobContent{ID: to.Ptr("many"), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr("crashpool")}}, nil); err != nil {
		t.Fatal(err)
	}
	for first := 0; first < tasks; first += 100 {
		var group azbatch.TaskGroup
		for i := first; i < min(first+100, tasks); i++ {
			group.Value = append(group.Value, azbatch.CreateTaskContent{ID: to.Ptr(fmt.Sprintf("t%04d", i)), CommandLine: to.Ptr(`/bin/sh -c "sleep 0.01"`)})
		}
		r, err := bc.CreateTaskCollection(c, "many", group, nil)
		if err != nil {
			t.Fatalf("add task collection: %v", err)
		}
		for _, res := range r.Value {
			if res.Status == nil || *res.Status != azbatch.TaskAddStatusSuccess {
				t.Fatalf("task %s not added: %+v", deref(res.TaskID), res.Error)
			}
		}
	}

	// Kill it while tasks run, with some done and most still to do.
	var at azbatch.TaskCounts
	for deadline := time.Now().Add(40 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		at = taskCounts(t, c, bc, "many")
		if *at.Completed >= 200 && *at.Running > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tasks did not start: %+v\n%s", at, tail(logFile))
		}
	}
	p.kill(t)
	t.Logf("killed with %d completed, %d running, %d active", *at.Completed, *at.Running, *at.Active)

	startCobalt(t, bin, dir, logFile)
	e = clientEnv(t, dir)
	bc = e.batchClient(t, endpoint)
	var last azbatch.TaskCounts
	for deadline := time.Now().Add(150 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		last = taskCounts(t, c, bc, "many")
		if *last.Completed == tasks {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the restart only %d of %d tasks completed (%d running, %d active)\n%s",
				*last.Completed, tasks, *last.Running, *last.Active, tail(logFile))
		}
	}
	if *last.Succeeded != tasks || *last.Failed != 0 {
		t.Fatalf("task counts %d succeeded, %d failed; want all %d succeeded", *last.Succeeded, *last.Failed, tasks)
	}
	seen, requeued := 0, 0
	pager := bc.NewListTasksPager("many", nil)
	for pager.More() {
		page, err := pager.NextPage(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range page.Value {
			seen++
			if *tk.State != azbatch.TaskStateCompleted || tk.ExecutionInfo == nil || deref(tk.ExecutionInfo.ExitCode) != 0 {
				t.Errorf("task %s: state %s, execution %+v", *tk.ID, *tk.State, tk.ExecutionInfo)
			}
			if tk.ExecutionInfo != nil && deref(tk.ExecutionInfo.RequeueCount) > 0 {
				requeued++
			}
		}
	}
	if seen != tasks {
		t.Fatalf("listed %d tasks, want %d", seen, tasks)
	}
	t.Logf("all %d tasks completed; %d were requeued by the restart", tasks, requeued)
}

// TestTerminateStopsTaskProcess: terminating a running task through the
// data plane ends its process on the node (the node's heartbeat gets a
// terminate command for the task's lease), not only its record.
func TestTerminateStopsTaskProcess(t *testing.T) {
	t.Parallel()
	e := startWith(t, server.Options{Isolation: "process"})
	c := ctx(t)
	endpoint := e.plainPool(t, c, "termpool", 1, 1)
	bc := e.batchClient(t, endpoint)
	e.waitIdleNode(t, c, bc, "termpool")
	if _, err := bc.CreateJob(c, azbatch.CreateJobContent{ID: to.Ptr("j"), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr("termpool")}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := bc.CreateTask(c, "j", azbatch.CreateTaskContent{ID: to.Ptr("long"),
		CommandLine: to.Ptr(`/bin/sh -c 'echo $$ > pid.txt; exec sleep 300'`)}, nil); err != nil {
		t.Fatal(err)
	}
	pid := 0
	for deadline := time.Now().Add(60 * time.Second); pid == 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the task did not start")
		}
		pid, _ = strconv.Atoi(strings.TrimSpace(e.taskFile(t, c, bc, "j", "long", "wd/pid.txt")))
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("task process %d: %v", pid, err)
	}
	if _, err := bc.TerminateTask(c, "j", "long", nil); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("task process %d still runs 30 s after the task was terminated", pid)
		}
	}
	if tk := e.waitTask(t, c, bc, "j", "long"); tk.ExecutionInfo == nil || tk.ExecutionInfo.Result == nil || *tk.ExecutionInfo.Result != azbatch.TaskExecutionResultFailure {
		t.Errorf("terminated task's execution info: %+v", tk.ExecutionInfo)
	}
}

// TestNetnsTaskReachesAccountEndpoint: a task inside a node's network
// namespace calls its Batch account's endpoint (its own port, forwarded into
// the namespace) and gets an HTTP answer.
func TestNetnsTaskReachesAccountEndpoint(t *testing.T) {
	if agent.DefaultIsolation() != agent.IsolationNetns {
		testenv.Unavailable(t, "netns isolation (root, Linux, ip netns)")
	}
	t.Parallel()
	e := startWith(t, server.Options{Isolation: "netns"})
	c := ctx(t)
	endpoint := e.plainPool(t, c, "nspool", 1, 1)
	bc := e.batchClient(t, endpoint)
	e.waitIdleNode(t, c, bc, "nspool")
	if _, err := bc.CreateJob(c, azbatch.CreateJobContent{ID: to.Ptr("j"), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr("nspool")}}, nil); err != nil {
		t.Fatal(err)
	}
	cmd := "/bin/sh -c " + shellQuote(`curl -sS -o /dev/null -w '%{http_code}' https://`+endpoint+`/`)
	if _, err := bc.CreateTask(c, "j", azbatch.CreateTaskContent{ID: to.Ptr("call"), CommandLine: to.Ptr(cmd)}, nil); err != nil {
		t.Fatal(err)
	}
	tk := e.waitTask(t, c, bc, "j", "call")
	out := strings.TrimSpace(e.taskFile(t, c, bc, "j", "call", "stdout.txt"))
	if code, err := strconv.Atoi(out); err != nil || code < 100 || deref(tk.ExecutionInfo.ExitCode) != 0 {
		t.Fatalf("curl https://%s/ in the node answered %q (exit %d); stderr:\n%s", endpoint, out,
			deref(tk.ExecutionInfo.ExitCode), e.taskFile(t, c, bc, "j", "call", "stderr.txt"))
	}
}
