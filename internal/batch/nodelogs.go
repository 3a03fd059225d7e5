package batch

import (
	"context"
	"crypto/rand"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// Limits of service-log uploads.
const (
	// logUploadWait bounds how long an upload request waits for its node.
	logUploadWait = 90 * time.Second
	// logUploadPoll is how often the waiting request reads the node.
	logUploadPoll = 200 * time.Millisecond
	// maxPendingLogUploads bounds the uploads queued for one node.
	maxPendingLogUploads = 4
	// maxLogResults bounds the results a node keeps for waiting requests.
	maxLogResults = 16
)

// Batch's error codes for a service-log upload.
const (
	reasonNodeNotReady      = "NodeNotReady"
	reasonLogsUploadFailed  = "FileUploadMiscError"
	reasonServerBusy        = "ServerBusy"
	reasonInvalidIdentityRf = "InvalidIdentityReference"
)

// LogUploadSpec is the body of upload batch service logs.
type LogUploadSpec struct {
	ContainerURL string
	// IdentityResourceID, when set, names the pool identity whose token
	// the node writes with (ContainerURL then has no SAS).
	IdentityResourceID string
	StartTime          time.Time
	// EndTime is zero for "up to now".
	EndTime time.Time
}

// LogUploadResult is Batch's UploadBatchServiceLogsResult.
type LogUploadResult struct {
	VirtualDirectoryName  string
	NumberOfFilesUploaded int
}

// logUploadStates are the node states in which its agent can upload.
var logUploadStates = []string{NodeIdle, NodeRunning, NodeStartTaskFailed, NodeWaitingForStartTask, NodeOffline, NodeUnusable, NodeStarting}

// NodeUploadLogs asks a node's agent to upload its service logs of
// [StartTime, EndTime] to the container, under a virtual directory named
// after the pool, the node and the request, and waits for the node's
// answer. The identity must be one the node carried at allocation.
func (s *Service) NodeUploadLogs(ctx context.Context, accountKey, poolID, nodeID string, spec LogUploadSpec) (LogUploadResult, error) {
	if err := checkLogUpload(spec); err != nil {
		return LogUploadResult{}, err
	}
	n, err := s.NodeGet(ctx, accountKey, poolID, nodeID)
	if err != nil {
		return LogUploadResult{}, err
	}
	if spec.IdentityResourceID != "" && !nodeHasIdentity(n, spec.IdentityResourceID) {
		return LogUploadResult{}, invalidValue("identityReference.resourceId",
			"The identity '%s' is not associated with the pool of the node.", trunc(spec.IdentityResourceID)).WithReason(reasonInvalidIdentityRf)
	}
	id := rand.Text()
	dir := poolID + "/" + nodeID + "/" + id
	up := nodeproto.LogUpload{ID: id, ContainerURL: spec.ContainerURL, IdentityResourceID: spec.IdentityResourceID,
		Directory: dir, StartTime: spec.StartTime.UTC(), EndTime: spec.EndTime.UTC()}
	if _, err := s.updateNode(ctx, nodeID, func(x *Node, _ *store.NodeRecord) error {
		if !slices.Contains(logUploadStates, x.State) || x.LastBootTime.IsZero() {
			return cobalt.Errorf(cobalt.EConflict, "The node is %s; its service logs cannot be uploaded.", x.State).WithReason(reasonNodeNotReady)
		}
		if len(x.LogUploads) >= maxPendingLogUploads {
			return cobalt.Errorf(cobalt.EConflict, "The node already has %d service-log uploads under way.", len(x.LogUploads)).WithReason(reasonServerBusy)
		}
		x.LogUploads = append(x.LogUploads, up)
		return nil
	}); err != nil {
		return LogUploadResult{}, err
	}
	res, err := s.awaitLogUpload(ctx, nodeID, id)
	if err != nil {
		return LogUploadResult{}, err
	}
	if res.Error != "" {
		return LogUploadResult{}, cobalt.Errorf(cobalt.EConflict, "The node could not upload its service logs: %s", res.Error).WithReason(reasonLogsUploadFailed)
	}
	return LogUploadResult{VirtualDirectoryName: dir, NumberOfFilesUploaded: res.Files}, nil
}

// checkLogUpload validates the body of upload batch service logs.
func checkLogUpload(spec LogUploadSpec) error {
	if spec.ContainerURL == "" {
		return missing("containerUrl")
	}
	if spec.StartTime.IsZero() {
		return missing("startTime")
	}
	u, err := url.Parse(spec.ContainerURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.Trim(u.Path, "/") == "" ||
		len(spec.ContainerURL) > 4096 {
		return invalidValue("containerUrl", "The value of containerUrl is not the URL of a blob container.")
	}
	if spec.IdentityResourceID == "" && u.Query().Get("sig") == "" {
		return invalidValue("containerUrl", "The containerUrl must carry a SAS with write permission unless an identityReference is given.")
	}
	if !spec.EndTime.IsZero() && spec.EndTime.Before(spec.StartTime) {
		return invalidValue("endTime", "The endTime must not be before the startTime.")
	}
	return nil
}

// nodeHasIdentity reports whether the node carried the identity at allocation.
func nodeHasIdentity(n *Node, resourceID string) bool {
	for _, id := range n.Config.Identities {
		if strings.EqualFold(id.ResourceID, resourceID) {
			return true
		}
	}
	return false
}

// awaitLogUpload waits for the node's result of upload id and removes it.
func (s *Service) awaitLogUpload(ctx context.Context, nodeID, id string) (nodeproto.LogUploadResult, error) {
	ctx, cancel := context.WithTimeout(ctx, logUploadWait)
	defer cancel()
	t := time.NewTicker(logUploadPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.dropLogUpload(context.WithoutCancel(ctx), nodeID, id)
			return nodeproto.LogUploadResult{}, cobalt.Errorf(cobalt.EConflict, "The node did not upload its service logs in time.").WithReason(reasonServerBusy)
		case <-t.C:
		}
		r, err := s.cfg.Store.NodeGet(ctx, nodeID)
		if err != nil {
			if ctx.Err() != nil {
				continue
			}
			if cobalt.IsCode(err, cobalt.ENotFound) {
				return nodeproto.LogUploadResult{}, nodeNotFound(nodeID)
			}
			return nodeproto.LogUploadResult{}, err
		}
		x, err := decodeNode(r)
		if err != nil {
			return nodeproto.LogUploadResult{}, err
		}
		i := slices.IndexFunc(x.LogResults, func(r nodeproto.LogUploadResult) bool { return r.ID == id })
		if i >= 0 {
			s.dropLogUpload(context.WithoutCancel(ctx), nodeID, id)
			return x.LogResults[i], nil
		}
	}
}

// dropLogUpload forgets an upload its request no longer waits for.
func (s *Service) dropLogUpload(ctx context.Context, nodeID, id string) {
	_, _ = s.updateNode(ctx, nodeID, func(x *Node, _ *store.NodeRecord) error {
		x.LogUploads = slices.DeleteFunc(x.LogUploads, func(u nodeproto.LogUpload) bool { return u.ID == id })
		x.LogResults = slices.DeleteFunc(x.LogResults, func(r nodeproto.LogUploadResult) bool { return r.ID == id })
		return nil
	})
}

// recordLogResults moves the uploads a node reports done from its pending
// list to its results, for the requests that wait for them.
func recordLogResults(x *Node, results []nodeproto.LogUploadResult) {
	for _, r := range results {
		i := slices.IndexFunc(x.LogUploads, func(u nodeproto.LogUpload) bool { return u.ID == r.ID })
		if i < 0 {
			continue // not asked for, or no longer waited for
		}
		x.LogUploads = slices.Delete(x.LogUploads, i, i+1)
		if len(r.Error) > 1024 {
			r.Error = r.Error[:1024]
		}
		x.LogResults = append(x.LogResults, r)
		if len(x.LogResults) > maxLogResults {
			x.LogResults = x.LogResults[len(x.LogResults)-maxLogResults:]
		}
	}
}
