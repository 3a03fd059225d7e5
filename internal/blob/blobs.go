package blob

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// Size limits of the Blob service.
const (
	maxPutBlobBytes  = 5000 << 20
	maxBlockBytes    = 4000 << 20
	maxBlocks        = 50000
	maxUncommitted   = 100000
	maxBlockListBody = 32 << 20
)

func (s *Service) blobNotFound(ctx context.Context, t target) error {
	if _, err := s.cfg.Store.BlobContainerGet(ctx, t.Account, t.Container); cobalt.IsCode(err, cobalt.ENotFound) {
		return containerNotFound()
	}
	return apiErr(cobalt.ENotFound, codeBlobNotFound, "The specified blob does not exist.")
}

func containerNotFound() error {
	return apiErr(cobalt.ENotFound, codeContainerNotFound, "The specified container does not exist.")
}

// mapBlobErr turns store errors of a blob operation into Blob errors.
func (s *Service) mapBlobErr(ctx context.Context, t target, err error) error {
	if cobalt.IsCode(err, cobalt.ENotFound) && cobalt.ErrorReason(err) == "" {
		return s.blobNotFound(ctx, t)
	}
	return err
}

// contentLength returns the request's body length, which must be given.
func contentLength(r *http.Request, max int64) (int64, error) {
	if r.ContentLength < 0 {
		return 0, apiErr(cobalt.EInvalid, codeMissingLength, "Content-Length HTTP header is missing.").WithTarget("Content-Length")
	}
	if r.ContentLength > max {
		return 0, apiErr(cobalt.ETooLarge, codeTooLarge, "The request body is too large and exceeds the maximum permissible limit.")
	}
	return r.ContentLength, nil
}

// writeBody stores the request body as a new data file ("" for an empty body).
func (s *Service) writeBody(r *http.Request, n int64, sums *checksums) (string, error) {
	if n == 0 {
		return "", nil
	}
	name, err := s.files.create(r.Body, n, sums.writers()...)
	if err != nil {
		if errors.Is(err, errShortBody) || r.Context().Err() != nil {
			return "", apiErr(cobalt.EInvalid, codeIncompleteBody, "The request body is incomplete.")
		}
		var me *http.MaxBytesError
		if errors.As(err, &me) {
			return "", apiErr(cobalt.ETooLarge, codeTooLarge, "The request body is too large and exceeds the maximum permissible limit.")
		}
		return "", err
	}
	return name, nil
}

func newBlobFromHeaders(h http.Header, md map[string]string) (store.BlobRecord, error) {
	b := store.BlobRecord{
		ContentType:        h.Get("x-ms-blob-content-type"),
		ContentEncoding:    h.Get("x-ms-blob-content-encoding"),
		ContentLanguage:    h.Get("x-ms-blob-content-language"),
		ContentDisposition: h.Get("x-ms-blob-content-disposition"),
		CacheControl:       h.Get("x-ms-blob-cache-control"),
		Metadata:           md,
	}
	if b.ContentType == "" {
		b.ContentType = "application/octet-stream"
	}
	if v := h.Get("x-ms-blob-content-md5"); v != "" {
		m, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(m) != 16 {
			return b, apiErr(cobalt.EInvalid, codeInvalidHeader, "The value for one of the HTTP headers is not in the correct format.").WithTarget("x-ms-blob-content-md5")
		}
		b.ContentMD5 = m
	}
	return b, nil
}

func (s *Service) handlePutBlob(req *request) error {
	r, t, ctx := req.r, req.t, req.r.Context()
	bt := r.Header.Get("x-ms-blob-type")
	fromURL := r.Header.Get("x-ms-copy-source") != ""
	switch {
	case bt == "" && fromURL:
		return s.handleCopyBlob(req)
	case bt == "":
		return apiErr(cobalt.EInvalid, codeMissingHeader, "An HTTP header that's mandatory for this request is not specified.").WithTarget("x-ms-blob-type")
	case bt != typeBlock && bt != typeAppend:
		return apiErr(cobalt.EInvalid, codeInvalidHeader, "Only block and append blobs are supported by this service.").WithTarget("x-ms-blob-type")
	case bt == typeAppend && fromURL:
		return apiErr(cobalt.EInvalid, codeUnsupportedHeader, "One of the HTTP headers specified in the request is not supported.").WithTarget("x-ms-copy-source")
	}
	var n int64
	var err error
	if !fromURL {
		if n, err = contentLength(r, maxPutBlobBytes); err != nil {
			return err
		}
	}
	if bt == typeAppend && n != 0 {
		return apiErr(cobalt.EInvalid, codeInvalidHeader, "The value for one of the HTTP headers is not in the correct format: an append blob is created empty.").WithTarget("Content-Length")
	}
	tags, err := parseTagsHeader(r.Header.Get("x-ms-tags"))
	if err != nil {
		return err
	}
	tier, err := readTier(r.Header, "x-ms-access-tier")
	if err != nil {
		return err
	}
	if tier != "" && bt == typeAppend {
		return apiErr(cobalt.EInvalid, codeInvalidHeader, "The value for one of the HTTP headers is not in the correct format.").WithTarget("x-ms-access-tier")
	}
	md, err := readMetadata(r.Header)
	if err != nil {
		return err
	}
	nb, err := newBlobFromHeaders(r.Header, md)
	if err != nil {
		return err
	}
	// Put Blob also takes the blob's properties from the standard headers;
	// the x-ms-blob-* forms win.
	for _, p := range []struct {
		dst      *string
		std, xms string
	}{
		{&nb.ContentType, "Content-Type", "x-ms-blob-content-type"},
		{&nb.ContentEncoding, "Content-Encoding", "x-ms-blob-content-encoding"},
		{&nb.ContentLanguage, "Content-Language", "x-ms-blob-content-language"},
		{&nb.CacheControl, "Cache-Control", "x-ms-blob-cache-control"},
		{&nb.ContentDisposition, "Content-Disposition", "x-ms-blob-content-disposition"},
	} {
		if r.Header.Get(p.xms) == "" && r.Header.Get(p.std) != "" {
			*p.dst = r.Header.Get(p.std)
		}
	}
	sums, err := readChecksums(r.Header, true)
	if err != nil {
		return err
	}
	nb.Tags = tags
	if bt == typeAppend {
		nb.BlobType = typeAppend
	}
	if tier != "" {
		nb.AccessTier, nb.TierChangedAt = tier, s.now()
	}
	c := readConds(r.Header)
	leaseID := r.Header.Get("x-ms-lease-id")
	check := func(cur *store.BlobRecord) error {
		if cur != nil && req.createOnly {
			return permissionMismatch()
		}
		if cur == nil {
			if err := c.checkWrite(false, "", zeroTime, codeBlobExists); err != nil {
				return err
			}
			return checkLeaseWrite(store.BlobLease{}, s.now(), leaseID, kindBlob)
		}
		if err := c.checkWrite(true, cur.ETag, cur.ModifiedAt, codeBlobExists); err != nil {
			return err
		}
		return checkLeaseWrite(cur.Lease, s.now(), leaseID, kindBlob)
	}
	// Fail early, before the body is read, when the conditions already fail.
	if cur, err := s.cfg.Store.BlobGet(ctx, t.Account, t.Container, t.Blob); err == nil {
		if err := check(&cur); err != nil {
			return err
		}
	} else if !cobalt.IsCode(err, cobalt.ENotFound) {
		return err
	} else if _, err := s.cfg.Store.BlobContainerGet(ctx, t.Account, t.Container); cobalt.IsCode(err, cobalt.ENotFound) {
		return containerNotFound()
	}
	if fromURL {
		return s.handlePutBlobFromURL(req, nb, check)
	}
	file, err := s.writeBody(r, n, sums)
	if err != nil {
		return err
	}
	if err := sums.verify(); err != nil {
		s.files.release([]string{file})
		return err
	}
	if nb.ContentMD5 == nil && bt == typeBlock {
		nb.ContentMD5 = sums.md5h.Sum(nil)
	}
	if file != "" {
		nb.Extents = []store.BlobExtent{{File: file, Size: n}}
	}
	nb.ETag = s.newETag()
	nb.ModifiedAt = s.now()
	rec, rel, err := s.cfg.Store.BlobPut(ctx, t.Account, t.Container, t.Blob, func(cur *store.BlobRecord, _ []store.BlobBlock) (store.BlobRecord, error) {
		if cur != nil {
			nb.Lease = cur.Lease // a write with the lease keeps it
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
	h.Set("x-ms-request-server-encrypted", "true")
	sums.setResponse(h)
	h.Set("Content-Length", "0")
	req.w.WriteHeader(http.StatusCreated)
	return nil
}

// readableBlob loads the blob and pins its files, retrying if it changes between the two.
func (s *Service) readableBlob(ctx context.Context, t target) (store.BlobRecord, func(), error) {
	for attempt := 0; ; attempt++ {
		rec, err := s.cfg.Store.BlobGet(ctx, t.Account, t.Container, t.Blob)
		if err != nil {
			return rec, nil, s.mapBlobErr(ctx, t, err)
		}
		files := rec.Files()
		s.files.pin(files)
		again, err := s.cfg.Store.BlobGet(ctx, t.Account, t.Container, t.Blob)
		if err == nil && again.ETag == rec.ETag && again.Version == rec.Version {
			return rec, func() { s.files.unpin(files) }, nil
		}
		s.files.unpin(files)
		if attempt >= 5 {
			if err != nil {
				return rec, nil, s.mapBlobErr(ctx, t, err)
			}
			return rec, nil, apiErr(cobalt.EConflict, codeServerBusy, "The blob changed while it was being read; retry.")
		}
	}
}

func (s *Service) handleGetBlob(req *request) error {
	r, t, ctx := req.r, req.t, req.r.Context()
	rec, unpin, err := s.readableBlob(ctx, t)
	if err != nil {
		return err
	}
	defer unpin()
	h := req.w.Header()
	if err := checkLeaseIfGiven(rec.Lease, s.now(), r.Header.Get("x-ms-lease-id"), kindBlob); err != nil {
		return err
	}
	if err := s.checkIfTags(req, rec.Tags); err != nil {
		return err
	}
	if rec.AccessTier == "Archive" && r.Method == http.MethodGet {
		return blobArchived()
	}
	if err := readConds(r.Header).checkRead(rec.ETag, rec.ModifiedAt); err != nil {
		if errors.Is(err, errNotModified) {
			h.Set("ETag", quote(rec.ETag))
			h.Set("Last-Modified", httpDate(rec.ModifiedAt))
			h.Set("x-ms-error-code", codeConditionNotMet)
			req.w.WriteHeader(http.StatusNotModified)
			return nil
		}
		return err
	}
	start, length, partial := int64(0), rec.Size, false
	if r.Method == http.MethodGet {
		start, length, partial, err = parseRange(r.Header, rec.Size)
		if err != nil {
			if cobalt.ErrorReason(err) == codeInvalidRange {
				h.Set("Content-Range", "bytes */"+itoa64(rec.Size))
			}
			return err
		}
	}
	setBlobHeaders(h, &rec, s.now())
	if sas := req.sas; sas != nil {
		for k, v := range map[string]string{"Cache-Control": sas.CacheControl, "Content-Disposition": sas.ContentDisposition,
			"Content-Encoding": sas.ContentEncoding, "Content-Language": sas.ContentLanguage, "Content-Type": sas.ContentType} {
			if v != "" {
				h.Set(k, v)
			}
		}
	}
	md5 := ""
	if len(rec.ContentMD5) > 0 {
		md5 = base64.StdEncoding.EncodeToString(rec.ContentMD5)
	}
	status := http.StatusOK
	if partial {
		status = http.StatusPartialContent
		h.Set("Content-Range", "bytes "+itoa64(start)+"-"+itoa64(start+length-1)+"/"+itoa64(rec.Size))
		if md5 != "" {
			h.Set("x-ms-blob-content-md5", md5)
		}
		if strings.EqualFold(r.Header.Get("x-ms-range-get-content-md5"), "true") {
			if length > 4<<20 {
				return apiErr(cobalt.EInvalid, codeOutOfRangeInput, "One of the request inputs is out of range.")
			}
			sum, err := s.rangeMD5(rec.Extents, start, length)
			if err != nil {
				return err
			}
			h.Set("Content-MD5", sum)
		}
	} else if md5 != "" {
		h.Set("Content-MD5", md5)
	}
	h.Set("Content-Length", itoa64(length))
	req.w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return nil
	}
	if err := s.stream(req.w, rec.Extents, start, length); err != nil {
		// The status is sent; dropping the connection tells the client the body is short.
		s.log.WarnContext(ctx, "blob read failed", logkey.Account, t.Account, logkey.Container, t.Container, logkey.Err, err)
		panic(http.ErrAbortHandler)
	}
	return nil
}

func (s *Service) handleGetBlobMetadata(req *request) error {
	rec, err := s.cfg.Store.BlobGet(req.r.Context(), req.t.Account, req.t.Container, req.t.Blob)
	if err != nil {
		return s.mapBlobErr(req.r.Context(), req.t, err)
	}
	if err := checkLeaseIfGiven(rec.Lease, s.now(), req.r.Header.Get("x-ms-lease-id"), kindBlob); err != nil {
		return err
	}
	if err := readConds(req.r.Header).checkRead(rec.ETag, rec.ModifiedAt); err != nil {
		if errors.Is(err, errNotModified) {
			req.w.WriteHeader(http.StatusNotModified)
			return nil
		}
		return err
	}
	h := req.w.Header()
	h.Set("ETag", quote(rec.ETag))
	h.Set("Last-Modified", httpDate(rec.ModifiedAt))
	writeMetadata(h, rec.Metadata)
	h.Set("Content-Length", "0")
	req.w.WriteHeader(http.StatusOK)
	return nil
}

// stream copies length bytes of the extents from offset start to w.
func (s *Service) stream(w io.Writer, exts []store.BlobExtent, start, length int64) error {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	for _, e := range exts {
		if length <= 0 {
			return nil
		}
		if start >= e.Size {
			start -= e.Size
			continue
		}
		n := min(e.Size-start, length)
		f, err := s.files.open(e.File)
		if err != nil {
			return err
		}
		_, err = io.CopyBuffer(onlyWriter{w}, onlyReader{io.NewSectionReader(f, start, n)}, *bp)
		f.Close()
		if err != nil {
			return err
		}
		length -= n
		start = 0
	}
	if length > 0 {
		return errors.New("blob extents are shorter than the blob")
	}
	return nil
}

func (s *Service) rangeMD5(exts []store.BlobExtent, start, length int64) (string, error) {
	sums, _ := readChecksums(http.Header{}, true)
	if err := s.stream(sums.md5h, exts, start, length); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sums.md5h.Sum(nil)), nil
}

func (s *Service) handleDeleteBlob(req *request) error {
	t, ctx := req.t, req.r.Context()
	if req.r.Header.Get("x-ms-delete-snapshots") == "only" {
		return apiErr(cobalt.EInvalid, codeInvalidHeader, "Snapshots are not supported by this service.").WithTarget("x-ms-delete-snapshots")
	}
	c := readConds(req.r.Header)
	leaseID, now := req.r.Header.Get("x-ms-lease-id"), s.now()
	rel, err := s.cfg.Store.BlobDelete(ctx, t.Account, t.Container, t.Blob, func(b store.BlobRecord) error {
		if err := c.checkWrite(true, b.ETag, b.ModifiedAt, ""); err != nil {
			return err
		}
		if err := s.checkIfTags(req, b.Tags); err != nil {
			return err
		}
		return checkLeaseWrite(b.Lease, now, leaseID, kindBlob)
	})
	if err != nil {
		return s.mapBlobErr(ctx, t, err)
	}
	s.files.release(rel)
	req.w.Header().Set("x-ms-delete-type-permanent", "true")
	req.w.Header().Set("Content-Length", "0")
	req.w.WriteHeader(http.StatusAccepted)
	return nil
}

func (s *Service) updateBlob(req *request, fn func(*store.BlobRecord)) error {
	t, ctx := req.t, req.r.Context()
	c := readConds(req.r.Header)
	etag, now := s.newETag(), s.now()
	leaseID := req.r.Header.Get("x-ms-lease-id")
	rec, err := s.cfg.Store.BlobUpdate(ctx, t.Account, t.Container, t.Blob, func(b *store.BlobRecord) error {
		if err := c.checkWrite(true, b.ETag, b.ModifiedAt, ""); err != nil {
			return err
		}
		if err := checkLeaseWrite(b.Lease, now, leaseID, kindBlob); err != nil {
			return err
		}
		fn(b)
		b.ETag, b.ModifiedAt = etag, now
		return nil
	})
	if err != nil {
		return s.mapBlobErr(ctx, t, err)
	}
	h := req.w.Header()
	h.Set("ETag", quote(rec.ETag))
	h.Set("Last-Modified", httpDate(rec.ModifiedAt))
	h.Set("x-ms-request-server-encrypted", "true")
	h.Set("Content-Length", "0")
	req.w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Service) handleSetBlobMetadata(req *request) error {
	md, err := readMetadata(req.r.Header)
	if err != nil {
		return err
	}
	return s.updateBlob(req, func(b *store.BlobRecord) { b.Metadata = md })
}

func (s *Service) handleSetBlobProperties(req *request) error {
	nb, err := newBlobFromHeaders(req.r.Header, nil)
	if err != nil {
		return err
	}
	ct := req.r.Header.Get("x-ms-blob-content-type")
	return s.updateBlob(req, func(b *store.BlobRecord) {
		// Set Blob Properties replaces every HTTP property; an absent header clears it.
		b.ContentType, b.ContentEncoding, b.ContentLanguage = ct, nb.ContentEncoding, nb.ContentLanguage
		b.ContentDisposition, b.CacheControl, b.ContentMD5 = nb.ContentDisposition, nb.CacheControl, nb.ContentMD5
	})
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
