package batchapi

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	cobalt "github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/batchwire"
)

// sameJSON reports whether a and b hold the same JSON value.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(va, vb)
}

// Every property the data plane keeps goes through the domain types and
// comes back as the client sent it.
func TestJobSpecWireRoundTrip(t *testing.T) {
	t.Parallel()
	in := []byte(`{"id":"job1","displayName":"Job one","usesTaskDependencies":false,"priority":100,"allowTaskPreemption":true,
		"maxParallelTasks":4,"constraints":{"maxWallClockTime":"PT2H","maxTaskRetryCount":3},
		"commonEnvironmentSettings":[{"name":"A","value":"1"}],"poolInfo":{"poolId":"pool1"},"onAllTasksComplete":"terminatejob",
		"onTaskFailure":"performexitoptionsjobaction","networkConfiguration":{"subnetId":"/s/subnets/default","skipWithdrawFromVNet":true},
		"metadata":[{"name":"k","value":"v"}]}`)
	var w jobSpecWire
	if err := decodeBody(in, &w, false); err != nil {
		t.Fatal(err)
	}
	spec, err := w.domain()
	if err != nil {
		t.Fatal(err)
	}
	if spec.Constraints == nil || *spec.Constraints.MaxWallClockTime != cobalt.Duration(2*time.Hour) ||
		spec.OnTaskFailure != cobalt.OnTaskFailurePerformExitOptionsJobAction || spec.PoolInfo.PoolID != "pool1" {
		t.Fatalf("domain %+v", spec)
	}
	out, _ := json.Marshal(batchwire.FromJobSpec(spec))
	if !sameJSON(t, in, out) {
		t.Fatalf("round trip\n%s\n%s", in, out)
	}
}

func TestTaskSpecWireRoundTrip(t *testing.T) {
	t.Parallel()
	in := []byte(`{"id":"t1","displayName":"T","commandLine":"/bin/sh -c 'exit 3'",
		"exitConditions":{"exitCodes":[{"code":3,"exitOptions":{"jobAction":"disable"}}],"exitCodeRanges":[{"start":10,"end":20,"exitOptions":{"jobAction":"none","dependencyAction":"block"}}],"preProcessingError":{"jobAction":"terminate"},"fileUploadError":{"jobAction":"none"},"default":{"jobAction":"terminate"}},
		"resourceFiles":[{"autoStorageContainerName":"inputs","blobPrefix":"a/","identityReference":{"resourceId":"/id1"}},{"httpUrl":"https://127.0.0.1:1/a/b","filePath":"y","fileMode":"0755"}],
		"outputFiles":[{"filePattern":"*.txt","destination":{"container":{"path":"logs","containerUrl":"https://127.0.0.1:1/acct/out","identityReference":{"resourceId":"/id"},"uploadHeaders":[{"name":"x-ms-blob-content-type","value":"text/plain"}]}},"uploadOptions":{"uploadCondition":"taskcompletion"}}],
		"environmentSettings":[{"name":"E","value":"2"}],"affinityInfo":{"affinityId":"node1"},
		"constraints":{"maxWallClockTime":"PT1H","retentionTime":"P7D","maxTaskRetryCount":2},"requiredSlots":2,
		"userIdentity":{"autoUser":{"scope":"task","elevationLevel":"admin"}},
		"applicationPackageReferences":[{"applicationId":"app","version":"1"}],"authenticationTokenSettings":{"access":["job"]},
		"containerSettings":{"imageName":"busybox","containerRunOptions":"--rm","registry":{"registryServer":"r.azurecr.io","username":"u","password":"p"},"workingDirectory":"taskWorkingDirectory","containerHostBatchBindMounts":[{"source":"Shared","isReadOnly":true}]}}`)
	var w taskSpecWire
	if err := decodeBody(in, &w, false); err != nil {
		t.Fatal(err)
	}
	spec, err := w.domain()
	if err != nil {
		t.Fatal(err)
	}
	if len(spec.OutputFiles) != 1 || spec.OutputFiles[0].ContainerURL != "https://127.0.0.1:1/acct/out" ||
		spec.UserIdentity.AutoUser.ElevationLevel != cobalt.ElevationAdmin || spec.ContainerSettings.Registry.Username != "u" ||
		spec.ExitConditions.ExitCodes[0].ExitOptions.JobAction != "disable" {
		t.Fatalf("domain %+v", spec)
	}
	out, _ := json.Marshal(batchwire.FromTaskSpec(spec))
	if !sameJSON(t, in, out) {
		t.Fatalf("round trip\n%s\n%s", in, out)
	}
}

func TestUnsupportedProperties(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		body, target string
		task         bool
	}{
		{`{"id":"j","poolInfo":{"autoPoolSpecification":{"poolLifetimeOption":"job"}}}`, "poolInfo.autoPoolSpecification", false},
	} {
		var err error
		if tt.task {
			var w taskSpecWire
			if err = decodeBody([]byte(tt.body), &w, false); err == nil {
				_, err = w.domain()
			}
		} else {
			var w jobSpecWire
			if err = decodeBody([]byte(tt.body), &w, false); err == nil {
				_, err = w.domain()
			}
		}
		e := toWireError(err)
		if e.Status != 400 || e.Code != codeUnsupportedProp {
			t.Errorf("%s: %d %s", tt.body, e.Status, e.Code)
		}
		if tt.target != "" && (len(e.Values) != 1 || e.Values[0].Value != tt.target) {
			t.Errorf("%s: values %+v", tt.body, e.Values)
		}
	}
	var w jobSpecWire
	if err := decodeBody([]byte(`{"id":"j","poolInfo":{"poolId":"p","autoPoolSpecification":null}}`), &w, false); err != nil {
		t.Fatal(err)
	}
	if _, err := w.domain(); err != nil {
		t.Fatalf("a null auto pool is no auto pool: %v", err)
	}
}

func TestJobToWire(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	unlimited := cobalt.Unlimited
	j := cobalt.Job{JobSpec: cobalt.JobSpec{ID: "j", PoolInfo: &cobalt.PoolInformation{PoolID: "p"},
		Constraints: &cobalt.JobConstraints{MaxWallClockTime: &unlimited, MaxTaskRetryCount: new(int)}},
		ETag: "0x8D1", State: cobalt.JobActive, ExecutionInfo: cobalt.JobExecutionInfo{StartTime: start, PoolID: "p"}}
	b, _ := json.Marshal(jobToWire(j, "https://h/jobs/j"))
	want := `{"id":"j","constraints":{"maxWallClockTime":"P10675199DT2H48M5.4775807S","maxTaskRetryCount":0},"poolInfo":{"poolId":"p"},` +
		`"url":"https://h/jobs/j","eTag":"0x8D1","lastModified":"0001-01-01T00:00:00Z","creationTime":"0001-01-01T00:00:00Z",` +
		`"state":"active","stateTransitionTime":"0001-01-01T00:00:00Z","executionInfo":{"startTime":"2026-11-01T10:00:00Z","poolId":"p"}}`
	if string(b) != want {
		t.Fatalf("got\n%s\nwant\n%s", b, want)
	}
}

// A duration that is not a string is the data plane's 400.
func TestWireDurationNotString(t *testing.T) {
	t.Parallel()
	var c struct {
		D *batchwire.Duration `json:"d"`
	}
	if err := decodeBody([]byte(`{"d":5}`), &c, false); toWireError(err).Status != 400 {
		t.Errorf("a number as a duration: %v", err)
	}
}

func TestTaskDependenciesRoundTrip(t *testing.T) {
	t.Parallel()
	body := `{"id":"sink","commandLine":"x","dependsOn":{"taskIds":["a","B"],"taskIdRanges":[{"start":1,"end":998}]},` +
		`"exitConditions":{"exitCodes":[{"code":3,"exitOptions":{"dependencyAction":"satisfy"}}],"default":{"dependencyAction":"block"}}}`
	var w taskSpecWire
	if err := decodeBody([]byte(body), &w, false); err != nil {
		t.Fatal(err)
	}
	spec, err := w.domain()
	if err != nil {
		t.Fatal(err)
	}
	d := spec.DependsOn
	if d == nil || fmt.Sprint(d.TaskIDs) != "[a B]" || len(d.TaskIDRanges) != 1 || d.TaskIDRanges[0] != (cobalt.TaskIDRange{Start: 1, End: 998}) {
		t.Fatalf("dependsOn %+v", d)
	}
	if spec.ExitConditions.ExitCodes[0].ExitOptions.DependencyAction != "satisfy" || spec.ExitConditions.Default.DependencyAction != "block" {
		t.Fatalf("exitConditions %+v", spec.ExitConditions)
	}
	out, err := json.Marshal(batchwire.FromTaskSpec(spec))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"dependsOn":{"taskIds":["a","B"],"taskIdRanges":[{"start":1,"end":998}]}`) {
		t.Fatalf("encoded %s", out)
	}
}

// TestRenderCompletedTask: a completed task renders as Batch writes one
// (Tasks_GetTask, and az batch task show of a Linux task): times with seven
// fractional digits, nodeInfo's affinityId "TVM:" and the node's ID, and
// taskRootDirectoryUrl with its slashes, not %2F.
func TestRenderCompletedTask(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 5, 13, 14, 30, 439324951, time.UTC)
	end := at.Add(time.Millisecond)
	code, slots := 0, 1
	task := cobalt.Task{TaskSpec: cobalt.TaskSpec{ID: "t 1", CommandLine: "/bin/true", RequiredSlots: &slots}, ETag: "0x8D1",
		LastModified: end, CreationTime: at, State: cobalt.TaskCompleted, StateTransitionTime: end,
		PreviousState: cobalt.TaskRunning, PreviousStateTransitionTime: &at,
		ExecutionInfo: cobalt.TaskExecutionInfo{StartTime: &at, EndTime: &end, ExitCode: &code, Result: cobalt.TaskSuccess},
		NodeInfo:      &cobalt.TaskNodeInfo{PoolID: "p1", NodeID: "tvm-1_1-20261205t131430z", TaskRootDirectory: "workitems/j1/job-1/t 1"}}
	rc := &reqCtx{r: httptest.NewRequest("GET", "https://acct.example:443/jobs/j1/tasks", nil)}
	got := rc.renderTask("j1", &task)
	want := `{"id":"t 1","commandLine":"/bin/true","requiredSlots":1,"url":"https://acct.example:443/jobs/j1/tasks/t%201",` +
		`"eTag":"0x8D1","lastModified":"2026-12-05T13:14:30.4403249Z","creationTime":"2026-12-05T13:14:30.4393249Z",` +
		`"state":"completed","stateTransitionTime":"2026-12-05T13:14:30.4403249Z","previousState":"running",` +
		`"previousStateTransitionTime":"2026-12-05T13:14:30.4393249Z","executionInfo":{"startTime":"2026-12-05T13:14:30.4393249Z",` +
		`"endTime":"2026-12-05T13:14:30.4403249Z","exitCode":0,"retryCount":0,"requeueCount":0,"result":"success"},` +
		`"nodeInfo":{"affinityId":"TVM:tvm-1_1-20261205t131430z","nodeUrl":"https://acct.example:443/pools/p1/nodes/tvm-1_1-20261205t131430z",` +
		`"poolId":"p1","nodeId":"tvm-1_1-20261205t131430z","taskRootDirectory":"workitems/j1/job-1/t 1",` +
		`"taskRootDirectoryUrl":"https://acct.example:443/pools/p1/nodes/tvm-1_1-20261205t131430z/files/workitems/j1/job-1/t%201"}}`
	if !sameJSON(t, got, []byte(want)) {
		t.Errorf("rendered task:\n got %s\nwant %s", got, want)
	}
}
