package blob

import (
	"context"
	"crypto/md5"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// maxCopySourceLen is the longest x-ms-copy-source Azure accepts.
const maxCopySourceLen = 2 << 10

func cannotVerifySource(code cobalt.Code, msg string) error {
	return apiErr(code, "CannotVerifyCopySource", "%s", msg)
}

// parseCopySource parses an x-ms-copy-source URL and checks that it names a
// blob of this service: its host must be one of hosts (the service's own
// endpoint and the host the request came to). Nothing is ever fetched from
// elsewhere, so a source outside the installation is refused.
func parseCopySource(raw string, hosts []string) (*url.URL, target, error) {
	if raw == "" || len(raw) > maxCopySourceLen {
		return nil, target{}, apiErr(cobalt.EInvalid, codeInvalidHeader, "The value for one of the HTTP headers is not in the correct format.").WithTarget("x-ms-copy-source")
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Opaque != "" {
		return nil, target{}, apiErr(cobalt.EInvalid, codeInvalidHeader, "The value for one of the HTTP headers is not in the correct format.").WithTarget("x-ms-copy-source")
	}
	local := false
	for _, h := range hosts {
		if h != "" && sameHost(u.Host, h) {
			local = true
		}
	}
	if !local {
		return nil, target{}, cannotVerifySource(cobalt.EForbidden, "Could not verify the copy source: it is not a blob of this installation, and this service never fetches sources from elsewhere.")
	}
	t, err := parsePath(u.Path)
	if err != nil || t.level() != levelBlob {
		return nil, target{}, cannotVerifySource(cobalt.ENotFound, "The specified copy source does not name a blob.")
	}
	return u, t, nil
}

// sameHost compares host[:port] forms case-insensitively, with default ports.
func sameHost(a, b string) bool {
	norm := func(h string) string {
		h = strings.ToLower(h)
		if _, _, err := net.SplitHostPort(h); err != nil {
			h = net.JoinHostPort(strings.Trim(h, "[]"), "443")
		}
		return h
	}
	return norm(a) == norm(b)
}

// copySource is a copy source blob, authorized, loaded and pinned.
type copySource struct {
	url    *url.URL
	t      target
	rec    store.BlobRecord
	unpin  func()
	public string // the source URL without its query (no SAS is ever stored)
}

// openCopySource resolves x-ms-copy-source, authorizes the read of the
// source (a SAS in its URL, a bearer token in x-ms-copy-source-authorization,
// public access, or for the same account the destination's own credential)
// and pins the source blob. The caller must call unpin.
func (s *Service) openCopySource(req *request) (*copySource, error) {
	hosts := []string{req.r.Host}
	if u, err := url.Parse(s.cfg.Endpoint); err == nil {
		hosts = append(hosts, u.Host)
	}
	u, t, err := parseCopySource(req.r.Header.Get("x-ms-copy-source"), hosts)
	if err != nil {
		return nil, err
	}
	if err := s.authorizeSource(req, u, t); err != nil {
		return nil, err
	}
	rec, unpin, err := s.readableBlob(req.r.Context(), t)
	if err != nil {
		if cobalt.IsCode(err, cobalt.ENotFound) {
			return nil, cannotVerifySource(cobalt.ENotFound, "The specified copy source blob does not exist.")
		}
		return nil, err
	}
	if rec.AccessTier == "Archive" {
		unpin()
		return nil, blobArchived()
	}
	if err := readSourceConds(req.r.Header).checkRead(rec.ETag, rec.ModifiedAt); err != nil {
		unpin()
		return nil, apiErr(cobalt.EPreconditionFailed, "SourceConditionNotMet", "The source condition specified using HTTP conditional header(s) is not met.")
	}
	pub := *u
	pub.RawQuery, pub.Fragment = "", ""
	return &copySource{url: u, t: t, rec: rec, unpin: unpin, public: pub.String()}, nil
}

// readSourceConds reads the x-ms-source-if-* conditions.
func readSourceConds(h http.Header) conds {
	m := http.Header{}
	for _, p := range [][2]string{{"If-Match", "x-ms-source-if-match"}, {"If-None-Match", "x-ms-source-if-none-match"},
		{"If-Modified-Since", "x-ms-source-if-modified-since"}, {"If-Unmodified-Since", "x-ms-source-if-unmodified-since"}} {
		if v := h.Get(p[1]); v != "" {
			m.Set(p[0], v)
		}
	}
	return readConds(m)
}

// authorizeSource runs the read of the source through the service's own
// authentication and authorization, as a GET of the source URL would.
func (s *Service) authorizeSource(req *request, u *url.URL, t target) error {
	sr := (&http.Request{Method: http.MethodGet, URL: u, Host: u.Host, Header: http.Header{}, RemoteAddr: req.r.RemoteAddr, TLS: req.r.TLS}).WithContext(req.r.Context())
	sr.Header.Set("x-ms-version", req.version)
	if v := req.r.Header.Get("x-ms-copy-source-authorization"); v != "" {
		scheme, _, _ := cutSpace(v)
		if scheme != "Bearer" {
			return apiErr(cobalt.EInvalid, codeInvalidHeader, "The value for one of the HTTP headers is not in the correct format.").WithTarget("x-ms-copy-source-authorization")
		}
		sr.Header.Set("Authorization", v)
	}
	src := &request{r: sr, t: t, op: opGetBlob, version: req.version}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return cannotVerifySource(cobalt.EForbidden, "The copy source URL's query is not well formed.")
	}
	src.q = q
	deny := func(err error) error {
		if cobalt.IsCode(err, cobalt.ENotFound) {
			return cannotVerifySource(cobalt.ENotFound, "The specified copy source blob does not exist.")
		}
		var e *cobalt.Error
		if !errors.As(err, &e) || e.Code == cobalt.EInternal {
			return err
		}
		return cannotVerifySource(cobalt.EForbidden, "This request is not authorized to read the copy source: "+cobalt.ErrorMessage(err))
	}
	if err := s.authenticate(src); err != nil {
		return deny(err)
	}
	if src.anonymous && t.Account == req.t.Account && !req.anonymous {
		// Same account without source credentials: the destination's
		// credential must itself allow reading the source.
		switch {
		case req.caller.SharedKeyAccount != "":
			return nil
		case req.caller.ObjectID != "":
			src.caller = req.caller
			src.anonymous = false
		case req.sas != nil && req.sas.account() && strings.Contains(req.sas.Permissions, "r"):
			return nil
		}
	}
	if err := s.authorize(src); err != nil {
		return deny(err)
	}
	return nil
}

// copyBytes copies length bytes of the source from start into a new data
// file ("" when empty) and returns it with its MD5 (nil unless withMD5).
func (s *Service) copyBytes(ctx context.Context, src *copySource, start, length int64, withMD5 bool) (string, []byte, error) {
	h := md5.New()
	if length == 0 {
		return "", h.Sum(nil), nil
	}
	if !withMD5 {
		ranges := extentRanges(src.rec.Extents, start, length)
		var total int64
		for _, r := range ranges {
			total += r.len
		}
		if total != length {
			return "", nil, errors.New("blob extents are shorter than the blob")
		}
		file, err := s.files.createFrom(ranges)
		return file, nil, err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(s.stream(pw, src.rec.Extents, start, length)) }()
	file, err := s.files.create(pr, length, h)
	pr.CloseWithError(errors.New("copy ended"))
	if err != nil {
		return "", nil, err
	}
	if ctx.Err() != nil {
		s.files.release([]string{file})
		return "", nil, ctx.Err()
	}
	return file, h.Sum(nil), nil
}

// extentRanges returns the file ranges that hold length bytes from start.
func extentRanges(exts []store.BlobExtent, start, length int64) []fileRange {
	var out []fileRange
	for _, e := range exts {
		if length <= 0 {
			break
		}
		if start >= e.Size {
			start -= e.Size
			continue
		}
		n := min(e.Size-start, length)
		out = append(out, fileRange{name: e.File, off: start, len: n})
		length -= n
		start = 0
	}
	return out
}

// sourceRange reads x-ms-source-range against the source's size (whole blob if absent).
func sourceRange(h http.Header, size int64) (int64, int64, error) {
	v := h.Get("x-ms-source-range")
	if v == "" {
		return 0, size, nil
	}
	start, length, _, err := parseRange(http.Header{"X-Ms-Range": {v}}, size)
	if err != nil {
		if cobalt.ErrorReason(err) == codeInvalidHeader {
			return 0, 0, apiErr(cobalt.EInvalid, codeInvalidHeader, "The value for one of the HTTP headers is not in the correct format.").WithTarget("x-ms-source-range")
		}
		return 0, 0, err
	}
	return start, length, nil
}

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
			return c.checkWrite(false, "", zeroTime, codeBlobExists)
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
	nb.Sealed = src.rec.Sealed && strings.EqualFold(r.Header.Get("x-ms-seal-blob"), "true")
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
	file, sum, err := s.copyBytes(ctx, src, 0, src.rec.Size, true)
	if err != nil {
		return err
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
