package azurenames

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestRouter(t *testing.T) {
	t.Parallel()
	echo := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, name+" "+r.URL.Path+" "+r.URL.RawQuery+" "+r.RequestURI)
		})
	}
	h := NewRouter(Backends{Location: "eastus", Login: echo("login"), Management: echo("arm"), Blob: echo("blob"),
		BatchAccount: func(name string) (http.Handler, bool) { return echo("batch:" + name), true },
		Registry: func(name string) (http.Handler, bool) {
			if name != "reg1" {
				return nil, false
			}
			return echo("registry:" + name), true
		}})
	for _, c := range []struct {
		host, uri string
		code      int
		body      string
	}{
		{"login.microsoftonline.com", "/tenant/oauth2/v2.0/token", 200, "login /tenant/oauth2/v2.0/token  /tenant/oauth2/v2.0/token"},
		{"management.azure.com:443", "/subscriptions?api-version=1", 200, "arm /subscriptions api-version=1 /subscriptions?api-version=1"},
		// Host-style storage: the blob service sees /account/..., RequestURI stays as the client signed it.
		{"store1.blob.core.windows.net", "/c1/dir/b%201.txt?comp=list", 200, "blob /store1/c1/dir/b 1.txt comp=list /c1/dir/b%201.txt?comp=list"},
		{"acct1.eastus.batch.azure.com", "/pools?api-version=x", 200, "batch:acct1 /pools api-version=x /pools?api-version=x"},
		{"reg1.azurecr.io", "/v2/", 200, "registry:reg1 /v2/  /v2/"},
		{"reg2.azurecr.io", "/v2/", 404, ""},
		{"acct1.westus.batch.azure.com", "/pools", 404, ""},
		{"example.com", "/", 404, ""},
	} {
		req := httptest.NewRequest("GET", c.uri, nil)
		req.Host = c.host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != c.code {
			t.Errorf("%s%s: status %d, want %d", c.host, c.uri, rec.Code, c.code)
			continue
		}
		if c.code == 200 && rec.Body.String() != c.body {
			t.Errorf("%s%s: body %q, want %q", c.host, c.uri, rec.Body.String(), c.body)
		}
	}
}
