package batchwire

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
)

// A spec with every property goes to JSON and back to the same domain value.
func TestJobTaskRoundTrip(t *testing.T) {
	t.Parallel()
	hour, unlimited, two, yes := cobalt.Duration(time.Hour), cobalt.Unlimited, 2, true
	job := cobalt.JobSpec{ID: "j", DisplayName: "J", UsesTaskDependencies: &yes, Priority: &two, AllowTaskPreemption: &yes, MaxParallelTasks: &two,
		Constraints:               &cobalt.JobConstraints{MaxWallClockTime: &unlimited, MaxTaskRetryCount: &two},
		CommonEnvironmentSettings: []cobalt.NameValue{{Name: "A", Value: "1"}}, PoolInfo: &cobalt.PoolInformation{PoolID: "p"},
		OnAllTasksComplete: cobalt.OnAllTasksComplete("terminatejob"), OnTaskFailure: cobalt.OnTaskFailurePerformExitOptionsJobAction,
		NetworkConfiguration: &cobalt.JobNetworkConfiguration{SubnetID: "/s", SkipWithdrawFromVNet: &yes},
		Metadata:             []cobalt.NameValue{{Name: "k", Value: "v"}}}
	opts := cobalt.ExitOptions{JobAction: "terminate", DependencyAction: "block"}
	id := &cobalt.IdentityReference{ResourceID: "/id"}
	task := cobalt.TaskSpec{ID: "t", DisplayName: "T", CommandLine: "x",
		ExitConditions: &cobalt.ExitConditions{ExitCodes: []cobalt.ExitCodeMapping{{Code: 3, ExitOptions: opts}},
			ExitCodeRanges:     []cobalt.ExitCodeRangeMapping{{Start: 10, End: 20, ExitOptions: opts}},
			PreProcessingError: &opts, FileUploadError: &opts, Default: &opts},
		ResourceFiles: []cobalt.ResourceFile{{AutoStorageContainerName: "in", BlobPrefix: "a/", IdentityReference: id}, {HTTPURL: "https://h/x", FilePath: "x", FileMode: "0755"}},
		OutputFiles: []cobalt.OutputFile{{FilePattern: "*.txt", Path: "logs", ContainerURL: "https://h/c", IdentityReference: id,
			UploadHeaders: []cobalt.NameValue{{Name: "h", Value: "v"}}, UploadCondition: cobalt.OutputFileUploadCondition("taskcompletion")}},
		EnvironmentSettings: []cobalt.NameValue{{Name: "E", Value: "2"}}, AffinityInfo: &cobalt.AffinityInformation{AffinityID: "n"},
		Constraints:   &cobalt.TaskConstraints{MaxWallClockTime: &hour, RetentionTime: &unlimited, MaxTaskRetryCount: &two},
		RequiredSlots: &two, UserIdentity: &cobalt.UserIdentity{AutoUser: &cobalt.AutoUser{Scope: "task", ElevationLevel: cobalt.ElevationAdmin}},
		ApplicationPackageReferences: []cobalt.ApplicationPackageReference{{ApplicationID: "app", Version: "1"}},
		AuthenticationTokenSettings:  &cobalt.AuthenticationTokenSettings{Access: []string{"job"}},
		ContainerSettings: &cobalt.ContainerSettings{ImageName: "busybox", ContainerRunOptions: "--rm", WorkingDirectory: "taskWorkingDirectory",
			Registry:                     &cobalt.ContainerRegistry{RegistryServer: "r", Username: "u", Password: "p", IdentityReference: id},
			ContainerHostBatchBindMounts: []cobalt.ContainerHostBatchBindMount{{Source: "Shared", IsReadOnly: true}}},
		DependsOn: &cobalt.TaskDependencies{TaskIDs: []string{"a"}, TaskIDRanges: []cobalt.TaskIDRange{{Start: 1, End: 9}}}}

	b, err := json.Marshal(FromJobSpec(job))
	if err != nil {
		t.Fatal(err)
	}
	var jd JobSpec
	if err := json.Unmarshal(b, &jd); err != nil {
		t.Fatal(err)
	}
	if got := jd.ToDomain(); !reflect.DeepEqual(got, job) {
		t.Fatalf("job\n%+v\n%+v", got, job)
	}
	if b, err = json.Marshal(FromTaskSpec(task)); err != nil {
		t.Fatal(err)
	}
	var td TaskSpec
	if err := json.Unmarshal(b, &td); err != nil {
		t.Fatal(err)
	}
	if got := td.ToDomain(); !reflect.DeepEqual(got, task) {
		t.Fatalf("task\n%+v\n%+v", got, task)
	}
	if got := (TaskSpec{ID: "t"}).ToDomain(); !reflect.DeepEqual(got, cobalt.TaskSpec{ID: "t"}) {
		t.Fatalf("empty task %+v", got)
	}
	fi := cobalt.TaskFailureInfo{Category: "UserError", Code: "c", Message: "m", Details: []cobalt.NameValue{{Name: "n", Value: "v"}}}
	if got := FromTaskFailureInfo(fi).ToDomain(); !reflect.DeepEqual(got, fi) {
		t.Fatalf("failure %+v", got)
	}
}

// Durations are the data plane's: Unlimited is written as .NET's
// TimeSpan.MaxValue and read back; weeks, negative spans and numbers are
// refused.
func TestDurationJSON(t *testing.T) {
	t.Parallel()
	b, _ := json.Marshal(TaskConstraints{MaxWallClockTime: durationPtr(new(cobalt.Unlimited))})
	if string(b) != `{"maxWallClockTime":"`+cobalt.UnlimitedText+`"}` {
		t.Fatalf("%s", b)
	}
	var c TaskConstraints
	if err := json.Unmarshal(b, &c); err != nil || !cobalt.Duration(*c.MaxWallClockTime).IsUnlimited() {
		t.Fatalf("%v %v", c.MaxWallClockTime, err)
	}
	for _, bad := range []string{`{"retentionTime":"P1W"}`, `{"retentionTime":"-PT1H"}`, `{"retentionTime":5}`} {
		if err := json.Unmarshal([]byte(bad), &c); err == nil {
			t.Errorf("%s decoded", bad)
		}
	}
}
