package batchapi

import (
	"context"
	"net/http"
	"time"

	"github.com/cobaltbatch/cobalt/internal/batch"
)

// logUploader is implemented by a pool service whose nodes upload their
// service logs.
type logUploader interface {
	NodeUploadLogs(ctx context.Context, accountKey, poolID, nodeID string, spec batch.LogUploadSpec) (batch.LogUploadResult, error)
}

// handleUploadLogs serves POST .../nodes/{n}/uploadbatchservicelogs: the
// node uploads its agent's logs of the time window to the container and
// the answer says where and how many files.
func handleUploadLogs(rc *reqCtx, p pathParams) error {
	if _, err := rc.nodeOps(p); err != nil {
		return err
	}
	up, ok := rc.s.pools().(logUploader)
	if !ok {
		return badURI()
	}
	var body struct {
		ContainerURL      string     `json:"containerUrl"`
		StartTime         time.Time  `json:"startTime"`
		EndTime           *time.Time `json:"endTime"`
		IdentityReference *struct {
			ResourceID string `json:"resourceId"`
		} `json:"identityReference"`
	}
	if err := rc.decodeJSON(maxBody, &body, false); err != nil {
		return err
	}
	spec := batch.LogUploadSpec{ContainerURL: body.ContainerURL, StartTime: body.StartTime}
	if body.EndTime != nil {
		spec.EndTime = *body.EndTime
	}
	if body.IdentityReference != nil {
		spec.IdentityResourceID = body.IdentityReference.ResourceID
	}
	res, err := up.NodeUploadLogs(rc.r.Context(), rc.accountKey(), p.pool, p.node, spec)
	if err != nil {
		return err
	}
	rc.writeJSON(http.StatusOK, map[string]any{
		"odata.metadata":        rc.baseURL() + "/$metadata#Microsoft.Azure.Batch.Protocol.Entities.UploadBatchServiceLogsResult",
		"virtualDirectoryName":  res.VirtualDirectoryName,
		"numberOfFilesUploaded": res.NumberOfFilesUploaded,
	})
	return nil
}
