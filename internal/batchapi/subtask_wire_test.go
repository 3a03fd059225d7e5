package batchapi

import (
	"encoding/json"
	"testing"
	"time"

	cobalt "github.com/cobaltbatch/cobalt"
)

// TestSubtaskWire checks a SubtaskInformation's JSON names against the
// Batch REST spec (2024-07-01.20.0).
func TestSubtaskWire(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	code := 0
	b, err := json.Marshal(subtaskToWire(cobalt.SubtaskInformation{ID: 1, StartTime: &now, EndTime: &now, ExitCode: &code,
		State: cobalt.SubtaskCompleted, StateTransitionTime: &now, PreviousState: cobalt.SubtaskRunning, PreviousStateTransitionTime: &now,
		Result: cobalt.TaskFailure, FailureInfo: &cobalt.TaskFailureInfo{Category: "usererror", Code: "TaskEnded", Message: "m"},
		NodeInfo: &cobalt.TaskNodeInfo{PoolID: "p", NodeID: "n", TaskRootDirectory: "workitems/j/job-1/t"}}))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "nodeInfo", "startTime", "endTime", "exitCode", "failureInfo", "state", "stateTransitionTime",
		"previousState", "previousStateTransitionTime", "result"} {
		if _, ok := m[k]; !ok {
			t.Errorf("no %s in %s", k, b)
		}
	}
	if len(m) != 11 || m["state"] != "completed" || m["previousState"] != "running" || m["result"] != "failure" || m["id"] != 1.0 {
		t.Errorf("subtask JSON %s", b)
	}
	ni := m["nodeInfo"].(map[string]any)
	if ni["poolId"] != "p" || ni["nodeId"] != "n" || ni["taskRootDirectory"] != "workitems/j/job-1/t" {
		t.Errorf("nodeInfo %v", ni)
	}
}
