package batchapi

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestSplitPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		segs []string
		ok   bool
	}{
		{"/jobs/j1/tasks/t1/files/wd%2Fout.txt", []string{"jobs", "j1", "tasks", "t1", "files", "wd/out.txt"}, true},
		{"/pools/", []string{"pools"}, true},
		{"/", nil, true},
		{"/jobs/a%20b", []string{"jobs", "a b"}, true},
		{"/jobs//tasks", nil, false},
		{"/jobs/%zz", nil, false},
	}
	for _, tt := range tests {
		segs, _, ok := splitPath(tt.in)
		if ok != tt.ok || strings.Join(segs, "|") != strings.Join(tt.segs, "|") {
			t.Errorf("splitPath(%q) = %q %v, want %q %v", tt.in, segs, ok, tt.segs, tt.ok)
		}
	}
}

// FuzzHandler sends signed requests with arbitrary methods, paths, queries
// and bodies through the whole pipeline (without backends), each written as
// the raw bytes of an HTTP/1.1 request and parsed by net/http, so that the
// handler sees exactly what a client on the wire can send: the answer is
// never a 5xx but 501 for a missing service, and always a Batch error body
// or JSON.
func FuzzHandler(f *testing.F) {
	f.Add("GET", "/jobs/j1/tasks", "api-version=2024-07-01.20.0&$filter=state%20eq%20'a'", "")
	f.Add("POST", "/pools", "api-version=2022-10-01.16.0", `{"id":"p","identity":{}}`)
	f.Add("HEAD", "/pools/p1", "api-version=2025-06-01.21.0", "")
	f.Add("DELETE", "/jobs/j1/tasks/t1/files/a%2F..%2Fb", "api-version=2024-07-01.20.0&recursive=maybe", "")
	f.Add("GET", "/applications", "api-version=2024-07-01.20.0&maxresults=5&$skiptoken=-1", "")
	f.Add("PATCH", "/jobs/%E2%82%AC", "timeout=abc&api-version=2024-07-01.20.0", "{")
	f.Add("POST", "/pools/p/nodes/n/users", "api-version=2024-07-01.20.0", `{"name":"u","password":"p","expiryTime":"x"}`)
	f.Add("PUT", "/pools/p/nodes/n/users/u", "api-version=2024-07-01.20.0", `{"sshPublicKey":1}`)
	f.Add("POST", "/pools/p/nodes/n/deallocate", "api-version=2024-07-01.20.0", `{"nodeDeallocateOption":"x"}`)
	f.Add("GET", "/pools/p/nodes/n/extensions/e", "api-version=2024-07-01.20.0", "")
	s := newTestService(f, testNow)
	h := s.Handler("acct1")
	key, _ := base64.StdEncoding.DecodeString(testKey)
	f.Fuzz(func(t *testing.T, method, path, query, body string) {
		// One request per input, with the fuzzed parts in the request line:
		// a line break or a space would start headers or another request.
		if strings.ContainsAny(method+path+query, " \r\n") {
			return
		}
		// The request as a client writes it on the wire, parsed by net/http
		// as the server does: what it cannot parse (control characters, a
		// bad method, a target that is no URI) it answers with 400 itself,
		// and the handler never sees it.
		target := path
		if query != "" {
			target += "?" + query
		}
		raw := method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1:1\r\nContent-Length: " + itoa64(int64(len(body))) + "\r\n\r\n" + body
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return
		}
		r.RemoteAddr = "127.0.0.1:50000"
		r.Header.Set("ocp-date", testNow.Format(http.TimeFormat))
		r.Header.Set("Authorization", "SharedKey acct1:"+base64.StdEncoding.EncodeToString(signString(key, nodeSigner(r, "acct1"))))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code >= 500 && w.Code != http.StatusNotImplemented {
			t.Fatalf("%s %s?%s: %d %s", method, path, query, w.Code, w.Body.String())
		}
		if w.Body.Len() > 0 && !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%s %s?%s: body is not JSON: %q", method, path, query, w.Body.String())
		}
	})
}
