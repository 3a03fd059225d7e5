package sdktest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/batchapi"
	"github.com/cobaltbatch/cobalt/internal/testenv"
)

// batchModule is the Node SDK the scripts of this suite load.
const batchModule = "@azure/batch"

// TestNodeSDKSharedKey runs test/node/batch/sharedkey.js: @azure/batch 10.2.0
// with BatchSharedKeyCredentials at the account endpoint's host root.
func TestNodeSDKSharedKey(t *testing.T) {
	testenv.Require(t, testenv.NodeModule(batchModule))
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	spec, err := batchapi.DecodeDataPlanePool([]byte(`{"id":"pool1","vmSize":"STANDARD_D2S_V3","targetDedicatedNodes":1,
		"virtualMachineConfiguration":{"imageReference":{"publisher":"canonical","offer":"ubuntu-24_04-lts","sku":"server"},
		"nodeAgentSKUId":"batch.node.ubuntu 24.04"}}`), batchapi.DPAdd)
	if err != nil {
		t.Fatal(err)
	}
	acct, err := e.pools.AccountGet(ctx, e.account)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.pools.PoolCreate(ctx, acct, spec); err != nil {
		t.Fatal(err)
	}
	nodeID := e.waitNode("pool1")
	go e.fakeNode(ctx, "pool1", nodeID)

	got := runSharedKeyScript(ctx, t, e.ca.CAFile(), e.endpoint, e.account, e.key, "pool1", "job1")
	checkSharedKeyScript(t, got, nodeID, "0640")
}

// sharedKeyResult is what test/node/batch/sharedkey.js prints.
type sharedKeyResult struct {
	PoolState  string `json:"poolState"`
	PoolExists bool   `json:"poolExists"`
	Collection []struct {
		TaskID string `json:"taskId"`
		Status string `json:"status"`
		Code   string `json:"code"`
	} `json:"collection"`
	TaskCounts  map[string]int `json:"taskCounts"`
	ListedTasks []string       `json:"listedTasks"`
	T1          struct {
		State    string `json:"state"`
		ExitCode int    `json:"exitCode"`
		NodeID   string `json:"nodeId"`
	} `json:"t1"`
	Stdout string `json:"stdout"`
	Range  string `json:"range"`
	Props  struct {
		ContentLength int    `json:"contentLength"`
		IsDirectory   bool   `json:"isDirectory"`
		Mode          string `json:"mode"`
	} `json:"props"`
	Files    []string `json:"files"`
	Nodes    []struct{ ID, State string }
	JobState string `json:"jobState"`
	Missing  struct {
		StatusCode int    `json:"statusCode"`
		Code       string `json:"code"`
	} `json:"missing"`
}

// runSharedKeyScript runs test/node/batch/sharedkey.js against an account endpoint.
func runSharedKeyScript(ctx context.Context, t *testing.T, caFile, endpoint, account, key, pool, job string) sharedKeyResult {
	t.Helper()
	var got sharedKeyResult
	testenv.RunNodeJSON(ctx, t, testenv.NodeRun{Script: "batch/sharedkey.js", Modules: []string{batchModule}, CAFile: caFile,
		Env: map[string]string{"BATCH_URL": "https://" + endpoint, "BATCH_ACCOUNT": account, "BATCH_KEY": key, "POOL_ID": pool, "JOB_ID": job}}, &got)
	t.Logf("node saw: %+v", got)
	return got
}

// checkSharedKeyScript checks what the script saw; nodeID and mode are
// checked when not "".
func checkSharedKeyScript(t *testing.T, got sharedKeyResult, nodeID, mode string) {
	t.Helper()
	if got.PoolState != "active" || !got.PoolExists {
		t.Errorf("pool: %q exists=%v", got.PoolState, got.PoolExists)
	}
	status := map[string]string{}
	for _, c := range got.Collection {
		status[c.TaskID] = c.Status + "/" + c.Code
	}
	if status["t2"] != "success/" || status["t3"] != "success/" || status["t1"] != "clienterror/TaskExists" {
		t.Errorf("collection: %v", status)
	}
	if got.TaskCounts["completed"] != 3 || got.TaskCounts["succeeded"] != 3 {
		t.Errorf("task counts: %v", got.TaskCounts)
	}
	if !reflect.DeepEqual(got.ListedTasks, []string{"t1", "t2", "t3"}) {
		t.Errorf("listed tasks: %v", got.ListedTasks)
	}
	if got.T1.State != "completed" || got.T1.ExitCode != 0 || (nodeID != "" && got.T1.NodeID != nodeID) {
		t.Errorf("t1: %+v", got.T1)
	}
	if got.Stdout != "hi\n" || got.Range != "0123" {
		t.Errorf("stdout %q, range %q", got.Stdout, got.Range)
	}
	if got.Props.ContentLength != 10 || got.Props.IsDirectory || (mode != "" && got.Props.Mode != mode) {
		t.Errorf("props: %+v", got.Props)
	}
	if !reflect.DeepEqual(got.Files, []string{"stderr.txt", "stdout.txt", "wd/", "wd/out.txt"}) {
		t.Errorf("files: %v", got.Files)
	}
	if len(got.Nodes) != 1 || (nodeID != "" && got.Nodes[0].ID != nodeID) {
		t.Errorf("nodes: %+v", got.Nodes)
	}
	if got.JobState != "completed" {
		t.Errorf("job state %q (onAllTasksComplete terminatejob)", got.JobState)
	}
	if got.Missing.StatusCode != 404 || got.Missing.Code != "TaskNotFound" {
		t.Errorf("missing task: %+v", got.Missing)
	}
}
