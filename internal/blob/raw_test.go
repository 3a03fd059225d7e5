package blob

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"hash/crc64"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

type rawResp struct {
	status int
	code   string
	header http.Header
	body   string
}

// do sends a SharedKey-signed request (unsigned when sign is false).
func (e *env) do(t *testing.T, method, path string, hdr map[string]string, body io.Reader, length int64, sign bool) rawResp {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = length
	if body == nil && length == 0 {
		req.Body = nil
	}
	req.Header.Set("x-ms-version", "2026-12-06")
	req.Header.Set("x-ms-date", time.Now().UTC().Format(http.TimeFormat))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if sign {
		signRequest(req, testAccount, testKey1)
	}
	resp, err := e.httpClient().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return rawResp{resp.StatusCode, resp.Header.Get("x-ms-error-code"), resp.Header, string(b)}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestRawErrors sends bad and conditional requests and checks status, x-ms-error-code and body.
func TestRawErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	put := func(path string, hdr map[string]string, body string) rawResp {
		return e.do(t, http.MethodPut, path, hdr, strings.NewReader(body), int64(len(body)), true)
	}
	if r := put("/acct1/cc1?restype=container", nil, ""); r.status != 201 {
		t.Fatalf("create container: %+v", r)
	}
	bb := map[string]string{"x-ms-blob-type": "BlockBlob"}
	ok := put("/acct1/cc1/blob.txt", bb, "0123456789")
	if ok.status != 201 || ok.header.Get("ETag") == "" || ok.header.Get("Content-MD5") == "" {
		t.Fatalf("put blob: %+v", ok)
	}
	etag := ok.header.Get("ETag")
	sum := md5.Sum([]byte("0123456789"))
	crc := make([]byte, 8)
	binary.LittleEndian.PutUint64(crc, crc64.Checksum([]byte("0123456789"), crc64.MakeTable(0x9A6C9329AC4BC9B5)))
	id1 := base64.StdEncoding.EncodeToString([]byte("block-1"))
	idLong := base64.StdEncoding.EncodeToString([]byte("block-long-1"))
	if r := put("/acct1/cc1/blk?comp=block&blockid="+urlQueryEscape(id1), nil, "abc"); r.status != 201 {
		t.Fatalf("put block: %+v", r)
	}
	type tc struct {
		name   string
		method string
		path   string
		hdr    map[string]string
		body   string
		sign   bool
		status int
		code   string
	}
	cases := []tc{
		{"no blob type", "PUT", "/acct1/cc1/x", nil, "a", true, 400, codeMissingHeader},
		{"page blob", "PUT", "/acct1/cc1/x", map[string]string{"x-ms-blob-type": "PageBlob"}, "a", true, 400, codeInvalidHeader},
		{"bad container name", "PUT", "/acct1/Bad_Name?restype=container", nil, "", true, 400, codeInvalidResName},
		{"unknown account", "GET", "/nosuchacct/cc1?restype=container", nil, "", false, 404, codeResourceNotFound},
		{"no credentials", "GET", "/acct1/cc1/blob.txt", nil, "", false, 401, codeNoAuthInfo},
		{"bad version", "GET", "/acct1/cc1/blob.txt", map[string]string{"x-ms-version": "yesterday"}, "", true, 400, codeInvalidHeader},
		{"range past end", "GET", "/acct1/cc1/blob.txt", map[string]string{"x-ms-range": "bytes=10-20"}, "", true, 416, codeInvalidRange},
		{"bad x-ms-range", "GET", "/acct1/cc1/blob.txt", map[string]string{"x-ms-range": "bytes=5-2"}, "", true, 400, codeInvalidHeader},
		{"range", "GET", "/acct1/cc1/blob.txt", map[string]string{"Range": "bytes=2-4"}, "", true, 206, ""},
		{"x-ms-range wins", "GET", "/acct1/cc1/blob.txt", map[string]string{"x-ms-range": "bytes=8-", "Range": "bytes=0-0"}, "", true, 206, ""},
		{"md5 mismatch", "PUT", "/acct1/cc1/m", map[string]string{"x-ms-blob-type": "BlockBlob", "Content-MD5": base64.StdEncoding.EncodeToString(make([]byte, 16))}, "0123456789", true, 400, codeMD5Mismatch},
		{"md5 ok", "PUT", "/acct1/cc1/m", map[string]string{"x-ms-blob-type": "BlockBlob", "Content-MD5": base64.StdEncoding.EncodeToString(sum[:])}, "0123456789", true, 201, ""},
		{"bad md5 header", "PUT", "/acct1/cc1/m", map[string]string{"x-ms-blob-type": "BlockBlob", "Content-MD5": "xyz"}, "0123456789", true, 400, codeInvalidHeader},
		{"crc64 mismatch", "PUT", "/acct1/cc1/m?comp=block&blockid=" + urlQueryEscape(id1), map[string]string{"x-ms-content-crc64": base64.StdEncoding.EncodeToString(make([]byte, 8))}, "0123456789", true, 400, codeCRC64Mismatch},
		{"crc64 ok", "PUT", "/acct1/cc1/m2?comp=block&blockid=" + urlQueryEscape(id1), map[string]string{"x-ms-content-crc64": base64.StdEncoding.EncodeToString(crc)}, "0123456789", true, 201, ""},
		{"bad block id", "PUT", "/acct1/cc1/blk?comp=block&blockid=%21%21", nil, "a", true, 400, codeInvalidQuery},
		{"block id too long", "PUT", "/acct1/cc1/blk?comp=block&blockid=" + urlQueryEscape(base64.StdEncoding.EncodeToString(make([]byte, 65))), nil, "a", true, 400, codeInvalidQuery},
		{"block id length differs", "PUT", "/acct1/cc1/blk?comp=block&blockid=" + urlQueryEscape(idLong), nil, "a", true, 400, codeInvalidBlobOrBlock},
		{"missing block id", "PUT", "/acct1/cc1/blk?comp=block", nil, "a", true, 400, "MissingRequiredQueryParameter"},
		{"unknown block", "PUT", "/acct1/cc1/blk?comp=blocklist", nil, "<BlockList><Latest>" + base64.StdEncoding.EncodeToString([]byte("block-9")) + "</Latest></BlockList>", true, 400, codeInvalidBlockList},
		{"committed block not committed", "PUT", "/acct1/cc1/blk?comp=blocklist", nil, "<BlockList><Committed>" + id1 + "</Committed></BlockList>", true, 400, codeInvalidBlockList},
		{"malformed block list", "PUT", "/acct1/cc1/blk?comp=blocklist", nil, "<BlockList><Latest>", true, 400, codeInvalidXML},
		{"block list bad id", "PUT", "/acct1/cc1/blk?comp=blocklist", nil, "<BlockList><Latest>***</Latest></BlockList>", true, 400, codeInvalidBlockID},
		{"block list missing container", "PUT", "/acct1/nocont/blk?comp=blocklist", nil, "<BlockList></BlockList>", true, 404, codeContainerNotFound},
		{"maxresults 0", "GET", "/acct1/cc1?restype=container&comp=list&maxresults=0", nil, "", true, 400, codeOutOfRangeInput},
		{"bad marker", "GET", "/acct1/cc1?restype=container&comp=list&marker=%25%25", nil, "", true, 400, codeInvalidQuery},
		{"unsupported comp", "GET", "/acct1/cc1/blob.txt?comp=pagelist", nil, "", true, 400, codeInvalidQuery},
		{"unsupported verb", "POST", "/acct1/cc1/blob.txt", nil, "", true, 405, codeUnsupportedVerb},
		{"container without restype", "GET", "/acct1/cc1", nil, "", true, 400, codeInvalidQuery},
		{"if-none-match current", "GET", "/acct1/cc1/blob.txt", map[string]string{"If-None-Match": etag}, "", true, 304, codeConditionNotMet},
		{"if-match stale", "GET", "/acct1/cc1/blob.txt", map[string]string{"If-Match": `"0x1"`}, "", true, 412, codeConditionNotMet},
		{"if-modified-since future", "GET", "/acct1/cc1/blob.txt", map[string]string{"If-Modified-Since": time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)}, "", true, 304, codeConditionNotMet},
		{"if-unmodified-since past", "PUT", "/acct1/cc1/blob.txt", map[string]string{"x-ms-blob-type": "BlockBlob", "If-Unmodified-Since": time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)}, "x", true, 412, codeConditionNotMet},
		{"put if-match stale", "PUT", "/acct1/cc1/blob.txt", map[string]string{"x-ms-blob-type": "BlockBlob", "If-Match": `"0x1"`}, "x", true, 412, codeConditionNotMet},
		{"put if-none-match star", "PUT", "/acct1/cc1/blob.txt", map[string]string{"x-ms-blob-type": "BlockBlob", "If-None-Match": "*"}, "x", true, 409, codeBlobExists},
		{"delete if-match stale", "DELETE", "/acct1/cc1/blob.txt", map[string]string{"If-Match": `"0x1"`}, "", true, 412, codeConditionNotMet},
		{"head missing", "HEAD", "/acct1/cc1/nothing", nil, "", true, 404, codeBlobNotFound},
		{"block list of missing blob", "GET", "/acct1/cc1/nothing?comp=blocklist", nil, "", true, 404, codeBlobNotFound},
		{"delete missing container", "DELETE", "/acct1/nocont?restype=container", nil, "", true, 404, codeContainerNotFound},
		{"bad metadata name", "PUT", "/acct1/cc1/blob.txt?comp=metadata", map[string]string{"x-ms-meta-1bad": "v"}, "", true, 400, codeInvalidMetadata},
		{"blob name with NUL", "GET", "/acct1/cc1/a%00b", nil, "", true, 400, codeInvalidResName},
		{"blob name too long", "GET", "/acct1/cc1/" + strings.Repeat("a", 1025), nil, "", true, 400, codeInvalidResName},
		{"structured body", "PUT", "/acct1/cc1/s", map[string]string{"x-ms-blob-type": "BlockBlob", "x-ms-structured-body": "XSM/1.0; properties=crc64"}, "x", true, 400, codeUnsupportedHeader},
	}
	for _, c := range cases {
		var body io.Reader
		if c.body != "" {
			body = strings.NewReader(c.body)
		}
		r := e.do(t, c.method, c.path, c.hdr, body, int64(len(c.body)), c.sign)
		if r.status != c.status || r.code != c.code {
			t.Errorf("%s: %d %q, want %d %q; %s", c.name, r.status, r.code, c.status, c.code, r.body)
			continue
		}
		if r.header.Get("x-ms-request-id") == "" || r.header.Get("Date") == "" || (c.status != 401 && c.status != 404 && r.header.Get("x-ms-version") == "") {
			t.Errorf("%s: common headers missing: %v", c.name, r.header)
		}
		if c.code != "" && c.method != "HEAD" && c.status != 304 && !strings.Contains(r.body, "<Code>"+c.code+"</Code>") {
			t.Errorf("%s: body %q", c.name, r.body)
		}
		if c.method == "HEAD" && r.body != "" {
			t.Errorf("%s: HEAD with a body", c.name)
		}
	}
	// Range content and Content-Range.
	r := e.do(t, "GET", "/acct1/cc1/blob.txt", map[string]string{"Range": "bytes=2-4"}, nil, 0, true)
	if r.body != "234" || r.header.Get("Content-Range") != "bytes 2-4/10" {
		t.Fatalf("range: %q %q", r.body, r.header.Get("Content-Range"))
	}
	r = e.do(t, "GET", "/acct1/cc1/blob.txt", map[string]string{"x-ms-range": "bytes=10-20"}, nil, 0, true)
	if r.header.Get("Content-Range") != "bytes */10" {
		t.Fatalf("416 Content-Range %q", r.header.Get("Content-Range"))
	}
	// A block larger than 4000 MiB is refused before its body is read.
	r = e.do(t, "PUT", "/acct1/cc1/huge?comp=block&blockid="+urlQueryEscape(id1), nil, io.LimitReader(zeros{}, 4001<<20), 4001<<20, true)
	if r.status != 413 || r.code != codeTooLarge {
		t.Fatalf("oversize block: %+v", r)
	}
	// A chunked body (no Content-Length) is refused.
	r = e.do(t, "PUT", "/acct1/cc1/chunked", map[string]string{"x-ms-blob-type": "BlockBlob"}, io.MultiReader(bytes.NewReader([]byte("x"))), -1, true)
	if r.status != 411 || r.code != codeMissingLength {
		t.Fatalf("chunked: %+v", r)
	}
	// Failed writes left no data file behind: blob.txt, m, the blocks blk and m2.
	if n := countDataFiles(t, e.dataDir); n != 4 {
		t.Fatalf("%d data files, want 4", n)
	}
	// Put Blob takes the content type from Content-Type unless x-ms-blob-content-type is set.
	put("/acct1/cc1/t.csv", map[string]string{"x-ms-blob-type": "BlockBlob", "Content-Type": "text/csv"}, "a,b")
	put("/acct1/cc1/t.json", map[string]string{"x-ms-blob-type": "BlockBlob", "Content-Type": "text/plain", "x-ms-blob-content-type": "application/json"}, "{}")
	for name, want := range map[string]string{"t.csv": "text/csv", "t.json": "application/json"} {
		if r := e.do(t, "HEAD", "/acct1/cc1/"+name, nil, nil, 0, true); r.header.Get("Content-Type") != want {
			t.Errorf("%s: Content-Type %q, want %q", name, r.header.Get("Content-Type"), want)
		}
	}
	_ = context.Background()
}
