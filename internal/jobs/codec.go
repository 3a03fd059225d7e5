package jobs

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/batchwire"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// This file is the persisted form of jobs and tasks: the JSON documents in
// the store's spec columns. The specs are batchwire's shapes, the data
// plane's JSON, which the previous release wrote too, so its rows still
// decode (see codec_test.go); what is here is only what the store adds: a
// job's state and a task's execution record. Nothing outside this package
// reads them.

// jobDoc is a stored job: its spec and the state the columns do not hold.
type jobDoc struct {
	batchwire.JobSpec
	State                       string                     `json:"state"`
	StateTransitionTime         time.Time                  `json:"stateTransitionTime"`
	PreviousState               string                     `json:"previousState,omitempty"`
	PreviousStateTransitionTime *time.Time                 `json:"previousStateTransitionTime,omitempty"`
	ExecutionInfo               batchwire.JobExecutionInfo `json:"executionInfo"`
}

// taskExec is the stored execution state of a task beyond its columns (the
// record's Exec column).
type taskExec struct {
	StartTime       *time.Time                 `json:"startTime,omitempty"`
	EndTime         *time.Time                 `json:"endTime,omitempty"`
	ExitCode        *int                       `json:"exitCode,omitempty"`
	FailureInfo     *batchwire.TaskFailureInfo `json:"failureInfo,omitempty"`
	LastRetryTime   *time.Time                 `json:"lastRetryTime,omitempty"`
	PreviousState   string                     `json:"previousState,omitempty"`
	PreviousStateAt *time.Time                 `json:"previousStateAt,omitempty"`
	NodeID          string                     `json:"nodeId,omitempty"`
	PoolID          string                     `json:"poolId,omitempty"`
	// Pending is what a task with dependencies still waits for (nil: nothing).
	Pending *pendingDeps `json:"pending,omitempty"`
	// Instances are a multi-instance task's instances in its current (or
	// last) attempt: the primary first, then subtask 1, 2, ...
	Instances []instanceExec `json:"instances,omitempty"`
	// FilesRemoved is set once the task's directory was deleted after its
	// retentionTime (SweepRetention), until the task runs again.
	FilesRemoved bool `json:"filesRemoved,omitempty"`
}

func decodeExec(b []byte) taskExec {
	var e taskExec
	_ = json.Unmarshal(b, &e)
	return e
}

func (e taskExec) encode() []byte {
	b, _ := json.Marshal(e)
	return b
}

// failureInfo is why the task failed, nil if it did not.
func (e taskExec) failureInfo() *cobalt.TaskFailureInfo {
	if e.FailureInfo == nil {
		return nil
	}
	fi := e.FailureInfo.ToDomain()
	return &fi
}

// failureRecord converts why a task failed for its record; nil stays nil.
func failureRecord(fi *cobalt.TaskFailureInfo) *batchwire.TaskFailureInfo {
	if fi == nil {
		return nil
	}
	d := batchwire.FromTaskFailureInfo(*fi)
	return &d
}

// encodedTaskSpecsLen is the length of specs as one stored JSON array.
func encodedTaskSpecsLen(specs []cobalt.TaskSpec) int {
	docs := make([]batchwire.TaskSpec, len(specs))
	for i, s := range specs {
		docs[i] = batchwire.FromTaskSpec(s)
	}
	b, _ := json.Marshal(docs)
	return len(b)
}

// decodeTaskSpec reads a record's Spec column.
func decodeTaskSpec(b []byte) (cobalt.TaskSpec, error) {
	var d batchwire.TaskSpec
	if err := json.Unmarshal(b, &d); err != nil {
		return cobalt.TaskSpec{}, err
	}
	return d.ToDomain(), nil
}

// decodeTaskConstraints reads only the constraints of a record's Spec
// column, all that completing an attempt needs: decodeTaskSpec without
// building the rest of the spec (command line, files, settings) per report.
func decodeTaskConstraints(b []byte) (*cobalt.TaskConstraints, error) {
	var d struct {
		Constraints *batchwire.TaskConstraints `json:"constraints"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, err
	}
	if d.Constraints == nil {
		return nil, nil
	}
	c := d.Constraints.ToDomain()
	return &c, nil
}

// encodeTaskSpec writes a record's Spec column.
func encodeTaskSpec(s cobalt.TaskSpec) []byte {
	b, _ := json.Marshal(batchwire.FromTaskSpec(s))
	return b
}

// jobFromRecord decodes a stored job and overlays its columns.
func jobFromRecord(r store.JobRecord) (cobalt.Job, error) {
	var d jobDoc
	if err := json.Unmarshal(r.Spec, &d); err != nil {
		return cobalt.Job{}, fmt.Errorf("decode job %s: %w", r.ID, err)
	}
	j := cobalt.Job{JobSpec: d.JobSpec.ToDomain(), StateTransitionTime: d.StateTransitionTime,
		PreviousState: cobalt.JobState(d.PreviousState), PreviousStateTransitionTime: d.PreviousStateTransitionTime,
		ExecutionInfo: d.ExecutionInfo.ToDomain()}
	j.ID, j.State = r.ID, cobalt.JobState(r.State)
	j.ETag, j.LastModified, j.CreationTime = ETag(r.Version), r.UpdatedAt, r.CreatedAt
	return j, nil
}

// encodeJob writes a job's Spec column.
func encodeJob(j cobalt.Job) []byte {
	d := jobDoc{JobSpec: batchwire.FromJobSpec(j.JobSpec), State: string(j.State), StateTransitionTime: j.StateTransitionTime,
		PreviousState: string(j.PreviousState), PreviousStateTransitionTime: j.PreviousStateTransitionTime,
		ExecutionInfo: batchwire.FromJobExecutionInfo(j.ExecutionInfo)}
	b, _ := json.Marshal(d)
	return b
}
