package blob

import (
	"context"
	"crypto/md5"
	"errors"
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
// file ("" when empty), letting the kernel move the bytes, and returns it
// with the MD5 of the range (nil unless withMD5: a second read of the
// source, from the page cache, is cheaper than passing the bytes through
// a pipe).
func (s *Service) copyBytes(ctx context.Context, src *copySource, start, length int64, withMD5 bool) (string, []byte, error) {
	if length == 0 {
		return "", md5.New().Sum(nil), nil
	}
	ranges := extentRanges(src.rec.Extents, start, length)
	var total int64
	for _, r := range ranges {
		total += r.len
	}
	if total != length {
		return "", nil, errors.New("blob extents are shorter than the blob")
	}
	var sum []byte
	if withMD5 {
		h := md5.New()
		if err := s.stream(h, src.rec.Extents, start, length); err != nil {
			return "", nil, err
		}
		sum = h.Sum(nil)
	}
	if err := ctx.Err(); err != nil {
		return "", nil, err
	}
	file, err := s.files.createFrom(ranges)
	if err != nil {
		return "", nil, err
	}
	return file, sum, nil
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
