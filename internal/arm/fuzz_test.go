package arm

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/cobaltbatch/cobalt"
)

// FuzzParseResourceID checks cobalt.ParseResourceID (the root package's
// parser, fuzzed here because the front door feeds it every request path): it never panics,
// and what it accepts round-trips through String and keeps its Key.
func FuzzParseResourceID(f *testing.F) {
	for _, s := range []string{
		"/", "/subscriptions/s", "/subscriptions/s/resourceGroups/rg",
		"/subscriptions/s/resourcegroups/rg/providers/Microsoft.Batch/batchAccounts/a/pools/p",
		"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a/providers/Microsoft.Authorization/roleAssignments/g",
		"/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
		"/subscriptions//resourceGroups/x", "subscriptions/s", "/subscriptions/s/providers", "/a/b/c", "//", "/subscriptions/s/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := cobalt.ParseResourceID(s)
		if err != nil {
			if cobalt.ErrorCode(err) != cobalt.EInvalid {
				t.Fatalf("error class %v for %q", cobalt.ErrorCode(err), s)
			}
			return
		}
		again, err := cobalt.ParseResourceID(id.String())
		if err != nil {
			t.Fatalf("%q parsed, but its String %q does not: %v", s, id.String(), err)
		}
		if again.Key() != id.Key() {
			t.Fatalf("round trip of %q: key %q != %q", s, again.Key(), id.Key())
		}
		anc := id.Ancestry()
		if !anc[len(anc)-1].IsRoot() || !id.Within(anc[len(anc)-1]) {
			t.Fatalf("ancestry of %q does not end at the root", s)
		}
	})
}

// FuzzScopeAndCanonicalPath feeds request paths to the path handling of the
// front door: it never panics, canonicalization keeps names and segment count.
func FuzzScopeAndCanonicalPath(f *testing.F) {
	s := &Server{literals: map[string]string{"subscriptions": "subscriptions", "resourcegroups": "resourceGroups", "providers": "providers",
		"microsoft.batch": "Microsoft.Batch", "batchaccounts": "batchAccounts", "pools": "pools"}}
	for _, p := range []string{"/", "/subscriptions", "/SUBSCRIPTIONS/s/RESOURCEGROUPS/Rg/PROVIDERS/microsoft.batch/BATCHACCOUNTS/A/pools",
		"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Batch/batchAccounts/a/listKeys", "//x//y/", "/providers/providers/providers"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if !strings.HasPrefix(p, "/") {
			p = "/" + p
		}
		c := s.canonicalPath(p)
		if !strings.EqualFold(c, "/"+strings.Trim(p, "/")) && c != "/" {
			t.Fatalf("canonicalPath(%q) = %q changed more than case", p, c)
		}
		_, _, _ = scopeOf(c)
	})
}

// FuzzDecodeJSON feeds request bodies to the body decoder with the identity,
// resource group and role assignment shapes: errors are 400s, never panics.
func FuzzDecodeJSON(f *testing.F) {
	for _, b := range []string{`{"location":"eastus","tags":{"a":"b"}}`, `{"location":5}`, `{`, ``, `null`, `[]`,
		`{"properties":{"roleDefinitionId":"x","principalId":"y","principalType":"User"}}`, `{"sku":{"name":"Standard_LRS"},"kind":"StorageV2"}`} {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		targets := []any{
			&struct {
				Location *string           `json:"location"`
				Tags     map[string]string `json:"tags"`
			}{},
			&struct {
				Properties *struct {
					RoleDefinitionID *string `json:"roleDefinitionId"`
					PrincipalID      *string `json:"principalId"`
					PrincipalType    string  `json:"principalType"`
				} `json:"properties"`
			}{},
			&map[string]any{},
		}
		for _, v := range targets {
			err := DecodeJSON(b, v)
			if err == nil {
				continue
			}
			if cobalt.ErrorCode(err) != cobalt.EInvalid || cobalt.ErrorReason(err) != "InvalidRequestContent" {
				t.Fatalf("DecodeJSON(%q) = %v", b, err)
			}
			status, body := errorBodyOf(err)
			if status != 400 || body.Code == "" {
				t.Fatalf("error body %d %+v", status, body)
			}
			if _, err := json.Marshal(ErrorResponse{Error: body}); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// FuzzFixRequestLine checks the request-line rewrite of NewListener: it keeps
// the length and changes nothing but spaces in a request line's query.
func FuzzFixRequestLine(f *testing.F) {
	for _, l := range []string{
		"GET /subscriptions/s/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01&$filter=principalId eq 'x' HTTP/1.1\r\n",
		"GET /x HTTP/1.1\r\n", "Host: a b\r\n", "{\"a\": \"GET /x?y z HTTP/1.1\"}\n", "PUT /a?b c", "GET /? HTTP/1.0\n",
	} {
		f.Add([]byte(l))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		out := fixRequestLine(line)
		if len(out) != len(line) {
			t.Fatalf("length changed: %q -> %q", line, out)
		}
		for i := range line {
			if line[i] != out[i] && !(line[i] == ' ' && out[i] == '+') {
				t.Fatalf("byte %d changed: %q -> %q", i, line, out)
			}
		}
		if !bytes.Equal(out, line) && !looksLikeRequestStart(line) {
			t.Fatalf("a non-request line changed: %q", line)
		}
	})
}

// FuzzAssignmentFilter feeds $filter values to the role assignment filter parser.
func FuzzAssignmentFilter(f *testing.F) {
	for _, s := range []string{"atScope()", "principalId eq 'abc'", "atScope() and principalId eq 'x'", "assignedTo('y')", "", "x eq y", "'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, err := parseAssignmentFilter(s)
		if err != nil && cobalt.ErrorCode(err) != cobalt.EInvalid {
			t.Fatalf("parseAssignmentFilter(%q) = %v", s, err)
		}
	})
}

func TestFixRequestLine(t *testing.T) {
	t.Parallel()
	in := "GET /s/roleAssignments?api-version=2022-04-01&$filter=principalId eq 'x' HTTP/1.1\r\n"
	want := "GET /s/roleAssignments?api-version=2022-04-01&$filter=principalId+eq+'x' HTTP/1.1\r\n"
	if got := string(fixRequestLine([]byte(in))); got != want {
		t.Fatalf("fixRequestLine = %q, want %q", got, want)
	}
	for _, same := range []string{"GET /a/b c HTTP/1.1\r\n", "GET /a?b HTTP/1.1\r\n", "Host: x y\r\n"} {
		if got := string(fixRequestLine([]byte(same))); got != same {
			t.Errorf("fixRequestLine(%q) = %q", same, got)
		}
	}
}

// FuzzHandler sends arbitrary methods, request targets and bodies as the raw
// bytes of an HTTP/1.1 request through the whole front door as the
// subscription Owner, the way a client on the wire would: the request line is
// not vetted by a client library first (httptest.NewRequest panics on a
// control character before the server sees it), so control characters,
// spaces and stray escapes reach the line fix and net/http's parser exactly
// as they would in production. What net/http itself rejects must be a 400; what reaches the
// front door is never a 5xx and always carries ARM's error envelope when it
// is an error.
func FuzzHandler(f *testing.F) {
	fx := newFixtureTB(f)
	fx.must(fx.do(adminOID, "PUT", rgPath+rgV, `{"location":"eastus"}`), 201)
	for _, s := range []struct{ method, path, body string }{
		{"PUT", miPath + "/mi1" + miV, `{"location":"eastus"}`},
		{"PUT", raPath + "/" + guid1 + raV, `{"properties":{"roleDefinitionId":"x","principalId":"y"}}`},
		{"GET", raPath + raV + "&$filter=atScope()", ``},
		{"GET", raPath + raV + "&$filter=principalId eq 'x'", ``},
		{"POST", saPath + "/acct/listKeys" + saV, ``},
		{"PUT", saPath + "/acct" + saV, `{"sku":{"name":"Standard_LRS"},"kind":"StorageV2","location":"eastus"}`},
		{"DELETE", rgPath + "x" + rgV, ``},
		{"PATCH", rgPath + rgV, `{"tags":{"a":"b"}}`},
		{"GET", "/subscriptions/" + testSub + "/operationresults/x", ``},
		{"GET", "/providers/Microsoft.Authorization/roleDefinitions" + raV + "&$filter=roleName eq 'x'", ``},
		{"GET", "/\x19", ``},
	} {
		f.Add(s.method, s.path, s.body)
	}
	f.Fuzz(func(t *testing.T, method, path, body string) {
		switch method {
		case "GET", "PUT", "PATCH", "POST", "DELETE", "HEAD":
		default:
			method = "GET"
		}
		// One request per input: a line break would start a second request
		// (or headers) that this input does not describe.
		if strings.ContainsAny(path, "\r\n") {
			return
		}
		// Keep deletes inside throwaway groups, so that one input does not
		// remove the fixture's group for the next.
		if method == "DELETE" {
			p, _, _ := strings.Cut(path, "?")
			if u, err := url.PathUnescape(p); err != nil || strings.EqualFold(strings.TrimRight(u, "/"), rgPath) {
				return
			}
		}
		raw := method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1:4443\r\nAuthorization: Bearer tok-" + adminOID +
			"\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\nConnection: close\r\n\r\n" + body
		code, served, respBody := serveRaw(fx.h, raw)
		if !served {
			if code != http.StatusBadRequest {
				t.Fatalf("%s %q: net/http answered %d, want 400", method, path, code)
			}
			return
		}
		if code >= 500 {
			t.Fatalf("%s %q %q: %d %s", method, path, body, code, respBody)
		}
		if code >= 400 && method != "HEAD" {
			var e ErrorResponse
			if err := json.Unmarshal(respBody, &e); err != nil || e.Error.Code == "" {
				t.Fatalf("%s %q: %d without an ARM error body: %q", method, path, code, respBody)
			}
		}
	})
}

// serveRaw hands raw, the bytes of one HTTP/1.1 request as a client wrote
// them, to h the way the front door's listener and net/http would: the
// request line goes through the line fix, net/http parses the request, and
// what it cannot parse it answers with 400 Bad Request before any handler
// runs (served is then false). It runs on the calling goroutine, so that the
// fuzzer's coverage of one input is not mixed with another's.
func serveRaw(h http.Handler, raw string) (code int, served bool, body []byte) {
	line, rest, _ := strings.Cut(raw, "\n")
	fixed := string(fixRequestLine([]byte(line+"\n"))) + rest
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(fixed)))
	if err != nil {
		return http.StatusBadRequest, false, nil
	}
	r.RemoteAddr = "127.0.0.1:50000"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code, true, w.Body.Bytes()
}

// FuzzLineFixConn writes HTTP/1.1 requests through a lineFixConn in
// fragments split at arbitrary points: what comes out is the input with the
// request lines' query spaces turned into '+', nothing lost or reordered.
func FuzzLineFixConn(f *testing.F) {
	f.Add(uint8(1), uint8(7), uint8(30))
	f.Add(uint8(50), uint8(0), uint8(3))
	f.Fuzz(func(t *testing.T, a, b, c uint8) {
		in := "GET /x?api-version=1&$filter=principalId eq 'p' HTTP/1.1\r\nHost: h\r\n\r\n" +
			"PUT /y?q=a b HTTP/1.1\r\nContent-Length: 17\r\n\r\n{\"GET /z?a b\":1}\n"
		want := strings.Replace(strings.Replace(in, "principalId eq 'p'", "principalId+eq+'p'", 1), "q=a b", "q=a+b", 1)
		cuts := []int{int(a) % len(in), int(b) % len(in), int(c) % len(in)}
		client, server := net.Pipe()
		conn := &lineFixConn{Conn: server, r: bufio.NewReaderSize(server, 16<<10)}
		go func() {
			prev := 0
			for _, cut := range append(sortedInts(cuts), len(in)) {
				if cut > prev {
					_, _ = client.Write([]byte(in[prev:cut]))
					prev = cut
				}
			}
			client.Close()
		}()
		got, _ := io.ReadAll(conn)
		if string(got) != want {
			t.Fatalf("cuts %v:\n got %q\nwant %q", cuts, got, want)
		}
	})
}

func sortedInts(v []int) []int {
	out := append([]int(nil), v...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}
