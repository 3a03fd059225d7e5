package hostfiles

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cobaltbatch/cobalt/internal/nodefiles"
)

// FuzzParseRequest: whatever the request, parsing does not panic, and what
// it accepts is a known operation on a single-element node ID with clean
// relative paths that survive an encode and parse round trip.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		"GET /files/v1/list?node=n&dir=workitems/j&recursive=true",
		"GET /files/v1/read?node=n&name=a/b&offset=0&length=10",
		"DELETE /files/v1/delete?node=n&name=..",
		"GET /files/v1/stat?node=..&name=x",
		"GET /files/v1/read?node=n&name=x&offset=9223372036854775807&length=9223372036854775807",
		"GET /files/v1/stat?node=n&name=%00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		method, target, ok := strings.Cut(line, " ")
		if !ok || !strings.HasPrefix(target, "/") || strings.ContainsAny(target, " \r\n") {
			return
		}
		r, err := http.NewRequest(method, "https://h"+target, nil)
		if err != nil {
			return
		}
		req, err := parseRequest(r)
		if err != nil {
			return
		}
		if !nodefiles.ValidNodeID(req.node) || strings.Contains("/"+req.dir+"/", "/../") || strings.Contains("/"+req.name+"/", "/../") ||
			strings.HasPrefix(req.dir, "/") || strings.HasPrefix(req.name, "/") || req.offset < 0 || req.length < 0 {
			t.Fatalf("accepted %q as %+v", line, req)
		}
		if c, err := nodefiles.Clean(req.name); err != nil || c != req.name {
			t.Fatalf("name %q not clean", req.name)
		}
		back := httptest.NewRequest(r.Method, Prefix+req.op+"?"+req.query(), nil)
		again, err := parseRequest(back)
		if err != nil || again != req {
			t.Fatalf("round trip of %+v: %+v, %v", req, again, err)
		}
	})
}
