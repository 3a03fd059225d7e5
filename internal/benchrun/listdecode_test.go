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
	item := `{"id":"t%05d","url":"https://127.0.0.1:44321/jobs/tasks/tasks/t%05d","commandLine":"/bin/true","eTag":"0x8DD","lastModified":"2026-12-05T10:28:11.701596941Z","creationTime":"2026-12-05T10:28:11.701596941Z","state":"completed","stateTransitionTime":"2026-12-05T10:28:11.701596941Z","previousState":"running","previousStateTransitionTime":"2026-12-05T10:28:11.701596941Z","constraints":{"maxWallClockTime":"P10675199DT2H48M5.4775807S","retentionTime":"P7D","maxTaskRetryCount":0},"executionInfo":{"startTime":"2026-12-05T10:28:11.701596941Z","endTime":"2026-12-05T10:28:11.701596941Z","exitCode":0,"retryCount":0,"requeueCount":0,"result":"success"},"nodeInfo":{"affinityId":"TVM:tvm-1","nodeUrl":"https://127.0.0.1:44321/pools/tasks/nodes/tvm-1234_1-20261205t000000z","poolId":"tasks","nodeId":"tvm-1234_1-20261205t000000z","taskRootDirectory":"workitems/tasks/job-1/t00001","taskRootDirectoryUrl":"https://127.0.0.1:44321/pools/tasks/nodes/tvm-1234_1-20261205t000000z/files/workitems/tasks/job-1/t00001"}}`
	var items []string
	for i := range 1000 {
		items = append(items, fmt.Sprintf(item, i, i))
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
