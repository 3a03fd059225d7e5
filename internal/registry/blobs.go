package registry

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// getBlob serves GET and HEAD /v2/<name>/blobs/<digest>, with ranges.
func (rc *reqCtx) getBlob(repo, digest string) {
	hexd, err := parseDigest(digest)
	if err != nil {
		writeOCIError(rc.w, errDigestInvalid("invalid digest"))
		return
	}
	size, ok := rc.st.repoHasBlob(repo, hexd)
	if !ok {
		writeOCIError(rc.w, errBlobUnknown())
		return
	}
	f, err := rc.st.openBlob(hexd)
	if err != nil {
		writeOCIError(rc.w, errBlobUnknown())
		return
	}
	defer f.Close()
	h := rc.w.Header()
	h.Set("Docker-Content-Digest", digest)
	h.Set("Content-Type", "application/octet-stream")
	h.Set("ETag", `"`+digest+`"`)
	h.Set("Cache-Control", "max-age=31536000")
	// A large body's TLS records leave in 256 KiB writes, not one by one.
	if cc := corkFrom(rc.r.Context()); cc != nil && rc.r.Method == http.MethodGet && size >= corkSize {
		cc.cork()
		defer cc.uncork()
	}
	http.ServeContent(largeWrites{rc.w}, rc.r, "", time.Time{}, f)
}

// deleteBlob serves DELETE /v2/<name>/blobs/<digest>: the blob leaves the
// repository.
func (rc *reqCtx) deleteBlob(repo, digest string) {
	hexd, err := parseDigest(digest)
	if err != nil {
		writeOCIError(rc.w, errDigestInvalid("invalid digest"))
		return
	}
	ok, err := rc.st.unlinkBlob(repo, hexd)
	if err != nil {
		rc.internalError("delete blob", err)
		return
	}
	if !ok {
		writeOCIError(rc.w, errBlobUnknown())
		return
	}
	rc.w.Header().Set("Content-Length", "0")
	rc.w.WriteHeader(http.StatusAccepted)
}

// blobCreated answers 201 for a blob now in repo.
func (rc *reqCtx) blobCreated(repo, hexd string) {
	h := rc.w.Header()
	h.Set("Location", "/v2/"+repo+"/blobs/sha256:"+hexd)
	h.Set("Docker-Content-Digest", "sha256:"+hexd)
	h.Set("Content-Length", "0")
	rc.w.WriteHeader(http.StatusCreated)
}

// startUpload serves POST /v2/<name>/blobs/uploads/: a cross-repository
// mount, a monolithic upload (?digest=) or a new upload session.
func (rc *reqCtx) startUpload(repo string) {
	q := rc.r.URL.Query()
	if mount := q.Get("mount"); mount != "" {
		hexd, err := parseDigest(mount)
		if err != nil {
			writeOCIError(rc.w, errDigestInvalid("invalid digest"))
			return
		}
		// The mount needs pull on the source; without it (or without the
		// blob there) the registry starts an upload, as the spec says.
		from := q.Get("from")
		if validRepo(from) && grants(rc.access, "repository", from, actPull) {
			if _, ok := rc.st.repoHasBlob(from, hexd); ok {
				if err := rc.st.linkBlob(repo, hexd); err != nil {
					rc.internalError("mount blob", err)
					return
				}
				rc.blobCreated(repo, hexd)
				return
			}
		}
	}
	if digest := q.Get("digest"); digest != "" {
		hexd, err := parseDigest(digest)
		if err != nil {
			writeOCIError(rc.w, errDigestInvalid("invalid digest"))
			return
		}
		rc.putMonolithic(repo, hexd, rc.r.Body)
		return
	}
	id, err := rc.st.newUpload(repo)
	if err != nil {
		rc.internalError("start upload", err)
		return
	}
	rc.uploadAccepted(repo, id, 0, http.StatusAccepted)
}

// bulkBody makes the connection read ahead while the request's body is
// copied, until the returned func is called.
func (rc *reqCtx) bulkBody() (done func()) {
	cc := corkFrom(rc.r.Context())
	if cc == nil {
		return func() {}
	}
	cc.readAhead()
	return cc.stopReadAhead
}

// putMonolithic stores a whole blob sent in one body and checks its digest.
func (rc *reqCtx) putMonolithic(repo, hexd string, body io.Reader) {
	done := rc.bulkBody()
	tmp, _, got, err := rc.st.writeStream(body, maxBlobBytes)
	done()
	if err != nil {
		rc.internalError("write blob", err)
		return
	}
	if got != hexd {
		os.Remove(tmp)
		writeOCIError(rc.w, errDigestInvalid("the content does not match the digest"))
		return
	}
	if err := rc.st.commitFile(tmp, hexd); err != nil {
		os.Remove(tmp)
		rc.internalError("commit blob", err)
		return
	}
	if err := rc.st.linkBlob(repo, hexd); err != nil {
		rc.internalError("link blob", err)
		return
	}
	rc.blobCreated(repo, hexd)
}

// maxBlobBytes bounds one blob (a layer).
const maxBlobBytes = 1 << 40

// uploadAccepted answers an upload session's progress.
func (rc *reqCtx) uploadAccepted(repo, id string, size int64, status int) {
	h := rc.w.Header()
	h.Set("Location", "/v2/"+repo+"/blobs/uploads/"+id)
	h.Set("Docker-Upload-UUID", id)
	end := size - 1
	if end < 0 {
		end = 0
	}
	h.Set("Range", "0-"+strconv.FormatInt(end, 10))
	h.Set("Content-Length", "0")
	rc.w.WriteHeader(status)
}

// session returns the upload session id of repo, or answers 404.
func (rc *reqCtx) session(repo, id string) (*uploadState, bool) {
	r, _, ok := rc.st.uploadInfo(id)
	if !ok || r != repo {
		writeOCIError(rc.w, errUploadUnknown())
		return nil, false
	}
	key := strings.ToLower(rc.reg.Name) + "/" + id
	rc.s.upMu.Lock()
	u, ok := rc.s.uploads[key]
	if !ok {
		u = &uploadState{upload: upload{repo: repo}}
		rc.s.uploads[key] = u
	}
	rc.s.upMu.Unlock()
	return u, true
}

func (rc *reqCtx) forgetUpload(id string) {
	rc.s.upMu.Lock()
	delete(rc.s.uploads, strings.ToLower(rc.reg.Name)+"/"+id)
	rc.s.upMu.Unlock()
}

// uploadStatus serves GET /v2/<name>/blobs/uploads/<id>.
func (rc *reqCtx) uploadStatus(repo, id string) {
	if _, ok := rc.session(repo, id); !ok {
		return
	}
	if _, size, ok := rc.st.uploadInfo(id); ok {
		rc.uploadAccepted(repo, id, size, http.StatusNoContent)
	} else {
		writeOCIError(rc.w, errUploadUnknown())
	}
}

// cancelUpload serves DELETE /v2/<name>/blobs/uploads/<id>.
func (rc *reqCtx) cancelUpload(repo, id string) {
	u, ok := rc.session(repo, id)
	if !ok {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := rc.st.removeUpload(id); err != nil {
		rc.internalError("cancel upload", err)
		return
	}
	rc.forgetUpload(id)
	rc.w.Header().Set("Content-Length", "0")
	rc.w.WriteHeader(http.StatusNoContent)
}

// appendChunk appends the request body to the session's data (the caller
// holds u.mu). A chunk that fails part-way is cut off again, so the session
// only ever holds whole chunks.
func (rc *reqCtx) appendChunk(u *uploadState, id string, size int64) (int64, *ociError) {
	limit := int64(maxBlobBytes) - size
	if cr := rc.r.Header.Get("Content-Range"); cr != "" {
		start, end, err := parseContentRange(cr)
		if err != nil {
			return size, errUploadInvalid("invalid Content-Range")
		}
		if start != size {
			return size, ociErr(http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID",
				"the chunk does not start at the end of the upload ("+strconv.FormatInt(size, 10)+")")
		}
		limit = end - start + 1
		if rc.r.ContentLength >= 0 && rc.r.ContentLength != limit {
			return size, errUploadInvalid("Content-Length does not match Content-Range")
		}
	}
	p := filepath.Join(rc.st.uploadDir(id), "data")
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return size, errUploadUnknown()
	}
	defer f.Close()
	if _, err := f.Seek(size, io.SeekStart); err != nil {
		return size, errInternal()
	}
	if u.hash == nil && size == 0 {
		u.hash, u.hashed = sha256.New(), 0
	}
	wb := newWritebackFile(f, size)
	hashing := u.hash != nil && u.hashed == size
	var n int64
	done := rc.bulkBody()
	if hashing {
		n, err = copyHashed(wb, u.hash, rc.r.Body, limit)
	} else {
		n, err = copyBuffered(wb, rc.r.Body, limit)
	}
	done()
	wb.wait()
	if err == nil && rc.r.Header.Get("Content-Range") != "" && n != limit {
		err = errors.New("short chunk")
	}
	if err == nil {
		err = f.Truncate(size + n)
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = rc.st.setUploadSize(id, size+n)
	}
	if err != nil {
		_ = f.Truncate(size)
		u.hash = nil
		if errors.Is(err, errTooLarge) {
			return size, errSizeInvalid("the chunk is larger than its Content-Range")
		}
		return size, errUploadInvalid("the chunk was not received whole")
	}
	if hashing {
		u.hashed += n
	}
	return size + n, nil
}

// patchUpload serves PATCH /v2/<name>/blobs/uploads/<id>: one chunk.
func (rc *reqCtx) patchUpload(repo, id string) {
	u, ok := rc.session(repo, id)
	if !ok {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	// Read the size under the lock: a concurrent chunk may have landed.
	_, size, ok := rc.st.uploadInfo(id)
	if !ok {
		writeOCIError(rc.w, errUploadUnknown())
		return
	}
	size, oe := rc.appendChunk(u, id, size)
	if oe != nil {
		if oe.Status == http.StatusRequestedRangeNotSatisfiable {
			rc.w.Header().Set("Range", "0-"+strconv.FormatInt(max(size-1, 0), 10))
			rc.w.Header().Set("Location", "/v2/"+repo+"/blobs/uploads/"+id)
		}
		writeOCIError(rc.w, oe)
		return
	}
	rc.uploadAccepted(repo, id, size, http.StatusAccepted)
}

// finishUpload serves PUT /v2/<name>/blobs/uploads/<id>?digest=: the last
// chunk (if any), the digest check, and the commit into the blob store.
func (rc *reqCtx) finishUpload(repo, id string) {
	hexd, err := parseDigest(rc.r.URL.Query().Get("digest"))
	if err != nil {
		writeOCIError(rc.w, errDigestInvalid("a valid sha256 digest parameter is required"))
		return
	}
	u, ok := rc.session(repo, id)
	if !ok {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	_, size, ok := rc.st.uploadInfo(id)
	if !ok {
		writeOCIError(rc.w, errUploadUnknown())
		return
	}
	if rc.r.ContentLength != 0 {
		var oe *ociError
		if size, oe = rc.appendChunk(u, id, size); oe != nil {
			writeOCIError(rc.w, oe)
			return
		}
	}
	p := filepath.Join(rc.st.uploadDir(id), "data")
	if err := truncateSynced(p, size); err != nil {
		rc.internalError("finish upload", err)
		return
	}
	var got string
	if u.hash != nil && u.hashed == size {
		got = hex.EncodeToString(u.hash.Sum(nil))
	} else if got, err = hashFile(p); err != nil {
		rc.internalError("hash upload", err)
		return
	}
	if got != hexd {
		writeOCIError(rc.w, errDigestInvalid("the content does not match the digest"))
		return
	}
	if err := rc.st.commitFile(p, hexd); err != nil {
		rc.internalError("commit upload", err)
		return
	}
	if err := rc.st.linkBlob(repo, hexd); err != nil {
		rc.internalError("link blob", err)
		return
	}
	_ = rc.st.removeUpload(id)
	rc.forgetUpload(id)
	rc.blobCreated(repo, hexd)
}

// hashFile returns the SHA-256 (hex) of a file, read in a stream.
func hashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := copyBuffered(h, f, -1); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// truncateSynced cuts a file to size (the remains of a torn chunk) durably.
func truncateSynced(p string, size int64) error {
	fi, err := os.Stat(p)
	if err != nil || fi.Size() == size {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return err
	}
	return f.Sync()
}
