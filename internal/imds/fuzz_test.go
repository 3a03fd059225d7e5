package imds

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzQuery feeds arbitrary query strings to the parser, and to the token and
// instance endpoints inside raw request lines parsed by net/http (so that the
// handlers see only what a client can send): no panic, and never a 5xx from
// bad input.
func FuzzQuery(f *testing.F) {
	for _, s := range []string{
		"api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F",
		"api-version=2018-02-01&resource=x&resource=y",
		"api-version=2018-02-01&resource=x&client_id=a&object_id=b",
		"api-version=2018-02-01&resource=x&msi_res_id=%2Fsubscriptions%2Fs",
		"%zz=1", "&&&", "=", "a=%", "resource=%E2%82%AC&api-version=2025-04-07",
		"api-version=2021-02-01&format=text", "bypass_cache=true;x=1",
	} {
		f.Add(s)
	}
	h, _ := newTestHandler(idA, idB)
	h1, _ := newTestHandler(idA)
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := parseQuery(raw, nil)
		if err == nil {
			seen := map[string]bool{}
			for _, p := range q {
				k := p.name
				if seen[k] {
					t.Fatalf("name %q twice in %q", k, raw)
				}
				seen[k] = true
				if strings.Count("&"+raw, "&"+k) < 1 && k != "" && !strings.ContainsAny(raw, "%+") {
					t.Fatalf("name %q not in %q", k, raw)
				}
			}
		}
		for _, hh := range []http.Handler{h, h1} {
			for _, p := range []string{PathToken, PathInstance + "/compute", PathInfo} {
				// The request as it arrives on the wire: what net/http
				// cannot parse it answers with 400 before any handler runs.
				r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(
					"GET " + p + "?" + raw + " HTTP/1.1\r\nHost: 169.254.169.254\r\nMetadata: true\r\n\r\n")))
				if err != nil {
					continue
				}
				r.RemoteAddr = "127.0.0.1:50000"
				w := httptest.NewRecorder()
				hh.ServeHTTP(w, r)
				if w.Code >= 500 {
					t.Fatalf("%s?%s: status %d %s", p, raw, w.Code, w.Body)
				}
			}
		}
	})
}

// TestParseQueryRepeats checks that a repeated name is refused wherever it
// is: among the first parameters (found by scanning) and past smallQuery
// (found by the map).
func TestParseQueryRepeats(t *testing.T) {
	many := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "p%d=%d&", i, i)
		}
		return b.String()
	}
	for _, tc := range []struct {
		raw string
		dup bool
	}{
		{"a=1&b=2", false},
		{"a=1&a=2", true},
		{"a=1&%61=2", true},
		{many(smallQuery), false},
		{many(smallQuery) + "p0=x", true},
		{many(3*smallQuery) + "p40=x", true},
		{many(3 * smallQuery), false},
		{many(smallQuery) + "p3=x&" + many(smallQuery), true},
	} {
		var buf [8]param
		q, err := parseQuery(tc.raw, buf[:])
		if (err == errDuplicateParam) != tc.dup {
			t.Errorf("%.60q: err %v, want duplicate %v", tc.raw, err, tc.dup)
		}
		if err == nil && q.get("p1") != "" && q.get("p1") != "1" {
			t.Errorf("%.60q: p1 = %q", tc.raw, q.get("p1"))
		}
	}
}
