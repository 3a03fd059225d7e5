package jobs

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// The files in testdata/release1 are rows as the first release wrote them
// (its jobs and tasks were stored as the data plane's JSON). They must still
// decode, and what they decode to must survive the current encoding.

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "release1", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func at(s string) time.Time {
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return v
}

func TestDecodeRelease1Job(t *testing.T) {
	t.Parallel()
	created := at("2026-11-01T10:00:00Z")
	rec := store.JobRecord{ID: "job1", State: jobDisabled, Version: 7, CreatedAt: created, UpdatedAt: at("2026-11-01T11:00:00Z"),
		Spec: readFixture(t, "job.json")}
	j, err := jobFromRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	twoHours := cobalt.Duration(2 * time.Hour)
	want := cobalt.Job{
		JobSpec: cobalt.JobSpec{ID: "job1", DisplayName: "Job one", UsesTaskDependencies: ptr(false), Priority: ptr(100),
			AllowTaskPreemption: ptr(false), MaxParallelTasks: ptr(-1),
			Constraints:               &cobalt.JobConstraints{MaxWallClockTime: &twoHours, MaxTaskRetryCount: ptr(3)},
			CommonEnvironmentSettings: []cobalt.NameValue{{Name: "A", Value: "1"}},
			PoolInfo:                  &cobalt.PoolInformation{PoolID: "pool1"},
			OnAllTasksComplete:        cobalt.OnAllTasksCompleteTerminateJob, OnTaskFailure: cobalt.OnTaskFailurePerformExitOptionsJobAction,
			NetworkConfiguration: &cobalt.JobNetworkConfiguration{
				SubnetID: "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/v/subnets/default"},
			Metadata: []cobalt.NameValue{{Name: "k", Value: "v"}}},
		ETag: ETag(7), LastModified: at("2026-11-01T11:00:00Z"), CreationTime: created,
		State: cobalt.JobDisabled, StateTransitionTime: at("2026-11-01T11:00:00Z"),
		PreviousState: cobalt.JobActive, PreviousStateTransitionTime: &created,
		ExecutionInfo: cobalt.JobExecutionInfo{StartTime: created, PoolID: "pool1"},
	}
	if !reflect.DeepEqual(j, want) {
		t.Fatalf("decoded\n%+v\nwant\n%+v", j, want)
	}
	rec.Spec = encodeJob(j)
	if again, err := jobFromRecord(rec); err != nil || !reflect.DeepEqual(again, want) {
		t.Fatalf("after re-encoding %s:\n%+v, %v", rec.Spec, again, err)
	}

	done, err := jobFromRecord(store.JobRecord{ID: "job2", State: jobCompleted, Version: 9, CreatedAt: created,
		UpdatedAt: created, Spec: readFixture(t, "job_completed.json")})
	if err != nil {
		t.Fatal(err)
	}
	end := at("2026-11-01T12:00:00.5Z")
	if done.State != cobalt.JobCompleted || !done.Constraints.MaxWallClockTime.IsUnlimited() || !noLimit(done.Constraints.MaxWallClockTime) ||
		done.ExecutionInfo.EndTime == nil || !done.ExecutionInfo.EndTime.Equal(end) || done.ExecutionInfo.TerminateReason != "UserTerminate" ||
		done.DisplayName != "" || done.NetworkConfiguration != nil {
		t.Fatalf("completed job %+v", done)
	}
}

func TestDecodeRelease1Task(t *testing.T) {
	t.Parallel()
	rec := store.TaskRecord{ID: "t1", State: taskCompleted, Result: resultFailure, Version: 3, RetryCount: 1,
		StateAt: at("2026-11-01T10:02:00Z"), CreatedAt: at("2026-11-01T10:00:00Z"), UpdatedAt: at("2026-11-01T10:02:00Z"),
		Spec: readFixture(t, "task_spec.json"), Exec: readFixture(t, "task_exec.json")}
	task, err := taskFromRecord("job1", rec)
	if err != nil {
		t.Fatal(err)
	}
	hour, week := cobalt.Duration(time.Hour), cobalt.Duration(7*24*time.Hour)
	idRef := &cobalt.IdentityReference{ResourceID: "/id"}
	wantSpec := cobalt.TaskSpec{ID: "t1", DisplayName: "T", CommandLine: "/bin/sh -c 'exit 3'",
		ExitConditions: &cobalt.ExitConditions{
			ExitCodes:      []cobalt.ExitCodeMapping{{Code: 3, ExitOptions: cobalt.ExitOptions{JobAction: "disable"}}},
			ExitCodeRanges: []cobalt.ExitCodeRangeMapping{{Start: 10, End: 20, ExitOptions: cobalt.ExitOptions{JobAction: "none"}}},
			Default:        &cobalt.ExitOptions{JobAction: "terminate"}},
		ResourceFiles: []cobalt.ResourceFile{
			{AutoStorageContainerName: "inputs", FilePath: "in", IdentityReference: &cobalt.IdentityReference{
				ResourceID: "/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1"}},
			{HTTPURL: "https://127.0.0.1:1/a/b", FilePath: "y", FileMode: "0755"}},
		OutputFiles: []cobalt.OutputFile{{FilePattern: "*.txt", ContainerURL: "https://127.0.0.1:1/acct/out", Path: "logs",
			IdentityReference: idRef, UploadHeaders: []cobalt.NameValue{{Name: "x-ms-blob-content-type", Value: "text/plain"}},
			UploadCondition: cobalt.UploadOnTaskCompletion}},
		EnvironmentSettings:          []cobalt.NameValue{{Name: "E", Value: "2"}},
		AffinityInfo:                 &cobalt.AffinityInformation{AffinityID: "node1"},
		Constraints:                  &cobalt.TaskConstraints{MaxWallClockTime: &hour, RetentionTime: &week, MaxTaskRetryCount: ptr(2)},
		RequiredSlots:                ptr(2),
		UserIdentity:                 &cobalt.UserIdentity{AutoUser: &cobalt.AutoUser{Scope: cobalt.AutoUserScopeTask, ElevationLevel: cobalt.ElevationAdmin}},
		ApplicationPackageReferences: []cobalt.ApplicationPackageReference{{ApplicationID: "app", Version: "1"}},
		AuthenticationTokenSettings:  &cobalt.AuthenticationTokenSettings{Access: []string{"job"}},
		ContainerSettings: &cobalt.ContainerSettings{ImageName: "busybox", ContainerRunOptions: "--rm",
			Registry:                     &cobalt.ContainerRegistry{RegistryServer: "r.azurecr.io", IdentityReference: idRef},
			WorkingDirectory:             cobalt.ContainerWorkDirTask,
			ContainerHostBatchBindMounts: []cobalt.ContainerHostBatchBindMount{{Source: "Shared", IsReadOnly: true}}},
	}
	if !reflect.DeepEqual(task.TaskSpec, wantSpec) {
		t.Fatalf("spec\n%+v\nwant\n%+v", task.TaskSpec, wantSpec)
	}
	ei := task.ExecutionInfo
	if task.State != cobalt.TaskCompleted || task.PreviousState != cobalt.TaskRunning || ei.Result != cobalt.TaskFailure ||
		ei.ExitCode == nil || *ei.ExitCode != 3 || ei.RetryCount != 1 || ei.FailureInfo == nil ||
		ei.FailureInfo.Code != "FailureExitCode" || len(ei.FailureInfo.Details) != 1 ||
		task.NodeInfo == nil || task.NodeInfo.NodeID != "tvmps_1" || task.NodeInfo.PoolID != "pool1" {
		t.Fatalf("task %+v, exec %+v, node %+v", task, ei, task.NodeInfo)
	}
	if jobActionFor(task) != "disable" {
		t.Fatalf("job action %q, want the exit code's", jobActionFor(task))
	}

	rec.Spec, rec.Exec = encodeTaskSpec(task.TaskSpec), decodeExec(rec.Exec).encode()
	again, err := taskFromRecord("job1", rec)
	if err != nil || !reflect.DeepEqual(again, task) {
		t.Fatalf("after re-encoding %s %s:\n%+v, %v", rec.Spec, rec.Exec, again, err)
	}
}

// Completing an attempt reads only a task's constraints: they are the
// constraints the whole spec decodes to.
func TestDecodeTaskConstraintsMatchesTheSpec(t *testing.T) {
	d := cobalt.Duration(90 * time.Second)
	specs := []cobalt.TaskSpec{
		{ID: "none", CommandLine: "/bin/true"},
		{ID: "empty", CommandLine: "/bin/true", Constraints: &cobalt.TaskConstraints{}},
		{ID: "all", CommandLine: "/bin/true", Constraints: &cobalt.TaskConstraints{MaxWallClockTime: &d, RetentionTime: &d, MaxTaskRetryCount: ptr(-1)}},
		{ID: "retry", CommandLine: "/bin/false", Constraints: &cobalt.TaskConstraints{MaxTaskRetryCount: ptr(3)},
			EnvironmentSettings: []cobalt.NameValue{{Name: "A", Value: "b"}}},
	}
	docs := [][]byte{readFixture(t, "task_spec.json")} // as the first release wrote it
	for _, s := range specs {
		docs = append(docs, encodeTaskSpec(s))
	}
	for i, b := range docs {
		full, err := decodeTaskSpec(b)
		if err != nil {
			t.Fatal(err)
		}
		c, err := decodeTaskConstraints(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(c, full.Constraints) {
			t.Errorf("spec %d: constraints %+v, the spec's %+v", i, c, full.Constraints)
		}
	}
	if _, err := decodeTaskConstraints([]byte(`{"constraints":`)); err == nil {
		t.Error("a malformed spec decoded")
	}
}
