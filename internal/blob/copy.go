package blob

import (
	"net/http"
	"strings"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// handleCopyBlob serves Copy Blob and Copy Blob From URL (x-ms-requires-sync):
// the copy completes before the answer (x-ms-copy-status: success).
func (s *Service) handleCopyBlob(req *request) error {
	r, t, ctx := req.r, req.t, req.r.Context()
	md, err := readMetadata(r.Header)
	if err != nil {
		return err
	}
	tags, err := parseTagsHeader(r.Header.Get("x-ms-tags"))
	if err != nil {
		return err
	}
	tier, err := readTier(r.Header, "x-ms-access-tier")
	if err != nil {
		return err
	}
	c := readConds(r.Header)
	leaseID := r.Header.Get("x-ms-lease-id")
	check := func(cur *store.BlobRecord) error {
		if cur == nil {
			if err := c.checkWrite(false, "", zeroTime, codeBlobExists); err != nil {
				return err
			}
			return checkLeaseWrite(store.BlobLease{}, s.now(), leaseID, kindBlob)
		}
		if req.createOnly {
			return permissionMismatch()
		}
		if err := c.checkWrite(true, cur.ETag, cur.ModifiedAt, codeBlobExists); err != nil {
			return err
		}
		return checkLeaseWrite(cur.Lease, s.now(), leaseID, kindBlob)
	}
	if cur, err := s.cfg.Store.BlobGet(ctx, t.Account, t.Container, t.Blob); err == nil {
		if err := check(&cur); err != nil {
			return err
		}
	} else if !cobalt.IsCode(err, cobalt.ENotFound) {
		return err
	} else if _, err := s.cfg.Store.BlobContainerGet(ctx, t.Account, t.Container); cobalt.IsCode(err, cobalt.ENotFound) {
		return containerNotFound()
	}
	src, err := s.openCopySource(req)
	if err != nil {
		return err
	}
	defer src.unpin()
	sync := strings.EqualFold(r.Header.Get("x-ms-requires-sync"), "true")
	if sync && src.rec.BlobType == typeAppend {
		return cannotVerifySource(cobalt.EConflict, "Copy Blob From URL takes only a block blob source.")
	}
	if tags == nil && strings.EqualFold(r.Header.Get("x-ms-copy-source-tag-option"), "COPY") {
		tags = src.rec.Tags
	}
	// The copy keeps the source's Content-MD5; no need to hash the bytes again.
	file, _, err := s.copyBytes(ctx, src, 0, src.rec.Size, false)
	if err != nil {
		return err
	}
	now := s.now()
	nb := src.rec
	nb.Account, nb.Container, nb.Name = t.Account, t.Container, t.Blob
	nb.Extents = nil
	if file != "" {
		nb.Extents = []store.BlobExtent{{File: file, Size: src.rec.Size}}
	}
	if md != nil {
		nb.Metadata = md
	}
	nb.Tags, nb.Lease, nb.AccessTier, nb.TierChangedAt = tags, store.BlobLease{}, tier, zeroTime
	if tier != "" {
		nb.TierChangedAt = now
	}
	nb.Sealed = nb.BlobType == typeAppend && strings.EqualFold(r.Header.Get("x-ms-seal-blob"), "true")
	nb.Copy = &store.BlobCopy{ID: newLeaseID(), Source: src.public, Status: "success", Progress: itoa64(src.rec.Size) + "/" + itoa64(src.rec.Size), CompletedAt: now}
	nb.ETag, nb.ModifiedAt = s.newETag(), now
	rec, rel, err := s.cfg.Store.BlobPut(ctx, t.Account, t.Container, t.Blob, func(cur *store.BlobRecord, _ []store.BlobBlock) (store.BlobRecord, error) {
		if cur != nil {
			nb.Lease = cur.Lease
		}
		return nb, check(cur)
	})
	if err != nil {
		if file != "" {
			s.files.release([]string{file})
		}
		return s.mapBlobErr(ctx, t, err)
	}
	s.files.release(rel)
	h := req.w.Header()
	h.Set("ETag", quote(rec.ETag))
	h.Set("Last-Modified", httpDate(rec.ModifiedAt))
	h.Set("x-ms-copy-id", rec.Copy.ID)
	h.Set("x-ms-copy-status", "success")
	if sync && len(rec.ContentMD5) > 0 {
		h.Set("Content-MD5", b64(rec.ContentMD5))
	}
	h.Set("Content-Length", "0")
	req.w.WriteHeader(http.StatusAccepted)
	return nil
}

// handlePutBlobFromURL serves Put Blob From URL: a new block blob with the
// source's content (and, unless x-ms-copy-source-blob-properties is false,
// its HTTP properties); metadata and tags come from the request.
func (s *Service) handlePutBlobFromURL(req *request, nb store.BlobRecord, check func(*store.BlobRecord) error) error {
	r, t, ctx := req.r, req.t, req.r.Context()
	if r.ContentLength > 0 {
		return apiErr(cobalt.EInvalid, codeInvalidHeader, "The value for one of the HTTP headers is not in the correct format.").WithTarget("Content-Length")
	}
	src, err := s.openCopySource(req)
	if err != nil {
		return err
	}
	defer src.unpin()
	if !strings.EqualFold(r.Header.Get("x-ms-copy-source-blob-properties"), "false") {
		sp := src.rec
		for _, p := range []struct {
			dst *string
			src string
			hdr string
		}{{&nb.ContentType, sp.ContentType, "x-ms-blob-content-type"}, {&nb.ContentEncoding, sp.ContentEncoding, "x-ms-blob-content-encoding"},
			{&nb.ContentLanguage, sp.ContentLanguage, "x-ms-blob-content-language"}, {&nb.ContentDisposition, sp.ContentDisposition, "x-ms-blob-content-disposition"},
			{&nb.CacheControl, sp.CacheControl, "x-ms-blob-cache-control"}} {
			if r.Header.Get(p.hdr) == "" {
				*p.dst = p.src
			}
		}
	}
	if v := r.Header.Get("x-ms-source-content-md5"); v != "" && len(src.rec.ContentMD5) > 0 && v != b64(src.rec.ContentMD5) {
		return apiErr(cobalt.EInvalid, codeMD5Mismatch, "The MD5 value specified in the request did not match with the MD5 value calculated by the server.")
	}
	if strings.EqualFold(r.Header.Get("x-ms-copy-source-tag-option"), "COPY") {
		nb.Tags = src.rec.Tags
	}
	// The whole source is copied: its recorded MD5, when it has one, is the copy's.
	file, sum, err := s.copyBytes(ctx, src, 0, src.rec.Size, len(src.rec.ContentMD5) == 0)
	if err != nil {
		return err
	}
	if sum == nil {
		sum = src.rec.ContentMD5
	}
	if nb.ContentMD5 == nil {
		nb.ContentMD5 = sum
	}
	if file != "" {
		nb.Extents = []store.BlobExtent{{File: file, Size: src.rec.Size}}
	}
	nb.ETag, nb.ModifiedAt = s.newETag(), s.now()
	rec, rel, err := s.cfg.Store.BlobPut(ctx, t.Account, t.Container, t.Blob, func(cur *store.BlobRecord, _ []store.BlobBlock) (store.BlobRecord, error) {
		if cur != nil {
			nb.Lease = cur.Lease
		}
		return nb, check(cur)
	})
	if err != nil {
		if file != "" {
			s.files.release([]string{file})
		}
		return s.mapBlobErr(ctx, t, err)
	}
	s.files.release(rel)
	h := req.w.Header()
	h.Set("ETag", quote(rec.ETag))
	h.Set("Last-Modified", httpDate(rec.ModifiedAt))
	h.Set("Content-MD5", b64(sum))
	h.Set("x-ms-request-server-encrypted", "true")
	h.Set("Content-Length", "0")
	req.w.WriteHeader(http.StatusCreated)
	return nil
}

// handlePutBlockFromURL stages a block from a range of the source.
func (s *Service) handlePutBlockFromURL(req *request, id string) error {
	if req.r.ContentLength > 0 {
		return apiErr(cobalt.EInvalid, codeInvalidHeader, "The value for one of the HTTP headers is not in the correct format.").WithTarget("Content-Length")
	}
	src, err := s.openCopySource(req)
	if err != nil {
		return err
	}
	defer src.unpin()
	start, length, err := sourceRange(req.r.Header, src.rec.Size)
	if err != nil {
		return err
	}
	if length > maxBlockBytes {
		return apiErr(cobalt.ETooLarge, codeTooLarge, "The request body is too large and exceeds the maximum permissible limit.")
	}
	file, sum, err := s.copyBytes(req.r.Context(), src, start, length, true)
	if err != nil {
		return err
	}
	if v := req.r.Header.Get("x-ms-source-content-md5"); v != "" && v != b64(sum) {
		s.files.release([]string{file})
		return apiErr(cobalt.EInvalid, codeMD5Mismatch, "The MD5 value specified in the request did not match with the MD5 value calculated by the server.")
	}
	req.w.Header().Set("Content-MD5", b64(sum))
	return s.stageBlock(req, id, file, length)
}

// handleAppendBlockFromURL appends a range of the source to an append blob.
func (s *Service) handleAppendBlockFromURL(req *request) error {
	t, ctx := req.t, req.r.Context()
	if req.r.ContentLength > 0 {
		return apiErr(cobalt.EInvalid, codeInvalidHeader, "The value for one of the HTTP headers is not in the correct format.").WithTarget("Content-Length")
	}
	ac, err := readAppendConds(req.r.Header)
	if err != nil {
		return err
	}
	cur, err := s.cfg.Store.BlobGet(ctx, t.Account, t.Container, t.Blob)
	if err != nil {
		return s.mapBlobErr(ctx, t, err)
	}
	src, err := s.openCopySource(req)
	if err != nil {
		return err
	}
	defer src.unpin()
	start, length, err := sourceRange(req.r.Header, src.rec.Size)
	if err != nil {
		return err
	}
	if length == 0 || length > maxAppendBytes {
		return apiErr(cobalt.EInvalid, codeInvalidHeader, "The value for one of the HTTP headers is not in the correct format.").WithTarget("x-ms-source-range")
	}
	if err := s.checkAppendTarget(req, &cur, ac, length); err != nil {
		return err
	}
	file, sum, err := s.copyBytes(ctx, src, start, length, true)
	if err != nil {
		return err
	}
	req.w.Header().Set("Content-MD5", b64(sum))
	return s.commitAppend(req, ac, file, length)
}

// handleAbortCopy answers Abort Copy Blob. Copies here complete before
// Copy Blob answers, so there is never a pending copy to abort.
func (s *Service) handleAbortCopy(req *request) error {
	t, ctx := req.t, req.r.Context()
	if !strings.EqualFold(req.r.Header.Get("x-ms-copy-action"), "abort") {
		if req.r.Header.Get("x-ms-copy-action") == "" {
			return missingHeader("x-ms-copy-action")
		}
		return apiErr(cobalt.EInvalid, codeInvalidHeader, "The value for one of the HTTP headers is not in the correct format.").WithTarget("x-ms-copy-action")
	}
	id := req.q.Get("copyid")
	if id == "" {
		return apiErr(cobalt.EInvalid, "MissingRequiredQueryParameter", "A query parameter that's mandatory for this request is not specified.").WithTarget("copyid")
	}
	rec, err := s.cfg.Store.BlobGet(ctx, t.Account, t.Container, t.Blob)
	if err != nil {
		return s.mapBlobErr(ctx, t, err)
	}
	if err := checkLeaseIfGiven(rec.Lease, s.now(), req.r.Header.Get("x-ms-lease-id"), kindBlob); err != nil {
		return err
	}
	if rec.Copy == nil || !strings.EqualFold(rec.Copy.ID, id) {
		return apiErr(cobalt.EConflict, "CopyIdMismatch", "The specified copy ID did not match the copy ID for the pending copy operation.")
	}
	return apiErr(cobalt.EConflict, "NoPendingCopyOperation", "There is currently no pending copy operation.")
}
