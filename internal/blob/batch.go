package blob

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/cobaltbatch/cobalt"
)

// Blob batch limits.
const (
	maxBatchRequests = 256
	maxBatchBody     = 4 << 20
)

// batchPart is one subrequest of a Blob Batch body.
type batchPart struct {
	contentID string
	method    string
	uri       string
	header    http.Header
}

func badBatch(msg string) error {
	return apiErr(cobalt.EInvalid, codeInvalidInput, "One of the request inputs is not valid: %s", msg)
}

// batchBoundary reads the boundary of a multipart/mixed Content-Type.
func batchBoundary(ct string) (string, error) {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "multipart/mixed" || params["boundary"] == "" {
		return "", apiErr(cobalt.EInvalid, codeInvalidHeader, "The value for one of the HTTP headers is not in the correct format.").WithTarget("Content-Type")
	}
	return params["boundary"], nil
}

// parseBatchBody splits a Blob Batch body into its subrequests: every part
// is an application/http request line and headers, with no body; all must
// use one method (DELETE for Delete Blob, PUT for Set Blob Tier).
func parseBatchBody(body []byte, boundary string) ([]batchPart, error) {
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	var parts []batchPart
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, badBatch("the multipart body is not well formed")
		}
		if len(parts) == maxBatchRequests {
			return nil, apiErr(cobalt.EInvalid, "ExceedsMaxBatchRequestCount", "The batch operation exceeds maximum number of allowed subrequests.")
		}
		if mt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); mt != "application/http" {
			return nil, badBatch("each part must be application/http")
		}
		raw, err := io.ReadAll(io.LimitReader(p, maxBatchBody))
		if err != nil {
			return nil, badBatch("the multipart body is not well formed")
		}
		hr, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(append(bytes.TrimLeft(raw, "\r\n"), '\r', '\n'))))
		if err != nil {
			return nil, badBatch("a subrequest is not a well-formed HTTP request")
		}
		if hr.ContentLength > 0 {
			return nil, badBatch("a subrequest has a body")
		}
		if !strings.HasPrefix(hr.RequestURI, "/") {
			return nil, badBatch("a subrequest's URI must be a path")
		}
		parts = append(parts, batchPart{contentID: p.Header.Get("Content-ID"), method: hr.Method, uri: hr.RequestURI, header: hr.Header})
	}
	if len(parts) == 0 {
		return nil, badBatch("the batch has no subrequests")
	}
	for _, p := range parts {
		if p.method != parts[0].method {
			return nil, badBatch("all subrequests must be of the same type")
		}
		if p.method != http.MethodDelete && p.method != http.MethodPut {
			return nil, badBatch("only Delete Blob and Set Blob Tier may be batched")
		}
	}
	return parts, nil
}

// subRecorder records a subrequest's response.
type subRecorder struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (r *subRecorder) Header() http.Header { return r.h }
func (r *subRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *subRecorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}

// handleBatch serves Blob Batch: each subrequest is authenticated and
// authorized on its own, as if sent alone, and answered in a part of the
// multipart/mixed response.
func (s *Service) handleBatch(req *request) error {
	boundary, err := batchBoundary(req.r.Header.Get("Content-Type"))
	if err != nil {
		return err
	}
	body, err := readSmallBody(req, maxBatchBody)
	if err != nil {
		return err
	}
	parts, err := parseBatchBody(body, boundary)
	if err != nil {
		return err
	}
	subs := make([]*http.Request, len(parts))
	for i, p := range parts {
		u, err := url.ParseRequestURI(p.uri)
		if err != nil {
			return badBatch("a subrequest's URI is not valid")
		}
		t, err := parsePath(u.Path)
		if err != nil || t.level() != levelBlob || t.Account != req.t.Account || (req.t.Container != "" && t.Container != req.t.Container) {
			return badBatch("each subrequest must name a blob of the batch's account (and container)")
		}
		comp := u.Query().Get("comp")
		if (p.method == http.MethodPut) != (comp == "tier") || (p.method == http.MethodDelete && comp != "") {
			return badBatch("only Delete Blob and Set Blob Tier may be batched")
		}
		sr := (&http.Request{Method: p.method, URL: u, RequestURI: p.uri, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: p.header, Host: req.r.Host, RemoteAddr: req.r.RemoteAddr, TLS: req.r.TLS, Body: http.NoBody}).WithContext(req.r.Context())
		subs[i] = sr
	}
	respBoundary := "batchresponse_" + requestID()
	var out bytes.Buffer
	for i, sr := range subs {
		rec := &subRecorder{h: http.Header{}}
		rec.h.Set("x-ms-request-id", requestID())
		s.serveRequest(&request{w: rec, r: sr, batchVersion: req.version})
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		fmt.Fprintf(&out, "--%s\r\nContent-Type: application/http\r\n", respBoundary)
		if parts[i].contentID != "" {
			fmt.Fprintf(&out, "Content-ID: %s\r\n", parts[i].contentID)
		}
		fmt.Fprintf(&out, "\r\nHTTP/1.1 %d %s\r\n", rec.status, http.StatusText(rec.status))
		rec.h.Del("Content-Length")
		keys := make([]string, 0, len(rec.h))
		for k := range rec.h {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			for _, v := range rec.h[k] {
				fmt.Fprintf(&out, "%s: %s\r\n", k, v)
			}
		}
		if rec.body.Len() > 0 {
			fmt.Fprintf(&out, "Content-Length: %s\r\n\r\n", strconv.Itoa(rec.body.Len()))
			out.Write(rec.body.Bytes())
			out.WriteString("\r\n")
		} else {
			out.WriteString("\r\n")
		}
	}
	fmt.Fprintf(&out, "--%s--\r\n", respBoundary)
	h := req.w.Header()
	h.Set("Content-Type", "multipart/mixed; boundary="+respBoundary)
	h.Set("Content-Length", strconv.Itoa(out.Len()))
	req.w.WriteHeader(http.StatusAccepted)
	_, err = req.w.Write(out.Bytes())
	return err
}
