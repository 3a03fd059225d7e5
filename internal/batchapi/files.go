package batchapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	cobalt "github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/jobs"
	"github.com/cobaltbatch/cobalt/internal/nodefiles"
)

// NodeFiles finds a compute node's files: on this host, or through the
// file API of the joined host that runs the node. The server wires it.
type NodeFiles interface {
	// NodeFiles returns the node's files, or ENotFound when the node is gone.
	NodeFiles(ctx context.Context, accountID, poolID, nodeID string) (nodefiles.Source, error)
}

// fileEntry is one entry of a file list.
type fileEntry struct {
	Name        string         `json:"name"`
	URL         string         `json:"url"`
	IsDirectory bool           `json:"isDirectory"`
	Properties  fileProperties `json:"properties"`
}

// fileProperties are a file's properties; contentLength is an int64 sent as
// a JSON string, as the spec types it.
type fileProperties struct {
	CreationTime  string `json:"creationTime,omitempty"`
	LastModified  string `json:"lastModified"`
	ContentLength string `json:"contentLength"`
	ContentType   string `json:"contentType,omitempty"`
	FileMode      string `json:"fileMode,omitempty"`
}

// cleanFilePath validates a {filePath}: relative, no "..", no NUL. Windows
// separators are accepted and turned into "/". "" is the directory itself.
func cleanFilePath(p string) (string, error) {
	c, err := nodefiles.Clean(p)
	if err != nil {
		return "", invalidFilePath(p)
	}
	return c, nil
}

func invalidFilePath(p string) *cobalt.Error {
	return batchError(cobalt.EInvalid, codeInvalidFilePath, "The specified file path is not valid.",
		"FilePath", truncate(p, 200))
}

// fileRoot is a directory whose files the API serves: rel below the root of
// a node whose files src has.
type fileRoot struct {
	src nodefiles.Source
	rel string
}

// fileError turns a nodefiles error into the Batch error.
func fileError(err error, filePath string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, nodefiles.ErrNotExist):
		return notFound("file")
	case errors.Is(err, nodefiles.ErrNotServed):
		return notServed()
	case errors.Is(err, nodefiles.ErrIsDir):
		return batchError(cobalt.EConflict, codeDirNotEmpty,
			"The directory cannot be deleted unless recursive is true.")
	case errors.Is(err, nodefiles.ErrInvalidPath):
		return invalidFilePath(filePath)
	case errors.Is(err, nodefiles.ErrUnreachable):
		return batchError(cobalt.EInternal, codeServerBusy, "The host of the node is out of reach; try again.")
	}
	return err
}

// taskDir returns the task's directory on this host.
func (rc *reqCtx) taskDir(p pathParams) (fileRoot, string, error) {
	ctx := rc.r.Context()
	t, err := rc.s.cfg.Jobs.GetTask(ctx, rc.account.ID, p.job, p.task)
	if err != nil {
		return fileRoot{}, "", err
	}
	if t.FilesRemoved {
		return fileRoot{}, "", batchError(cobalt.EConflict, codeTaskFilesCleanedUp,
			"The files of the specified task are cleanedup: its retentionTime has passed.")
	}
	if t.NodeInfo == nil || t.NodeInfo.NodeID == "" || rc.s.cfg.Nodes == nil {
		return fileRoot{}, "", batchError(cobalt.EConflict, codeTaskFilesUnavailable,
			"The files of the specified task are not available: it has not run on a node.")
	}
	src, err := rc.s.cfg.Nodes.NodeFiles(ctx, rc.account.ID, t.NodeInfo.PoolID, t.NodeInfo.NodeID)
	if err != nil {
		if cobalt.IsCode(err, cobalt.ENotFound) {
			return fileRoot{}, "", batchError(cobalt.EConflict, codeTaskFilesUnavailable,
				"The files of the specified task are not available: its node is gone.")
		}
		return fileRoot{}, "", err
	}
	rel := t.NodeInfo.TaskRootDirectory
	if rel == "" {
		j, err := rc.s.cfg.Jobs.GetJob(ctx, rc.account.ID, p.job)
		if err != nil {
			return fileRoot{}, "", err
		}
		rel = jobs.TaskRootDirectory(j.ID, t.ID)
	}
	rel, err = cleanFilePath(strings.TrimPrefix(rel, "/"))
	if err != nil {
		return fileRoot{}, "", err
	}
	return fileRoot{src: src, rel: rel}, taskPath(p.job, t.ID) + "/files/", nil
}

func handleListTaskFiles(rc *reqCtx, p pathParams) error {
	if _, err := rc.jobs(); err != nil {
		return err
	}
	dir, urlPrefix, err := rc.taskDir(p)
	if err != nil {
		return err
	}
	return rc.listFiles(dir, urlPrefix)
}

func handleGetTaskFile(rc *reqCtx, p pathParams) error {
	if _, err := rc.jobs(); err != nil {
		return err
	}
	dir, urlPrefix, err := rc.taskDir(p)
	if err != nil {
		return err
	}
	return rc.serveFile(dir, p.file, urlPrefix)
}

func handleDeleteTaskFile(rc *reqCtx, p pathParams) error {
	if _, err := rc.jobs(); err != nil {
		return err
	}
	dir, _, err := rc.taskDir(p)
	if err != nil {
		return err
	}
	return rc.deleteFile(dir, p.file)
}

// nodeDir returns the node's root directory.
func (rc *reqCtx) nodeDir(p pathParams) (fileRoot, error) {
	if rc.s.cfg.Nodes == nil {
		return fileRoot{}, notFound("node")
	}
	src, err := rc.s.cfg.Nodes.NodeFiles(rc.r.Context(), rc.account.ID, p.pool, p.node)
	if cobalt.IsCode(err, cobalt.ENotFound) {
		return fileRoot{}, notFound("node")
	}
	return fileRoot{src: src}, err
}

func handleListNodeFiles(rc *reqCtx, p pathParams) error {
	dir, err := rc.nodeDir(p)
	if err != nil {
		return err
	}
	return rc.listFiles(dir, nodePath(p.pool, p.node)+"/files/")
}

func handleGetNodeFile(rc *reqCtx, p pathParams) error {
	dir, err := rc.nodeDir(p)
	if err != nil {
		return err
	}
	return rc.serveFile(dir, p.file, nodePath(p.pool, p.node)+"/files/")
}

func handleDeleteNodeFile(rc *reqCtx, p pathParams) error {
	dir, err := rc.nodeDir(p)
	if err != nil {
		return err
	}
	return rc.deleteFile(dir, p.file)
}

// notServed is the answer for a file that exists but is not servable.
func notServed() *cobalt.Error {
	return batchError(cobalt.ENotFound, codeFileNotFound,
		"The specified file is not served: only regular files with a single link, inside the directory, are.")
}

// listFiles lists dir (recursively with recursive=true), filtered by $filter
// on name (startswith(name,'wd') and name eq '...'). Entries the API would
// not serve are left out; a symbolic link is listed as what it leads to when
// that is inside dir and servable.
func (rc *reqCtx) listFiles(dir fileRoot, urlPrefix string) error {
	recursive, err := rc.boolParam("recursive")
	if err != nil {
		return err
	}
	filter, err := rc.filterParam([]string{"name"})
	if err != nil {
		return err
	}
	infos, err := dir.src.List(rc.r.Context(), dir.rel, recursive)
	if err != nil {
		return fileError(err, "")
	}
	items := make([]listItem, 0, len(infos))
	for _, info := range infos {
		b, _ := json.Marshal(rc.fileEntry(info, urlPrefix))
		items = append(items, listItem{body: b, fields: map[string]string{"name": info.Name}})
	}
	sort.Slice(items, func(i, j int) bool { return items[i].fields["name"] < items[j].fields["name"] })
	return rc.list("files", items, filter)
}

func (rc *reqCtx) fileEntry(info nodefiles.Info, urlPrefix string) fileEntry {
	props := fileProperties{
		CreationTime:  jsonTime(info.ModTime),
		LastModified:  jsonTime(info.ModTime),
		ContentLength: strconv.FormatInt(info.Size, 10),
		FileMode:      fmt.Sprintf("%04o", info.Mode.Perm()),
	}
	if info.IsDir {
		props.ContentLength = "0"
	} else {
		props.ContentType = "application/octet-stream"
	}
	return fileEntry{Name: info.Name, URL: rc.entityURL(urlPrefix + url.PathEscape(info.Name)),
		IsDirectory: info.IsDir, Properties: props}
}

// byteRange is a parsed single byte range.
type byteRange struct{ start, length int64 }

// parseRange parses "bytes=a-b", "bytes=a-" or "bytes=-n" against size.
func parseRange(v string, size int64) (byteRange, bool) {
	spec, ok := strings.CutPrefix(strings.TrimSpace(v), "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return byteRange{}, false
	}
	a, b, ok := strings.Cut(spec, "-")
	if !ok {
		return byteRange{}, false
	}
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	if a == "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 || size == 0 { // no suffix of an empty file is satisfiable
			return byteRange{}, false
		}
		n = min(n, size)
		return byteRange{size - n, n}, true
	}
	start, err := strconv.ParseInt(a, 10, 64)
	if err != nil || start < 0 || start >= size {
		return byteRange{}, false
	}
	end := size - 1
	if b != "" {
		e, err := strconv.ParseInt(b, 10, 64)
		if err != nil || e < start {
			return byteRange{}, false
		}
		end = min(e, size-1)
	}
	return byteRange{start, end - start + 1}, true
}

// serveFile answers GET (content) and HEAD (properties) of a file under dir.
// The file is opened through os.Root, so neither ".." nor a symbolic link
// can reach outside dir; it is opened without blocking (a FIFO would hang an
// open) and served only if servable.
func (rc *reqCtx) serveFile(dir fileRoot, filePath, urlPrefix string) error {
	rel, err := cleanFilePath(filePath)
	if err != nil {
		return err
	}
	if rel == "" {
		return invalidFilePath(filePath)
	}
	ctx := rc.r.Context()
	info, err := dir.src.Stat(ctx, dir.rel, rel)
	if err != nil {
		return fileError(err, filePath)
	}
	h := rc.w.Header()
	h.Set("ocp-creation-time", httpDate(info.ModTime))
	h.Set("ocp-batch-file-isdirectory", strconv.FormatBool(info.IsDir))
	h.Set("ocp-batch-file-url", rc.entityURL(urlPrefix+url.PathEscape(rel)))
	h.Set("ocp-batch-file-mode", fmt.Sprintf("%04o", info.Mode.Perm()))
	h.Set("Last-Modified", httpDate(info.ModTime))
	h.Set("ETag", fmt.Sprintf("\"0x%X\"", info.ModTime.UnixNano()^info.Size))
	if err := rc.checkConditions(h.Get("ETag"), info.ModTime, true); err != nil {
		return err
	}
	size := info.Size
	if info.IsDir {
		size = 0
	}
	h.Set("Content-Type", "application/octet-stream")
	if rc.r.Method == http.MethodHead || info.IsDir {
		h.Set("Content-Length", strconv.FormatInt(size, 10))
		rc.w.WriteHeader(http.StatusOK)
		return nil
	}
	status := http.StatusOK
	rng := byteRange{0, size}
	// ocp-range answers 200 (azbatch accepts only 200); Range answers 206.
	if v := rc.r.Header.Get("ocp-range"); v != "" {
		r, ok := parseRange(v, size)
		if !ok {
			return rc.rangeError(size)
		}
		rng = r
	} else if v := rc.r.Header.Get("Range"); v != "" {
		r, ok := parseRange(v, size)
		if !ok {
			return rc.rangeError(size)
		}
		rng, status = r, http.StatusPartialContent
	}
	f, err := dir.src.Open(ctx, dir.rel, rel, rng.start, rng.length)
	if err != nil {
		return fileError(err, filePath)
	}
	defer f.Close()
	if rng.start != 0 || rng.length != size {
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", rng.start, rng.start+rng.length-1, size))
	}
	h.Set("Content-Length", strconv.FormatInt(rng.length, 10))
	rc.w.WriteHeader(status)
	_, _ = io.CopyN(rc.w, f, rng.length)
	return nil
}

func (rc *reqCtx) rangeError(size int64) error {
	rc.w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", size))
	return batchError(cobalt.EInvalid, codeInvalidRange,
		"The range specified is invalid for the current size of the resource.")
}

// deleteFile deletes a file, or a directory with recursive=true. Removal
// never follows a symbolic link: a link is removed, not what it leads to.
func (rc *reqCtx) deleteFile(dir fileRoot, filePath string) error {
	recursive, err := rc.boolParam("recursive")
	if err != nil {
		return err
	}
	rel, err := cleanFilePath(filePath)
	if err != nil {
		return err
	}
	if rel == "" {
		return invalidFilePath(filePath)
	}
	if err := dir.src.Remove(rc.r.Context(), dir.rel, rel, recursive); err != nil {
		return fileError(err, filePath)
	}
	rc.writeEmpty(http.StatusOK)
	return nil
}
