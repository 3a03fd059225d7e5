package taskrun

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"

	"github.com/cobaltbatch/cobalt/internal/logkey"
)

// StorageResource is the audience of blob tokens; BlobVersion is the
// x-ms-version sent with blob requests (OAuth needs 2017-11-09 or later).
const (
	StorageResource = "https://storage.azure.com/"
	BlobVersion     = "2021-08-06"
)

// downloadError is a failed download in Batch's terms.
type downloadError struct {
	code, msg string
	status    int
	url       string
}

func (e *downloadError) Error() string { return e.msg }

// redact removes the query (a SAS is a secret) from a URL for messages and logs.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.RawQuery, u.User = "", nil
	return u.String()
}

// download fetches one resource file into wd and returns nil, or the failure info.
func (cfg *Config) download(ctx context.Context, wd string, rf nodeproto.ResourceFile) *nodeproto.FailureInfo {
	timeout := cfg.DownloadTimeout
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := cfg.fetchResource(ctx, wd, rf)
	if err == nil {
		return nil
	}
	var de *downloadError
	if !errors.As(err, &de) {
		de = &downloadError{code: CodeBlobMiscError, msg: err.Error()}
		if errors.Is(err, context.DeadlineExceeded) {
			de.code = CodeBlobTimedOut
		}
	}
	src := rf.HTTPURL
	if src == "" {
		src = rf.StorageContainerURL
	}
	if de.url == "" {
		de.url = redact(src)
	}
	msg := de.msg
	details := []nodeproto.EnvironmentSetting{{Name: "ResourceFileUrl", Value: de.url}}
	if de.status != 0 {
		details = append(details, nodeproto.EnvironmentSetting{Name: "HttpStatusCode", Value: strconv.Itoa(de.status)})
	}
	if rf.FilePath != "" {
		details = append(details, nodeproto.EnvironmentSetting{Name: "FilePath", Value: rf.FilePath})
	}
	cfg.logger().Warn("resource file download failed", logkey.URL, de.url, logkey.Status, de.status, logkey.Code, de.code)
	return &nodeproto.FailureInfo{Category: "usererror", Code: de.code, Message: msg, Details: details}
}

// target returns the local path for rel under base, refusing escapes.
func target(base, rel string) (string, error) {
	rel = strings.ReplaceAll(rel, `\`, "/")
	clean := path.Clean(rel)
	if clean == ".." || strings.HasPrefix(clean, "../") || path.IsAbs(clean) {
		return "", fmt.Errorf("the file path %q leaves the working directory", rel)
	}
	if clean == "." {
		return "", fmt.Errorf("the file path %q names no file", rel)
	}
	p := filepath.Join(base, filepath.FromSlash(clean))
	if !strings.HasPrefix(p, filepath.Clean(base)+string(filepath.Separator)) {
		return "", fmt.Errorf("the file path %q leaves the working directory", rel)
	}
	return p, nil
}

func (cfg *Config) fetchResource(ctx context.Context, wd string, rf nodeproto.ResourceFile) error {
	mode := os.FileMode(0o770)
	if rf.FileMode != "" {
		m, err := strconv.ParseUint(rf.FileMode, 8, 32)
		if err != nil {
			return &downloadError{code: CodeBlobMiscError, msg: fmt.Sprintf("The file mode %q is not octal.", rf.FileMode)}
		}
		mode = os.FileMode(m) & os.ModePerm
	}
	token := ""
	if rf.IdentityResourceID != "" {
		if cfg.Token == nil {
			return &downloadError{code: CodeBlobMiscError, msg: "The node has no identity token source for " + rf.IdentityResourceID}
		}
		t, err := cfg.Token(ctx, rf.IdentityResourceID, StorageResource)
		if err != nil {
			return &downloadError{code: CodeBlobAccessDenied, msg: fmt.Sprintf("A token for the identity %s could not be obtained: %v", rf.IdentityResourceID, err)}
		}
		token = t
	}
	if rf.HTTPURL != "" {
		dst, err := target(wd, rf.FilePath)
		if err != nil {
			return &downloadError{code: CodeBlobMiscError, msg: err.Error()}
		}
		return cfg.get(ctx, rf.HTTPURL, token, dst, mode)
	}
	if rf.StorageContainerURL == "" {
		return &downloadError{code: CodeBlobMiscError, msg: "The resource file names no source URL."}
	}
	base := wd
	if rf.FilePath != "" {
		b, err := target(wd, rf.FilePath)
		if err != nil {
			return &downloadError{code: CodeBlobMiscError, msg: err.Error()}
		}
		base = b
	}
	names, err := cfg.listBlobs(ctx, rf.StorageContainerURL, rf.BlobPrefix, token)
	if err != nil {
		return err
	}
	cu, _ := url.Parse(rf.StorageContainerURL)
	for _, name := range names {
		dst, err := target(base, name)
		if err != nil {
			return &downloadError{code: CodeBlobMiscError, msg: err.Error()}
		}
		bu := *cu
		bu.Path = strings.TrimSuffix(cu.Path, "/") + "/" + name
		bu.RawPath = ""
		if err := cfg.get(ctx, bu.String(), token, dst, mode); err != nil {
			return err
		}
	}
	return nil
}

func (cfg *Config) client() *http.Client {
	if cfg.HTTPClient != nil {
		return cfg.HTTPClient
	}
	return http.DefaultClient
}

func (cfg *Config) request(ctx context.Context, raw, token string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return nil, &downloadError{code: CodeBlobMiscError, msg: "The resource file URL is not valid: " + redact(raw)}
	}
	req.Header.Set("x-ms-version", BlobVersion)
	req.Header.Set("x-ms-date", time.Now().UTC().Format(http.TimeFormat))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := cfg.client().Do(req)
	if err != nil {
		code := CodeBlobMiscError
		if errors.Is(err, context.DeadlineExceeded) {
			code = CodeBlobTimedOut
		}
		return nil, &downloadError{code: code, url: redact(raw), msg: fmt.Sprintf("The resource file %s could not be downloaded: %v", redact(raw), errors.Unwrap(err))}
	}
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		code := CodeBlobMiscError
		if resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized {
			code = CodeBlobAccessDenied
		}
		return nil, &downloadError{code: code, status: resp.StatusCode, url: redact(raw),
			msg: fmt.Sprintf("The resource file %s could not be downloaded: HTTP %d %s", redact(raw), resp.StatusCode, http.StatusText(resp.StatusCode))}
	}
	return resp, nil
}

// get downloads one URL to dst with the mode.
func (cfg *Config) get(ctx context.Context, raw, token, dst string, mode os.FileMode) error {
	resp, err := cfg.request(ctx, raw, token)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp := dst + ".download"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		os.Remove(tmp)
		code := CodeBlobMiscError
		if errors.Is(err, context.DeadlineExceeded) {
			code = CodeBlobTimedOut
		}
		return &downloadError{code: code, url: redact(raw), msg: fmt.Sprintf("The resource file %s could not be downloaded: %v", redact(raw), err)}
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

// enumerationResults is the List Blobs response, the parts needed here.
type enumerationResults struct {
	Blobs struct {
		Blob []struct {
			Name string `xml:"Name"`
		} `xml:"Blob"`
	} `xml:"Blobs"`
	NextMarker string `xml:"NextMarker"`
}

// ParseBlobList parses a List Blobs XML body into blob names and the next marker.
func ParseBlobList(body []byte) ([]string, string, error) {
	var er enumerationResults
	if err := xml.Unmarshal(body, &er); err != nil {
		return nil, "", err
	}
	names := make([]string, 0, len(er.Blobs.Blob))
	for _, b := range er.Blobs.Blob {
		names = append(names, b.Name)
	}
	return names, er.NextMarker, nil
}

// listBlobs lists a container's blobs under prefix with the Blob REST API.
func (cfg *Config) listBlobs(ctx context.Context, containerURL, prefix, token string) ([]string, error) {
	var all []string
	marker := ""
	for range 10000 {
		u, err := url.Parse(containerURL)
		if err != nil {
			return nil, &downloadError{code: CodeBlobMiscError, msg: "The storage container URL is not valid."}
		}
		q := u.Query()
		q.Set("restype", "container")
		q.Set("comp", "list")
		if prefix != "" {
			q.Set("prefix", prefix)
		}
		if marker != "" {
			q.Set("marker", marker)
		}
		u.RawQuery = q.Encode()
		resp, err := cfg.request(ctx, u.String(), token)
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		names, next, err := ParseBlobList(body)
		if err != nil {
			return nil, &downloadError{code: CodeBlobMiscError, url: redact(containerURL), msg: "The blob list of " + redact(containerURL) + " could not be read."}
		}
		all = append(all, names...)
		if next == "" {
			return all, nil
		}
		marker = next
	}
	return all, nil
}
