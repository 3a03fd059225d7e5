package batchapi

import (
	"time"

	cobalt "github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/batchwire"
	"github.com/cobaltbatch/cobalt/internal/jobs"
)

// This file is the data plane's own part of the JSON for jobs and tasks: the
// refusal of properties Cobalt does not support, the bodies of patch and
// replace, and the renderings of jobs and tasks with their URLs and state.
// The shapes of specs and their conversions are batchwire's.

// jobSpecWire is the body of "add job" and the spec part of a returned job.
type jobSpecWire struct {
	batchwire.JobSpec
}

// taskSpecWire is the body of "add task", one element of an add collection,
// and the spec part of a returned task: batchwire's shape.
type taskSpecWire struct {
	batchwire.TaskSpec
}

// unsupported is Batch's 400 for a property Cobalt does not support.
func unsupported(target, msg string) *cobalt.Error {
	e := batchError(cobalt.EInvalid, codeUnsupportedProp, msg)
	e.Target = target
	return e
}

// poolInfoFromWire converts a poolInfo, refusing an auto pool.
func poolInfoFromWire(p *batchwire.PoolInformation) (*cobalt.PoolInformation, error) {
	if p == nil {
		return nil, nil
	}
	if len(p.AutoPoolSpecification) > 0 && string(p.AutoPoolSpecification) != "null" {
		return nil, unsupported("poolInfo.autoPoolSpecification", "Auto pools are not supported; set poolInfo.poolId.")
	}
	return &cobalt.PoolInformation{PoolID: p.PoolID}, nil
}

// domain converts an added job, refusing what Cobalt does not support.
func (w jobSpecWire) domain() (cobalt.JobSpec, error) {
	pi, err := poolInfoFromWire(w.PoolInfo)
	if err != nil {
		return cobalt.JobSpec{}, err
	}
	s := w.ToDomain()
	s.PoolInfo = pi
	return s, nil
}

// domain converts an added task, refusing what Cobalt does not support.
func (w taskSpecWire) domain() (cobalt.TaskSpec, error) {
	return w.ToDomain(), nil
}

// jobPatchWire is the body of "update job" (PATCH).
type jobPatchWire struct {
	Priority             *int                               `json:"priority,omitempty"`
	AllowTaskPreemption  *bool                              `json:"allowTaskPreemption,omitempty"`
	MaxParallelTasks     *int                               `json:"maxParallelTasks,omitempty"`
	Constraints          *batchwire.JobConstraints          `json:"constraints,omitempty"`
	PoolInfo             *batchwire.PoolInformation         `json:"poolInfo,omitempty"`
	OnAllTasksComplete   string                             `json:"onAllTasksComplete,omitempty"`
	Metadata             *[]batchwire.NameValue             `json:"metadata,omitempty"`
	NetworkConfiguration *batchwire.JobNetworkConfiguration `json:"networkConfiguration,omitempty"`
}

// jobConstraints converts optional job constraints; nil stays nil.
func jobConstraints(c *batchwire.JobConstraints) *cobalt.JobConstraints {
	if c == nil {
		return nil
	}
	v := c.ToDomain()
	return &v
}

func (w jobPatchWire) domain() (jobs.JobPatch, error) {
	pi, err := poolInfoFromWire(w.PoolInfo)
	if err != nil {
		return jobs.JobPatch{}, err
	}
	p := jobs.JobPatch{Priority: w.Priority, AllowTaskPreemption: w.AllowTaskPreemption, MaxParallelTasks: w.MaxParallelTasks,
		Constraints: jobConstraints(w.Constraints), PoolInfo: pi,
		OnAllTasksComplete: cobalt.OnAllTasksComplete(w.OnAllTasksComplete)}
	if n := w.NetworkConfiguration; n != nil {
		v := n.ToDomain()
		p.NetworkConfiguration = &v
	}
	if w.Metadata != nil {
		m := batchwire.NameValuesToDomain(*w.Metadata)
		if m == nil {
			m = []cobalt.NameValue{}
		}
		p.Metadata = &m
	}
	return p, nil
}

// jobReplaceWire is the body of "replace job" (PUT).
type jobReplaceWire struct {
	Priority            *int                       `json:"priority,omitempty"`
	AllowTaskPreemption *bool                      `json:"allowTaskPreemption,omitempty"`
	MaxParallelTasks    *int                       `json:"maxParallelTasks,omitempty"`
	Constraints         *batchwire.JobConstraints  `json:"constraints,omitempty"`
	PoolInfo            *batchwire.PoolInformation `json:"poolInfo,omitempty"`
	OnAllTasksComplete  string                     `json:"onAllTasksComplete,omitempty"`
	Metadata            []batchwire.NameValue      `json:"metadata,omitempty"`
}

func (w jobReplaceWire) domain() (jobs.JobReplace, error) {
	pi, err := poolInfoFromWire(w.PoolInfo)
	if err != nil {
		return jobs.JobReplace{}, err
	}
	return jobs.JobReplace{Priority: w.Priority, AllowTaskPreemption: w.AllowTaskPreemption, MaxParallelTasks: w.MaxParallelTasks,
		Constraints: jobConstraints(w.Constraints), PoolInfo: pi,
		OnAllTasksComplete: cobalt.OnAllTasksComplete(w.OnAllTasksComplete), Metadata: batchwire.NameValuesToDomain(w.Metadata)}, nil
}

// jobWire is a job as "get job" returns it.
type jobWire struct {
	jobSpecWire
	URL                         string                     `json:"url,omitempty"`
	ETag                        string                     `json:"eTag"`
	LastModified                time.Time                  `json:"lastModified"`
	CreationTime                time.Time                  `json:"creationTime"`
	State                       string                     `json:"state"`
	StateTransitionTime         time.Time                  `json:"stateTransitionTime"`
	PreviousState               string                     `json:"previousState,omitempty"`
	PreviousStateTransitionTime *time.Time                 `json:"previousStateTransitionTime,omitempty"`
	ExecutionInfo               batchwire.JobExecutionInfo `json:"executionInfo"`
}

// withoutPassword is a container settings' copy without its registry
// password: responses never echo a secret.
func withoutPassword(cs *batchwire.ContainerSettings) *batchwire.ContainerSettings {
	if cs == nil || cs.Registry == nil || cs.Registry.Password == "" {
		return cs
	}
	r := *cs.Registry
	r.Password = ""
	c := *cs
	c.Registry = &r
	return &c
}

func jobToWire(j cobalt.Job, url string) jobWire {
	w := jobToWireWithSecrets(j, url)
	if m := w.JobManagerTask; m != nil {
		v := *m
		v.ContainerSettings = withoutPassword(v.ContainerSettings)
		w.JobManagerTask = &v
	}
	if p := w.JobPreparationTask; p != nil {
		v := *p
		v.ContainerSettings = withoutPassword(v.ContainerSettings)
		w.JobPreparationTask = &v
	}
	if r := w.JobReleaseTask; r != nil {
		v := *r
		v.ContainerSettings = withoutPassword(v.ContainerSettings)
		w.JobReleaseTask = &v
	}
	return w
}

func jobToWireWithSecrets(j cobalt.Job, url string) jobWire {
	if j.State != cobalt.JobCompleted {
		// Batch reports terminateReason of completed jobs only; a
		// terminating job keeps it until its release tasks ran.
		j.ExecutionInfo.TerminateReason = ""
	}
	return jobWire{jobSpecWire: jobSpecWire{JobSpec: batchwire.FromJobSpec(j.JobSpec)}, URL: url, ETag: j.ETag, LastModified: j.LastModified,
		CreationTime: j.CreationTime, State: string(j.State), StateTransitionTime: j.StateTransitionTime,
		PreviousState: string(j.PreviousState), PreviousStateTransitionTime: j.PreviousStateTransitionTime,
		ExecutionInfo: batchwire.FromJobExecutionInfo(j.ExecutionInfo)}
}

// taskExecWire is a task's executionInfo. Times are strings in Batch's
// format (jsonTime, seven fractional digits); "" is omitted.
type taskExecWire struct {
	StartTime       string                     `json:"startTime,omitempty"`
	EndTime         string                     `json:"endTime,omitempty"`
	ExitCode        *int                       `json:"exitCode,omitempty"`
	FailureInfo     *batchwire.TaskFailureInfo `json:"failureInfo,omitempty"`
	RetryCount      int                        `json:"retryCount"`
	LastRetryTime   string                     `json:"lastRetryTime,omitempty"`
	RequeueCount    int                        `json:"requeueCount"`
	LastRequeueTime string                     `json:"lastRequeueTime,omitempty"`
	Result          string                     `json:"result,omitempty"`
}

// nodeInfoWire says where a task ran.
type nodeInfoWire struct {
	AffinityID           string `json:"affinityId,omitempty"`
	NodeURL              string `json:"nodeUrl,omitempty"`
	PoolID               string `json:"poolId,omitempty"`
	NodeID               string `json:"nodeId,omitempty"`
	TaskRootDirectory    string `json:"taskRootDirectory,omitempty"`
	TaskRootDirectoryURL string `json:"taskRootDirectoryUrl,omitempty"`
}

// nodeInfoToWire converts where a task ran. Batch's affinityId of a node is
// "TVM:" and its ID, as the node itself reports it (pool_wire.go).
func nodeInfoToWire(n *cobalt.TaskNodeInfo) *nodeInfoWire {
	if n == nil {
		return nil
	}
	w := &nodeInfoWire{AffinityID: n.AffinityID, PoolID: n.PoolID, NodeID: n.NodeID, TaskRootDirectory: n.TaskRootDirectory}
	if w.AffinityID == "" && n.NodeID != "" {
		w.AffinityID = "TVM:" + n.NodeID
	}
	return w
}

// taskWire is a task as "get task" returns it. Times are strings in Batch's
// format (jsonTime).
type taskWire struct {
	taskSpecWire
	URL                         string        `json:"url,omitempty"`
	ETag                        string        `json:"eTag"`
	LastModified                string        `json:"lastModified"`
	CreationTime                string        `json:"creationTime"`
	State                       string        `json:"state"`
	StateTransitionTime         string        `json:"stateTransitionTime"`
	PreviousState               string        `json:"previousState,omitempty"`
	PreviousStateTransitionTime string        `json:"previousStateTransitionTime,omitempty"`
	ExecutionInfo               taskExecWire  `json:"executionInfo"`
	NodeInfo                    *nodeInfoWire `json:"nodeInfo,omitempty"`
}

// optTime is jsonTime of an optional time; nil is "".
func optTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return jsonTime(*t)
}

func taskToWire(t cobalt.Task) taskWire {
	ei := t.ExecutionInfo
	w := taskWire{taskSpecWire: taskSpecWire{TaskSpec: batchwire.FromTaskSpec(t.TaskSpec)}, ETag: t.ETag, LastModified: jsonTime(t.LastModified),
		CreationTime: jsonTime(t.CreationTime), State: string(t.State), StateTransitionTime: jsonTime(t.StateTransitionTime),
		PreviousState: string(t.PreviousState), PreviousStateTransitionTime: optTime(t.PreviousStateTransitionTime),
		ExecutionInfo: taskExecWire{StartTime: optTime(ei.StartTime), EndTime: optTime(ei.EndTime), ExitCode: ei.ExitCode,
			RetryCount: ei.RetryCount, LastRetryTime: optTime(ei.LastRetryTime),
			RequeueCount: ei.RequeueCount, LastRequeueTime: optTime(ei.LastRequeueTime), Result: string(ei.Result)},
		NodeInfo: nodeInfoToWire(t.NodeInfo)}
	// A registry password is a secret: responses never echo it.
	w.ContainerSettings = withoutPassword(w.ContainerSettings)
	if fi := ei.FailureInfo; fi != nil {
		f := batchwire.FromTaskFailureInfo(*fi)
		w.ExecutionInfo.FailureInfo = &f
	}
	return w
}

// taskCountsWire are task or slot counts by state.
type taskCountsWire struct {
	Active    int `json:"active"`
	Running   int `json:"running"`
	Completed int `json:"completed"`
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`
}

// taskCountsResultWire is the body of "get task counts".
type taskCountsResultWire struct {
	TaskCounts     taskCountsWire `json:"taskCounts"`
	TaskSlotCounts taskCountsWire `json:"taskSlotCounts"`
}

func taskCountsToWire(c jobs.TaskCountsResult) taskCountsResultWire {
	conv := func(c jobs.TaskCounts) taskCountsWire {
		return taskCountsWire{Active: c.Active, Running: c.Running, Completed: c.Completed, Succeeded: c.Succeeded, Failed: c.Failed}
	}
	return taskCountsResultWire{TaskCounts: conv(c.TaskCounts), TaskSlotCounts: conv(c.TaskSlotCounts)}
}

// subtaskWire is a SubtaskInformation.
type subtaskWire struct {
	ID                          int                        `json:"id"`
	NodeInfo                    *nodeInfoWire              `json:"nodeInfo,omitempty"`
	StartTime                   *time.Time                 `json:"startTime,omitempty"`
	EndTime                     *time.Time                 `json:"endTime,omitempty"`
	ExitCode                    *int                       `json:"exitCode,omitempty"`
	FailureInfo                 *batchwire.TaskFailureInfo `json:"failureInfo,omitempty"`
	State                       string                     `json:"state,omitempty"`
	StateTransitionTime         *time.Time                 `json:"stateTransitionTime,omitempty"`
	PreviousState               string                     `json:"previousState,omitempty"`
	PreviousStateTransitionTime *time.Time                 `json:"previousStateTransitionTime,omitempty"`
	Result                      string                     `json:"result,omitempty"`
}

func subtaskToWire(s cobalt.SubtaskInformation) subtaskWire {
	w := subtaskWire{ID: s.ID, StartTime: s.StartTime, EndTime: s.EndTime, ExitCode: s.ExitCode, State: string(s.State),
		StateTransitionTime: s.StateTransitionTime, PreviousState: string(s.PreviousState),
		PreviousStateTransitionTime: s.PreviousStateTransitionTime, Result: string(s.Result)}
	if s.FailureInfo != nil {
		fi := batchwire.FromTaskFailureInfo(*s.FailureInfo)
		w.FailureInfo = &fi
	}
	w.NodeInfo = nodeInfoToWire(s.NodeInfo)
	return w
}
