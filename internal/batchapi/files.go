package batchapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	cobalt "github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/jobs"
)

// NodeDirs tells where a compute node keeps its files on this host; the pools
// service implements it from its node records.
type NodeDirs interface {
	// NodeRootDir returns the absolute root directory of the node, or
	// ENotFound when the node is gone or runs on another host.
	NodeRootDir(ctx context.Context, accountID, poolID, nodeID string) (string, error)
}

// maxListedFiles bounds a file listing.
const maxListedFiles = 10000

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
	p = strings.ReplaceAll(p, "\\", "/")
	if strings.ContainsRune(p, 0) || strings.HasPrefix(p, "/") {
		return "", invalidFilePath(p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return "", invalidFilePath(p)
		}
	}
	c := path.Clean("/" + p)[1:]
	return c, nil
}

func invalidFilePath(p string) *cobalt.Error {
	return batchError(cobalt.EInvalid, codeInvalidFilePath, "The specified file path is not valid.",
		"FilePath", truncate(p, 200))
}

// fileRoot is a directory whose files the API serves: rel below the node
// root dir, both on this host.
type fileRoot struct{ dir, rel string }

// open opens the directory as an os.Root: the node root by its path (Cobalt
// made it), then rel through it, so that no symbolic link a task planted in
// rel's components leads outside the node, and none below leads outside rel.
func (f fileRoot) open() (*os.Root, error) {
	root, err := os.OpenRoot(f.dir)
	if err != nil || f.rel == "" {
		return root, err
	}
	defer root.Close()
	return root.OpenRoot(filepath.FromSlash(f.rel))
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
		return fileRoot{}, "", batchError(cobalt.ENotFound, codeTaskFilesUnavailable,
			"The files of the specified task are not available: it has not run on a node.")
	}
	root, err := rc.s.cfg.Nodes.NodeRootDir(ctx, rc.account.ID, t.NodeInfo.PoolID, t.NodeInfo.NodeID)
	if err != nil {
		if cobalt.IsCode(err, cobalt.ENotFound) {
			return fileRoot{}, "", batchError(cobalt.ENotFound, codeTaskFilesUnavailable,
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
	return fileRoot{dir: root, rel: rel}, taskPath(p.job, t.ID) + "/files/", nil
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
	root, err := rc.s.cfg.Nodes.NodeRootDir(rc.r.Context(), rc.account.ID, p.pool, p.node)
	if cobalt.IsCode(err, cobalt.ENotFound) {
		return fileRoot{}, notFound("node")
	}
	return fileRoot{dir: root}, err
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

// servable reports whether the API shows and serves a file with this
// information: a directory, or a regular file with no other hard link (a
// task could link a file it may not read into its directory and have the
// service read it). Devices, FIFOs and sockets are never opened.
func servable(info fs.FileInfo) bool {
	if info.IsDir() {
		return true
	}
	return info.Mode().IsRegular() && linkCount(info) <= 1
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
	root, err := dir.open()
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return rc.list("files", nil, nil)
		}
		return notServed()
	}
	defer root.Close()
	var items []listItem
	walkErr := fs.WalkDir(root.FS(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // vanished or unreadable: skip
		}
		if name == "." {
			return nil
		}
		if len(items) >= maxListedFiles {
			return fs.SkipAll
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			// Resolved through the root: a link leading outside fails.
			if info, err = root.Stat(filepath.FromSlash(name)); err != nil {
				return nil
			}
		}
		if !servable(info) {
			return nil
		}
		e := rc.fileEntry(name, info, urlPrefix)
		b, _ := json.Marshal(e)
		items = append(items, listItem{body: b, fields: map[string]string{"name": name}})
		if d.IsDir() && !recursive {
			return fs.SkipDir
		}
		return nil
	})
	if walkErr != nil {
		return fmt.Errorf("list files: %w", walkErr)
	}
	sort.Slice(items, func(i, j int) bool { return items[i].fields["name"] < items[j].fields["name"] })
	return rc.list("files", items, filter)
}

func (rc *reqCtx) fileEntry(name string, info fs.FileInfo, urlPrefix string) fileEntry {
	props := fileProperties{
		CreationTime:  jsonTime(info.ModTime()),
		LastModified:  jsonTime(info.ModTime()),
		ContentLength: strconv.FormatInt(info.Size(), 10),
		FileMode:      fmt.Sprintf("%04o", info.Mode().Perm()),
	}
	if info.IsDir() {
		props.ContentLength = "0"
	} else {
		props.ContentType = "application/octet-stream"
	}
	return fileEntry{Name: name, URL: rc.entityURL(urlPrefix + url.PathEscape(name)),
		IsDirectory: info.IsDir(), Properties: props}
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
	root, err := dir.open()
	if err != nil {
		return notFound("file")
	}
	defer root.Close()
	f, err := root.OpenFile(filepath.FromSlash(rel), readFlags, 0)
	if err != nil {
		return notFound("file")
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return notFound("file")
	}
	if !servable(info) {
		return notServed()
	}
	h := rc.w.Header()
	h.Set("ocp-creation-time", httpDate(info.ModTime()))
	h.Set("ocp-batch-file-isdirectory", strconv.FormatBool(info.IsDir()))
	h.Set("ocp-batch-file-url", rc.entityURL(urlPrefix+url.PathEscape(rel)))
	h.Set("ocp-batch-file-mode", fmt.Sprintf("%04o", info.Mode().Perm()))
	h.Set("Last-Modified", httpDate(info.ModTime()))
	h.Set("ETag", fmt.Sprintf("\"0x%X\"", info.ModTime().UnixNano()^info.Size()))
	if err := rc.checkConditions(h.Get("ETag"), info.ModTime(), true); err != nil {
		return err
	}
	size := info.Size()
	if info.IsDir() {
		size = 0
	}
	h.Set("Content-Type", "application/octet-stream")
	if rc.r.Method == http.MethodHead || info.IsDir() {
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
	if rng.start != 0 || rng.length != size {
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", rng.start, rng.start+rng.length-1, size))
		if _, err := f.Seek(rng.start, io.SeekStart); err != nil {
			return fmt.Errorf("seek: %w", err)
		}
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
	root, err := dir.open()
	if err != nil {
		return notFound("file")
	}
	defer root.Close()
	native := filepath.FromSlash(rel)
	info, err := root.Lstat(native)
	if err != nil {
		return notFound("file")
	}
	if info.IsDir() {
		if !recursive {
			return batchError(cobalt.EConflict, codeDirNotEmpty,
				"The directory cannot be deleted unless recursive is true.")
		}
		err = root.RemoveAll(native)
	} else {
		err = root.Remove(native)
	}
	if err != nil {
		return fmt.Errorf("delete file: %w", err)
	}
	rc.writeEmpty(http.StatusOK)
	return nil
}
