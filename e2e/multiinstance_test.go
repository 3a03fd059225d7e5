package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/batch/azbatch"
	"github.com/cobaltbatch/cobalt/internal/agent"
	"github.com/cobaltbatch/cobalt/internal/server"
	"github.com/cobaltbatch/cobalt/internal/testenv"
)

// miPool creates a one-slot pool of n sandboxed nodes through the data plane.
func miPool(t *testing.T, c context.Context, bc *azbatch.Client, id string, n int, interNode bool) {
	t.Helper()
	if _, err := bc.CreatePool(c, azbatch.CreatePoolContent{
		ID: to.Ptr(id), VMSize: to.Ptr("STANDARD_D2S_V3"), TargetDedicatedNodes: to.Ptr(int32(n)), TaskSlotsPerNode: to.Ptr[int32](1),
		EnableInterNodeCommunication: to.Ptr(interNode),
		VirtualMachineConfiguration: &azbatch.VirtualMachineConfiguration{
			ImageReference: &azbatch.ImageReference{Publisher: to.Ptr("canonical"), Offer: to.Ptr("ubuntu-24_04-lts"), SKU: to.Ptr("server")},
			NodeAgentSKUID: to.Ptr("batch.node.ubuntu 24.04")},
	}, nil); err != nil {
		t.Fatalf("create pool %s: %v", id, err)
	}
}

// waitFile waits until a running task's file contains want and returns it.
func (e *env) waitFile(t *testing.T, c context.Context, bc *azbatch.Client, job, task, path, want string) string {
	t.Helper()
	var got string
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		if got = e.taskFile(t, c, bc, job, task, path); strings.Contains(got, want) {
			return got
		}
	}
	t.Fatalf("%s of %s/%s never showed %q: %q", path, job, task, want, got)
	return ""
}

// TestMultiInstanceNetns runs a multi-instance task on two sandboxed nodes
// of a pool with inter-node communication, through azbatch: both instances
// run the coordination command with Batch's variables; the primary then
// reaches a TCP service the subtask's coordination command started, at the
// subtask's address in AZ_BATCH_HOST_LIST. While it holds that connection
// open, a node of another inter-node pool and a node of a pool without
// inter-node communication try the same address and fail (the isolation
// attack). List subtasks shows the subtask; terminating the task ends
// both instances. A multi-instance task on the pool without inter-node
// communication stays active, as on Batch.
func TestMultiInstanceNetns(t *testing.T) {
	if agent.DefaultIsolation() != agent.IsolationNetns {
		testenv.Unavailable(t, "netns isolation (root, Linux, ip netns)")
	}
	t.Parallel()
	e := startWith(t, server.Options{Isolation: "netns"})
	c := ctx(t)
	endpoint := e.emptyAccount(t, c, "mi", "miacct")
	bc := e.batchClient(t, endpoint)
	miPool(t, c, bc, "mpi", 2, true)
	miPool(t, c, bc, "mpi2", 1, true)
	miPool(t, c, bc, "solo", 1, false)
	for _, p := range []string{"mpi", "mpi2", "solo"} {
		if _, err := bc.CreateJob(c, azbatch.CreateJobContent{ID: to.Ptr(p), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr(p)}}, nil); err != nil {
			t.Fatal(err)
		}
	}

	// Batch's add-time errors.
	_, err := bc.CreateTask(c, "mpi", azbatch.CreateTaskContent{ID: to.Ptr("nocoord"), CommandLine: to.Ptr("/bin/true"),
		MultiInstanceSettings: &azbatch.MultiInstanceSettings{NumberOfInstances: to.Ptr[int32](2)}}, nil)
	if st, code := batchCode(err); st != 400 || code != "MissingRequiredProperty" {
		t.Errorf("no coordination command line: %d %s", st, code)
	}
	_, err = bc.CreateTask(c, "mpi", azbatch.CreateTaskContent{ID: to.Ptr("slots"), CommandLine: to.Ptr("/bin/true"), RequiredSlots: to.Ptr[int32](2),
		MultiInstanceSettings: &azbatch.MultiInstanceSettings{NumberOfInstances: to.Ptr[int32](2), CoordinationCommandLine: to.Ptr("/bin/true")}}, nil)
	if st, code := batchCode(err); st != 400 || code != "InvalidPropertyValue" {
		t.Errorf("requiredSlots 2: %d %s", st, code)
	}

	// The subtask serves "hello" on port 5000 (busybox nc, persistent); every
	// instance records its variables in the shared directory.
	coord := `/bin/sh -c 'env | grep -E "^(AZ_BATCH_HOST_LIST|AZ_BATCH_NODE_LIST|AZ_BATCH_MASTER_NODE|AZ_BATCH_IS_CURRENT_NODE_MASTER|AZ_BATCH_TASK_SHARED_DIR|CCP_NODES)=" | sort > "$AZ_BATCH_TASK_SHARED_DIR/env.txt"; ` +
		`if [ "$AZ_BATCH_IS_CURRENT_NODE_MASTER" = false ]; then printf "#!/bin/sh\necho hello-from-subtask\n" > "$AZ_BATCH_TASK_SHARED_DIR/hello.sh"; chmod +x "$AZ_BATCH_TASK_SHARED_DIR/hello.sh"; ` +
		`/bin/busybox nc -ll -p 5000 -e "$AZ_BATCH_TASK_SHARED_DIR/hello.sh" </dev/null >/dev/null 2>&1 & sleep 1; fi'`
	app := `/bin/sh -c 'cat "$AZ_BATCH_TASK_SHARED_DIR/env.txt"; echo "subtask=${AZ_BATCH_HOST_LIST#*,}"; /bin/busybox nc -w 10 "${AZ_BATCH_HOST_LIST#*,}" 5000 </dev/null; echo connected; sleep 600'`
	if _, err := bc.CreateTask(c, "mpi", azbatch.CreateTaskContent{ID: to.Ptr("mpi"), CommandLine: to.Ptr(app),
		MultiInstanceSettings: &azbatch.MultiInstanceSettings{NumberOfInstances: to.Ptr[int32](2), CoordinationCommandLine: to.Ptr(coord)}}, nil); err != nil {
		t.Fatalf("add the multi-instance task: %v", err)
	}
	got, err := bc.GetTask(c, "mpi", "mpi", nil)
	if err != nil || got.MultiInstanceSettings == nil || deref(got.MultiInstanceSettings.NumberOfInstances) != 2 ||
		deref(got.MultiInstanceSettings.CoordinationCommandLine) != coord {
		t.Fatalf("get task: %+v %v", got.MultiInstanceSettings, err)
	}
	stdout := e.waitFile(t, c, bc, "mpi", "mpi", "stdout.txt", "connected")
	if !strings.Contains(stdout, "hello-from-subtask") {
		t.Fatalf("the primary did not reach the subtask: %q; stderr %q", stdout, e.taskFile(t, c, bc, "mpi", "mpi", "stderr.txt"))
	}
	vars := map[string]string{}
	for _, line := range strings.Split(stdout, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			vars[k] = v
		}
	}
	hosts := strings.Split(vars["AZ_BATCH_HOST_LIST"], ",")
	sub := vars["subtask"]
	if len(hosts) != 2 || hosts[0] == hosts[1] || !strings.HasPrefix(hosts[0], "10.0.") || sub != hosts[1] ||
		vars["AZ_BATCH_NODE_LIST"] != hosts[0]+";"+hosts[1] || vars["AZ_BATCH_MASTER_NODE"] != hosts[0]+":6000" ||
		vars["AZ_BATCH_IS_CURRENT_NODE_MASTER"] != "true" || vars["AZ_BATCH_TASK_SHARED_DIR"] != "/mnt/batch/tasks/workitems/mpi/job-1/mpi" ||
		vars["CCP_NODES"] != "2 "+hosts[0]+" 1 "+hosts[1]+" 1" {
		t.Fatalf("the primary's variables: %v", vars)
	}

	page, err := bc.NewListSubTasksPager("mpi", "mpi", nil).NextPage(c)
	if err != nil || len(page.Value) != 1 {
		t.Fatalf("list subtasks: %+v %v", page.Value, err)
	}
	st := page.Value[0]
	task, _ := bc.GetTask(c, "mpi", "mpi", nil)
	if deref(st.ID) != 1 || deref(st.State) != azbatch.SubtaskStateRunning || st.NodeInfo == nil || deref(st.NodeInfo.NodeID) == "" ||
		task.NodeInfo == nil || deref(st.NodeInfo.NodeID) == deref(task.NodeInfo.NodeID) || st.StartTime == nil {
		t.Fatalf("subtask: %+v (primary on %+v)", st, task.NodeInfo)
	}

	// The attack: the same address from a node of another pool, with and
	// without a network of its own.
	probe := "/bin/sh -c '/bin/busybox nc -w 3 " + sub + " 5000 </dev/null'"
	for _, p := range []string{"mpi2", "solo"} {
		if _, err := bc.CreateTask(c, p, azbatch.CreateTaskContent{ID: to.Ptr("probe"), CommandLine: to.Ptr(probe)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"mpi2", "solo"} {
		pt := e.waitTask(t, c, bc, p, "probe")
		if deref(pt.ExecutionInfo.ExitCode) == 0 || strings.Contains(e.taskFile(t, c, bc, p, "probe", "stdout.txt"), "hello") {
			t.Errorf("a node of pool %s reached the subtask at %s: %+v %q", p, sub, pt.ExecutionInfo, e.taskFile(t, c, bc, p, "probe", "stdout.txt"))
		}
	}

	// A multi-instance task on the pool without inter-node communication
	// is never scheduled (its node just ran the probe).
	if _, err := bc.CreateTask(c, "solo", azbatch.CreateTaskContent{ID: to.Ptr("never2"), CommandLine: to.Ptr("/bin/true"),
		MultiInstanceSettings: &azbatch.MultiInstanceSettings{NumberOfInstances: to.Ptr[int32](2), CoordinationCommandLine: to.Ptr("/bin/true")}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := bc.CreateTask(c, "solo", azbatch.CreateTaskContent{ID: to.Ptr("after"), CommandLine: to.Ptr("/bin/true")}, nil); err != nil {
		t.Fatal(err)
	}
	e.waitTask(t, c, bc, "solo", "after")
	if tk, err := bc.GetTask(c, "solo", "never2", nil); err != nil || deref(tk.State) != azbatch.TaskStateActive {
		t.Errorf("multi-instance task on a pool without inter-node communication: %v %v", deref(tk.State), err)
	}

	// Terminating the task ends every instance.
	if _, err := bc.TerminateTask(c, "mpi", "mpi", nil); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(300 * time.Millisecond) {
		page, err := bc.NewListSubTasksPager("mpi", "mpi", nil).NextPage(c)
		if err == nil && len(page.Value) == 1 && deref(page.Value[0].State) == azbatch.SubtaskStateCompleted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the subtask did not end: %+v %v", page.Value, err)
		}
	}
	// Both nodes are free again, and the service the subtask's coordination
	// command left in the background ended with the subtask.
	gone := "/bin/sh -c '! /bin/busybox nc -w 3 " + sub + " 5000 </dev/null'"
	for _, id := range []string{"a", "b"} {
		if _, err := bc.CreateTask(c, "mpi", azbatch.CreateTaskContent{ID: to.Ptr(id), CommandLine: to.Ptr(gone)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"a", "b"} {
		if tk := e.waitTask(t, c, bc, "mpi", id); deref(tk.ExecutionInfo.Result) != azbatch.TaskExecutionResultSuccess {
			t.Errorf("task %s still reached the subtask's service: %+v", id, tk.ExecutionInfo)
		}
	}

	// The same through @azure/batch with SharedKey.
	var nodeOut struct {
		Settings struct {
			NumberOfInstances       int    `json:"numberOfInstances"`
			CoordinationCommandLine string `json:"coordinationCommandLine"`
		} `json:"settings"`
		Result   string `json:"result"`
		ExitCode int    `json:"exitCode"`
		Primary  string `json:"primary"`
		Subtasks []struct {
			ID       int    `json:"id"`
			State    string `json:"state"`
			Result   string `json:"result"`
			NodeID   string `json:"nodeId"`
			ExitCode int    `json:"exitCode"`
		} `json:"subtasks"`
	}
	e.node("multiinstance.js", map[string]any{"resourceGroup": "mi", "account": "miacct", "accountEndpoint": endpoint, "job": "mpi"}, &nodeOut)
	if nodeOut.Settings.NumberOfInstances != 2 || nodeOut.Settings.CoordinationCommandLine == "" || nodeOut.Result != "success" || nodeOut.ExitCode != 0 ||
		len(nodeOut.Subtasks) != 1 || nodeOut.Subtasks[0].ID != 1 || nodeOut.Subtasks[0].State != "completed" ||
		nodeOut.Subtasks[0].Result != "success" || nodeOut.Subtasks[0].NodeID == nodeOut.Primary {
		t.Errorf("node: %+v", nodeOut)
	}
	if got := e.taskFile(t, c, bc, "mpi", "nodemi", "stdout.txt"); !strings.Contains(got, "coordinated\nhosts=10.0.") {
		t.Errorf("node: the primary's output %q", got)
	}
}

// TestMultiInstanceProcess runs a multi-instance task with process
// isolation (no network namespaces): the instances share the host's
// network, so AZ_BATCH_HOST_LIST names 127.0.0.1 once per instance, and the
// primary still runs after both coordination commands, with the task's
// exit code.
func TestMultiInstanceProcess(t *testing.T) {
	t.Parallel()
	e := startWith(t, server.Options{Isolation: "process"})
	c := ctx(t)
	bc := e.batchClient(t, e.emptyAccount(t, c, "mip", "mipacct"))
	miPool(t, c, bc, "mpi", 2, true)
	if _, err := bc.CreateJob(c, azbatch.CreateJobContent{ID: to.Ptr("mpi"), PoolInfo: &azbatch.PoolInfo{PoolID: to.Ptr("mpi")}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := bc.CreateTask(c, "mpi", azbatch.CreateTaskContent{ID: to.Ptr("mpi"),
		CommandLine: to.Ptr(`/bin/sh -c 'cat "$AZ_BATCH_TASK_SHARED_DIR/coord.txt"; echo "hosts=$AZ_BATCH_HOST_LIST"; exit 3'`),
		MultiInstanceSettings: &azbatch.MultiInstanceSettings{NumberOfInstances: to.Ptr[int32](2),
			CoordinationCommandLine: to.Ptr(`/bin/sh -c 'echo "coordinated master=$AZ_BATCH_IS_CURRENT_NODE_MASTER" > "$AZ_BATCH_TASK_SHARED_DIR/coord.txt"'`)}}, nil); err != nil {
		t.Fatal(err)
	}
	tk := e.waitTask(t, c, bc, "mpi", "mpi")
	if deref(tk.ExecutionInfo.ExitCode) != 3 || deref(tk.ExecutionInfo.Result) != azbatch.TaskExecutionResultFailure {
		t.Fatalf("task: %+v", tk.ExecutionInfo)
	}
	if got := e.taskFile(t, c, bc, "mpi", "mpi", "stdout.txt"); got != "coordinated master=true\nhosts=127.0.0.1,127.0.0.1\n" {
		t.Fatalf("stdout %q", got)
	}
	page, err := bc.NewListSubTasksPager("mpi", "mpi", nil).NextPage(c)
	if err != nil || len(page.Value) != 1 || deref(page.Value[0].State) != azbatch.SubtaskStateCompleted ||
		deref(page.Value[0].Result) != azbatch.TaskExecutionResultSuccess || deref(page.Value[0].ExitCode) != 0 ||
		deref(page.Value[0].NodeInfo.NodeID) == deref(tk.NodeInfo.NodeID) {
		t.Fatalf("subtasks: %+v %v", page.Value, err)
	}
}
