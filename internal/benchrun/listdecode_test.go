package benchrun

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/batch/azbatch"
)

// BenchmarkSDKTaskPageDecode measures the client's side of the list row
// (in-process): azbatch decoding one page of 1,000 completed tasks as
// Cobalt renders them. The pager reads pages one after the other, so this
// adds to the server's time for every page.
func BenchmarkSDKTaskPageDecode(b *testing.B) {
	// One completed task as Cobalt renders it (TestRenderCompletedTask).
	item := `{"id":"t%06d","commandLine":"/bin/true","constraints":{"maxWallClockTime":"P10675199DT2H48M5.4775807S","retentionTime":"P7D","maxTaskRetryCount":0},"requiredSlots":1,"url":"https://127.0.0.1:44321/jobs/tasks/tasks/t%06d","eTag":"0x8D00000000002711","lastModified":"2026-12-05T13:14:30.4393249Z","creationTime":"2026-12-05T13:14:30.3356058Z","state":"completed","stateTransitionTime":"2026-12-05T13:14:30.4393249Z","previousState":"running","previousStateTransitionTime":"2026-12-05T13:14:30.4376336Z","executionInfo":{"startTime":"2026-12-05T13:14:30.4384216Z","endTime":"2026-12-05T13:14:30.4392158Z","exitCode":0,"retryCount":0,"requeueCount":0,"result":"success"},"nodeInfo":{"affinityId":"TVM:tvm-1345628631_1-20261205t131430z","nodeUrl":"https://127.0.0.1:44321/pools/tasks/nodes/tvm-1345628631_1-20261205t131430z","poolId":"tasks","nodeId":"tvm-1345628631_1-20261205t131430z","taskRootDirectory":"workitems/tasks/job-1/t%06d","taskRootDirectoryUrl":"https://127.0.0.1:44321/pools/tasks/nodes/tvm-1345628631_1-20261205t131430z/files/workitems/tasks/job-1/t%06d"}}`
	var items []string
	for i := range 1000 {
		items = append(items, fmt.Sprintf(item, i, i, i, i))
	}
	page := []byte(`{"odata.metadata":"https://x/$metadata#tasks","value":[` + strings.Join(items, ",") + `],"odata.nextLink":"https://x/jobs/tasks/tasks?$skiptoken=abc"}`)
	b.SetBytes(int64(len(page)))
	for b.Loop() {
		var r azbatch.TaskListResult
		if err := r.UnmarshalJSON(page); err != nil {
			b.Fatal(err)
		}
	}
}

func TestProcessCPU(t *testing.T) {
	d, err := processCPU(os.Getpid())
	if err != nil || d < 0 {
		t.Fatalf("processCPU(self) = %v, %v", d, err)
	}
	if _, err := processCPU(-1); err == nil {
		t.Fatal("processCPU(-1) succeeded")
	}
}
