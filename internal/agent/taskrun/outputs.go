package taskrun

import (
	"context"
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
	"time"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// CodeFileUploadMiscError is Batch's failure code for output files that
// could not be uploaded.
const CodeFileUploadMiscError = "FileUploadMiscError"

// Output-file log files, in the task directory (beside wd), as Batch writes them.
const (
	uploadOutLog = "fileuploadout.txt"
	uploadErrLog = "fileuploaderr.txt"
)

// uploadTimeout bounds each file's upload.
const uploadTimeout = 10 * time.Minute

// uploadOutputs uploads the task's output files whose condition the exit
// code meets, logging to fileuploadout.txt and fileuploaderr.txt in dir. It
// returns the failure to report when any upload failed (nil otherwise).
// Files are read only from inside the node root (nodeRoot): a pattern that
// names anything else, or a symbolic link leading out of it, matches
// nothing.
func (cfg *Config) uploadOutputs(ctx context.Context, nodeRoot, dir string, env []string, exitCode *int, outs []nodeproto.OutputFile) *nodeproto.FailureInfo {
	if len(outs) == 0 {
		return nil
	}
	var outLog, errLog strings.Builder
	defer func() {
		_ = os.WriteFile(filepath.Join(dir, uploadOutLog), []byte(outLog.String()), 0o644)
		_ = os.WriteFile(filepath.Join(dir, uploadErrLog), []byte(errLog.String()), 0o644)
	}()
	succeeded := exitCode != nil && *exitCode == 0
	root, err := os.OpenRoot(nodeRoot)
	if err != nil {
		fmt.Fprintf(&errLog, "%s the node's directory could not be opened: %v\n", stamp(), err)
		return uploadFailure("The node's directory could not be opened.")
	}
	defer root.Close()
	wd, err := filepath.Rel(nodeRoot, filepath.Join(dir, "wd"))
	if err != nil {
		return uploadFailure("The task's directory is outside the node.")
	}
	var failure *nodeproto.FailureInfo
	for _, of := range outs {
		switch strings.ToLower(of.UploadCondition) {
		case "tasksuccess":
			if !succeeded {
				continue
			}
		case "taskfailure":
			if succeeded {
				continue
			}
		}
		pattern := expandEnv(of.FilePattern, env)
		files, base, err := matchOutputs(root, nodeRoot, wd, pattern)
		if err != nil {
			fmt.Fprintf(&errLog, "%s %s: %v\n", stamp(), of.FilePattern, err)
			failure = uploadFailure(fmt.Sprintf("The output file pattern %q is not valid: %v", of.FilePattern, err))
			continue
		}
		if len(files) == 0 {
			fmt.Fprintf(&outLog, "%s %s: no file matches\n", stamp(), of.FilePattern)
			continue
		}
		token := ""
		if of.IdentityResourceID != "" {
			if cfg.Token == nil {
				failure = uploadFailure("The node has no identity token source for " + of.IdentityResourceID)
				continue
			}
			if token, err = cfg.Token(ctx, of.IdentityResourceID, StorageResource); err != nil {
				fmt.Fprintf(&errLog, "%s a token for the identity %s could not be obtained: %v\n", stamp(), of.IdentityResourceID, err)
				failure = uploadFailure(fmt.Sprintf("A token for the identity %s could not be obtained.", of.IdentityResourceID))
				continue
			}
		}
		literal := !hasWildcard(pattern)
		for _, f := range files {
			name := blobName(of.Path, f, base, literal)
			if err := cfg.putBlob(ctx, root, f, of, name, token); err != nil {
				fmt.Fprintf(&errLog, "%s %s -> %s: %v\n", stamp(), f, redact(joinBlob(of.ContainerURL, name)), err)
				failure = uploadFailure(err.Error())
				continue
			}
			fmt.Fprintf(&outLog, "%s uploaded %s to %s\n", stamp(), f, redact(joinBlob(of.ContainerURL, name)))
		}
	}
	return failure
}

func stamp() string { return time.Now().UTC().Format(time.RFC3339) }

func uploadFailure(msg string) *nodeproto.FailureInfo {
	return &nodeproto.FailureInfo{Category: "usererror", Code: CodeFileUploadMiscError,
		Message: "One or more output files could not be uploaded: " + msg,
		Details: []nodeproto.EnvironmentSetting{{Name: "Message", Value: msg}}}
}

// expandEnv expands $VAR and ${VAR} from the task's environment, as Batch
// does on Linux before it applies a pattern.
func expandEnv(s string, env []string) string {
	return os.Expand(s, func(k string) string {
		for i := len(env) - 1; i >= 0; i-- {
			if name, v, ok := strings.Cut(env[i], "="); ok && name == k {
				return v
			}
		}
		return ""
	})
}

func hasWildcard(p string) bool { return strings.ContainsAny(p, "*?[") }

// matchOutputs returns the regular files (paths relative to the node root)
// that pattern matches, and the directory (relative to the node root) that
// the pattern's literal leading part names: blob names under a wildcard
// pattern are relative to it. A relative pattern is relative to wd; an
// absolute one must lie inside the node root.
func matchOutputs(root *os.Root, nodeRoot, wd, pattern string) ([]string, string, error) {
	if pattern == "" {
		return nil, "", errors.New("the pattern is empty")
	}
	var rel string
	if filepath.IsAbs(pattern) {
		r, err := filepath.Rel(nodeRoot, pattern)
		if err != nil || r == ".." || strings.HasPrefix(r, "../") {
			return nil, "", errors.New("the pattern names files outside the node")
		}
		rel = r
	} else {
		rel = path.Join(wd, pattern)
	}
	rel = path.Clean(rel)
	if rel == ".." || strings.HasPrefix(rel, "../") {
		return nil, "", errors.New("the pattern names files outside the node")
	}
	segs := strings.Split(rel, "/")
	// The literal leading directories: where the walk starts.
	i := 0
	for i < len(segs)-1 && !hasWildcard(segs[i]) {
		i++
	}
	base := path.Join(segs[:i]...)
	if base == "" {
		base = "."
	}
	rest := segs[i:]
	for _, s := range rest {
		if s != "**" {
			if _, err := path.Match(batchClass(s), ""); err != nil {
				return nil, "", fmt.Errorf("bad pattern %q", s)
			}
		}
	}
	var out []string
	if !hasWildcard(rel) {
		if st, err := root.Lstat(rel); err == nil && st.Mode().IsRegular() {
			return []string{rel}, path.Dir(rel), nil
		}
		return nil, path.Dir(rel), nil
	}
	st, err := root.Lstat(base)
	if err != nil || !st.IsDir() {
		return nil, base, nil
	}
	err = fs.WalkDir(root.FS(), base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable: skipped, as a missing file is
		}
		if !d.Type().IsRegular() {
			return nil // directories are walked; links and devices are never uploaded
		}
		r := strings.TrimPrefix(strings.TrimPrefix(p, base), "/")
		if base == "." {
			r = p
		}
		if matchSegments(rest, strings.Split(r, "/")) {
			out = append(out, p)
		}
		return nil
	})
	sort.Strings(out)
	return out, base, err
}

// matchSegments matches path segments against pattern segments, where "**"
// matches any number of directories and a name starting with "." is matched
// only by a pattern segment that starts with ".".
func matchSegments(pat, name []string) bool {
	if len(pat) == 0 {
		return len(name) == 0
	}
	if pat[0] == "**" {
		for k := 0; k <= len(name)-1; k++ {
			if k > 0 && strings.HasPrefix(name[k-1], ".") {
				break // ** does not descend into hidden directories
			}
			if matchSegments(pat[1:], name[k:]) {
				return true
			}
		}
		return false
	}
	if len(name) == 0 {
		return false
	}
	if strings.HasPrefix(name[0], ".") && !strings.HasPrefix(pat[0], ".") {
		return false
	}
	ok, _ := path.Match(batchClass(pat[0]), name[0])
	return ok && matchSegments(pat[1:], name[1:])
}

// batchClass turns Batch's negated class [!abc] into Go's [^abc].
func batchClass(p string) string { return strings.ReplaceAll(p, "[!", "[^") }

// blobName is the blob a file goes to: Path itself for a literal pattern
// (or the file's name when Path is empty); else Path as a virtual
// directory, followed by the file's path below the pattern's literal base.
func blobName(dst, file, base string, literal bool) string {
	if literal {
		if dst != "" {
			return strings.TrimPrefix(dst, "/")
		}
		return path.Base(file)
	}
	r := strings.TrimPrefix(strings.TrimPrefix(file, base), "/")
	if base == "." {
		r = file
	}
	if dst = strings.Trim(dst, "/"); dst != "" {
		return dst + "/" + r
	}
	return r
}

// joinBlob appends a blob name to a container URL, keeping its query (a SAS).
func joinBlob(containerURL, name string) string {
	u, err := url.Parse(containerURL)
	if err != nil {
		return containerURL
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/" + name
	u.RawPath = ""
	return u.String()
}

// UploadFile uploads the regular file file of root as the block blob name
// of the container at containerURL, with the SAS in containerURL or the
// bearer token; its error says what storage answered, without the SAS.
func (cfg *Config) UploadFile(ctx context.Context, root *os.Root, file, containerURL, name, token string) error {
	return cfg.putBlob(ctx, root, file, nodeproto.OutputFile{ContainerURL: containerURL}, name, token)
}

// putBlob uploads one file as a block blob with Put Blob.
func (cfg *Config) putBlob(ctx context.Context, root *os.Root, file string, of nodeproto.OutputFile, name, token string) error {
	f, err := root.Open(file)
	if err != nil {
		return fmt.Errorf("the file %s could not be read: %w", file, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return fmt.Errorf("the file %s is not a regular file", file)
	}
	raw := joinBlob(of.ContainerURL, name)
	ctx, cancel := context.WithTimeout(ctx, uploadTimeout)
	defer cancel()
	// A file that grows while it is sent (a log) is sent as it was at Stat.
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, raw, io.NopCloser(io.LimitReader(f, st.Size())))
	if err != nil {
		return fmt.Errorf("the container URL %s is not valid", redact(of.ContainerURL))
	}
	req.ContentLength = st.Size()
	req.Header.Set("Content-Length", strconv.FormatInt(st.Size(), 10))
	req.Header.Set("x-ms-version", BlobVersion)
	req.Header.Set("x-ms-date", time.Now().UTC().Format(http.TimeFormat))
	req.Header.Set("x-ms-blob-type", "BlockBlob")
	for _, h := range of.UploadHeaders {
		if h.Name == "" || strings.EqualFold(h.Name, "Authorization") || strings.EqualFold(h.Name, "x-ms-blob-type") {
			continue
		}
		req.Header.Set(h.Name, h.Value)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := cfg.client().Do(req)
	if err != nil {
		return fmt.Errorf("the upload to %s failed: %v", redact(of.ContainerURL), errors.Unwrap(err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusCreated {
		msg := fmt.Sprintf("the upload of %s to the container %s failed: HTTP %d %s", path.Base(file), redact(of.ContainerURL), resp.StatusCode, http.StatusText(resp.StatusCode))
		if code := resp.Header.Get("x-ms-error-code"); code != "" {
			msg += " (" + code + ")"
		}
		return errors.New(msg)
	}
	return nil
}
