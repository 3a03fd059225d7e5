package agent

import (
	"context"
	"fmt"
	"os"
	"path"

	"github.com/cobaltbatch/cobalt/internal/agent/taskrun"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// maxSeenLogUploads bounds the upload IDs the agent remembers.
const maxSeenLogUploads = 256

// startLogUploads starts each service-log upload the control plane asks
// for that the agent has not started yet.
func (a *Agent) startLogUploads(ctx context.Context, ups []nodeproto.LogUpload) {
	for _, up := range ups {
		a.mu.Lock()
		if a.logSeen[up.ID] {
			a.mu.Unlock()
			continue
		}
		if a.logSeen == nil || len(a.logSeen) >= maxSeenLogUploads {
			a.logSeen = map[string]bool{}
		}
		a.logSeen[up.ID] = true
		a.mu.Unlock()
		go func() {
			res := a.uploadServiceLogs(ctx, up)
			a.mu.Lock()
			a.logResults = append(a.logResults, res)
			a.mu.Unlock()
			a.notify()
		}()
	}
}

// uploadServiceLogs uploads the agent's log files of the upload's window to
// its container, with the SAS in its URL or the token of its identity.
func (a *Agent) uploadServiceLogs(ctx context.Context, up nodeproto.LogUpload) nodeproto.LogUploadResult {
	res := nodeproto.LogUploadResult{ID: up.ID}
	end := up.EndTime
	if end.IsZero() {
		end = a.cfg.Now()
	}
	root, err := os.OpenRoot(a.dirs.NodeRoot)
	if err != nil {
		res.Error = "the node's directory could not be opened"
		return res
	}
	defer root.Close()
	files, err := serviceLogFiles(root, up.StartTime, end)
	if err != nil {
		res.Error = "the node's service logs could not be listed"
		return res
	}
	token := ""
	if up.IdentityResourceID != "" {
		if token, err = a.tokens.taskToken(ctx, up.IdentityResourceID, taskrun.StorageResource); err != nil {
			res.Error = fmt.Sprintf("a token for the identity %s could not be obtained", up.IdentityResourceID)
			a.logger.Warn("service logs: no token", logkey.Identity, up.IdentityResourceID, logkey.Err, err)
			return res
		}
	}
	cfg := taskrun.Config{Logger: a.logger, Now: a.cfg.Now, HTTPClient: a.httpc}
	for _, f := range files {
		if err := cfg.UploadFile(ctx, root, f, up.ContainerURL, up.Directory+"/"+path.Base(f), token); err != nil {
			res.Error = err.Error()
			a.logger.Warn("service logs: upload failed", logkey.Count, res.Files, logkey.Err, err)
			return res
		}
		res.Files++
	}
	a.logger.Info("service logs uploaded", logkey.Count, res.Files)
	return res
}
