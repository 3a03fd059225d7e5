package batchapi

import (
	"context"
	"encoding/json"

	cobalt "github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/batchwire"
	"github.com/cobaltbatch/cobalt/internal/jobs"
)

// prepReleaseWire is one element of "list preparation and release task
// status" (JobPreparationAndReleaseTaskExecutionInformation).
type prepReleaseWire struct {
	PoolID                          string                          `json:"poolId,omitempty"`
	NodeID                          string                          `json:"nodeId,omitempty"`
	NodeURL                         string                          `json:"nodeUrl,omitempty"`
	JobPreparationTaskExecutionInfo *batchwire.JobTaskExecutionInfo `json:"jobPreparationTaskExecutionInfo,omitempty"`
	JobReleaseTaskExecutionInfo     *batchwire.JobTaskExecutionInfo `json:"jobReleaseTaskExecutionInfo,omitempty"`
}

// renderPrepRelease fills the node and directory URLs and encodes one status.
func (rc *reqCtx) renderPrepRelease(st cobalt.JobPrepReleaseStatus) []byte {
	node := nodePath(st.PoolID, st.NodeID)
	w := prepReleaseWire{PoolID: st.PoolID, NodeID: st.NodeID, NodeURL: rc.entityURL(node)}
	conv := func(e *cobalt.JobTaskExecutionInfo, prep bool) *batchwire.JobTaskExecutionInfo {
		if e == nil {
			return nil
		}
		v := batchwire.FromJobTaskExecutionInfo(*e, prep)
		if v.TaskRootDirectory != "" {
			v.TaskRootDirectoryURL = rc.entityURL(node + "/files/" + filePathEscape(v.TaskRootDirectory))
		}
		return &v
	}
	w.JobPreparationTaskExecutionInfo = conv(st.Preparation, true)
	w.JobReleaseTaskExecutionInfo = conv(st.Release, false)
	b, _ := json.Marshal(w)
	return b
}

// handlePrepReleaseStatus lists, node by node, the job's preparation and
// release tasks' execution; 409 JobPreparationTaskOrReleaseTaskNotSpecified
// for a job that has neither.
func handlePrepReleaseStatus(rc *reqCtx, p pathParams) error {
	js, err := rc.jobs()
	if err != nil {
		return err
	}
	return rc.paged("jobpreparationandreleasetaskstatus", func(ctx context.Context, max int, token string) ([]listItem, string, error) {
		list, next, err := js.PrepReleaseStatus(ctx, rc.account.ID, p.job, jobs.ListOptions{MaxResults: max, PageToken: token})
		items := make([]listItem, 0, len(list))
		for _, st := range list {
			items = append(items, listItem{body: rc.renderPrepRelease(st), fields: map[string]string{"nodeId": st.NodeID}})
		}
		return items, next, err
	}, nil)
}
