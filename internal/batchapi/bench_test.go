package batchapi

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"testing"
)

// BenchmarkSharedKeyVerify measures verifying a SharedKey signature, which
// tries every documented client variant of the string-to-sign, beside the
// baseline of one HMAC-SHA256 of one string-to-sign.
func BenchmarkSharedKeyVerify(b *testing.B) {
	r := httptest.NewRequest("GET", "https://127.0.0.1:1/jobs/j1/tasks?api-version=2024-07-01.20.0&$filter=state%20eq%20'active'&maxresults=100&timeOut=30", nil)
	r.Header.Set("ocp-date", "Sun, 29 Nov 2026 17:00:22 GMT")
	r.Header.Set("client-request-id", "8f1c")
	key, _ := base64.StdEncoding.DecodeString(testKey)
	s := nodeSigner(r, "acct1")
	sig := signString(key, s)
	b.Run("baseline-one-hmac", func(b *testing.B) {
		for b.Loop() {
			_ = signString(key, s)
		}
	})
	b.Run("verify-all-variants", func(b *testing.B) {
		for b.Loop() {
			if !verifySharedKey(r, "acct1", []string{testKey, testKey}, sig) {
				b.Fatal("not verified")
			}
		}
		b.ReportMetric(float64(len(stringsToSign(r, "acct1"))), "candidates")
	})
}

// BenchmarkFilter measures parsing and evaluating a $filter.
func BenchmarkFilter(b *testing.B) {
	const f = "(state eq 'completed' or state eq 'running') and startswith(id, 'task-') and executionInfo/result ne 'failure'"
	fields := []string{"state", "id", "executionInfo/result"}
	m := map[string]string{"state": "running", "id": "task-12", "executionInfo/result": ""}
	get := func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	b.Run("parse", func(b *testing.B) {
		for b.Loop() {
			if _, err := ParseFilter(f, fields); err != nil {
				b.Fatal(err)
			}
		}
	})
	flt, _ := ParseFilter(f, fields)
	b.Run("match", func(b *testing.B) {
		for b.Loop() {
			if !flt.Match(get) {
				b.Fatal("no match")
			}
		}
	})
}

// BenchmarkListPage1000Tasks measures writing a list page of 1,000 rendered
// tasks (in-process): listBody beside the baseline of json.Marshal of the
// same page, which compacts and validates every item again.
func BenchmarkListPage1000Tasks(b *testing.B) {
	items := make([]json.RawMessage, 1000)
	for i := range items {
		id := fmt.Sprintf("task-%05d", i)
		items[i], _ = json.Marshal(map[string]any{"id": id, "url": "https://127.0.0.1:1/jobs/job-1/tasks/" + id,
			"eTag": "0x8DD0000000000001", "creationTime": "2026-12-05T07:00:00.0000000Z", "lastModified": "2026-12-05T07:00:00.0000000Z",
			"state": "completed", "stateTransitionTime": "2026-12-05T07:00:01.0000000Z", "commandLine": "/bin/true",
			"constraints": map[string]any{"maxWallClockTime": "P10675199DT2H48M5.4775807S", "retentionTime": "P7D", "maxTaskRetryCount": 0},
			"executionInfo": map[string]any{"startTime": "2026-12-05T07:00:00.5000000Z", "endTime": "2026-12-05T07:00:01.0000000Z",
				"exitCode": 0, "result": "success", "retryCount": 0, "requeueCount": 0},
			"nodeInfo": map[string]any{"affinityId": "tvm-1_1-20261205t070000z", "nodeUrl": "https://127.0.0.1:1/pools/p/nodes/tvm-1_1-20261205t070000z",
				"poolId": "p", "nodeId": "tvm-1_1-20261205t070000z", "taskRootDirectory": "workitems/job-1/job-1/" + id}})
	}
	const meta, next = "https://127.0.0.1:1/$metadata#tasks", "https://127.0.0.1:1/jobs/job-1/tasks?$skiptoken=1000"
	b.Run("baseline-json.Marshal", func(b *testing.B) {
		for b.Loop() {
			_, _ = json.Marshal(struct {
				Metadata string            `json:"odata.metadata"`
				Value    []json.RawMessage `json:"value"`
				NextLink string            `json:"odata.nextLink,omitempty"`
			}{meta, items, next})
		}
	})
	b.Run("listBody", func(b *testing.B) {
		for b.Loop() {
			_ = listBody(meta, items, next)
		}
	})
}
