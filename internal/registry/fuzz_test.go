package registry

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/pki/pkitest"
)

func FuzzParseManifest(f *testing.F) {
	f.Add(mtOCIManifest, string(imageManifest([]byte("{}"), []byte("layer"))))
	f.Add(mtOCIIndex, `{"schemaVersion":2,"mediaType":"`+mtOCIIndex+`","manifests":[{"mediaType":"`+mtOCIManifest+`","digest":"sha256:`+strings.Repeat("a", 64)+`","size":1}]}`)
	f.Add("", `{"schemaVersion":2,"mediaType":"`+mtDockerManifest+`","config":{"mediaType":"x","digest":"sha256:`+strings.Repeat("b", 64)+`","size":-1}}`)
	f.Add(mtDockerList+"; charset=utf-8", `{"schemaVersion":2,"manifests":[]}`)
	f.Fuzz(func(t *testing.T, ct, body string) {
		m, err := parseManifest(ct, []byte(body))
		if err != nil {
			return
		}
		switch m.MediaType {
		case mtOCIManifest, mtDockerManifest:
			if m.Index || m.Doc.Config == nil {
				t.Fatalf("image manifest without config: %+v", m)
			}
		case mtOCIIndex, mtDockerList:
			if !m.Index || m.Doc.Manifests == nil {
				t.Fatalf("index without manifests: %+v", m)
			}
		default:
			t.Fatalf("accepted media type %q", m.MediaType)
		}
		for _, d := range m.blobRefs() {
			if _, err := parseDigest(d.Digest); err != nil || d.Size < 0 {
				t.Fatalf("accepted descriptor %+v", d)
			}
		}
	})
}

func FuzzParseScopes(f *testing.F) {
	f.Add("repository:tasks/busybox:push,pull registry:catalog:*", "repository(plugin):a:pull")
	f.Add("repository:host:5000/x:pull", "repository:a:*")
	f.Add("::", "repository:A:pull")
	f.Fuzz(func(t *testing.T, a, b string) {
		list := parseScopes([]string{a, b})
		if len(list) > maxScopes {
			t.Fatalf("%d scopes", len(list))
		}
		for _, s := range list {
			switch s.Type {
			case "repository":
				if !validRepo(s.Name) {
					t.Fatalf("accepted repository %q", s.Name)
				}
				for _, act := range s.Actions {
					if act != actPull && act != actPush && act != actDelete {
						t.Fatalf("accepted action %q", act)
					}
				}
			case "registry":
				if s.Name != "catalog" {
					t.Fatalf("accepted registry scope %q", s.Name)
				}
			default:
				t.Fatalf("accepted type %q", s.Type)
			}
		}
	})
}

func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"0-99", "bytes 100-199/*", "5-4", "-1-3", "9223372036854775807-9223372036854775807", "a-b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		start, end, err := parseContentRange(s)
		if err == nil && (start < 0 || end < start) {
			t.Fatalf("%q gave %d-%d", s, start, end)
		}
	})
}

func FuzzSplitRepoPath(f *testing.F) {
	for _, s := range []string{"a/b/manifests/v1", "a/blobs/uploads/", "a/blobs/uploads/x", "a/blobs/sha256:00", "a/manifests/b/blobs/c", "x/tags/list", "r/referrers/sha256:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		repo, kind, ref, ok := splitRepoPath(s)
		if ok && (strings.Contains(ref, "/") || !strings.HasPrefix(s, repo)) {
			t.Fatalf("%q split into %q %q %q", s, repo, kind, ref)
		}
	})
}

// FuzzOAuthForms sends arbitrary token and exchange requests (method,
// Authorization header, query and form body): the answer is always 200
// with a token or an OCI JSON error, never a 500.
func FuzzOAuthForms(f *testing.F) {
	f.Add("POST", "/oauth2/token", "", "", "grant_type=refresh_token&refresh_token=a.b.c&scope=repository:a:pull")
	f.Add("GET", "/oauth2/token", "Basic MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAwOng=", "scope=repository:a:pull&service=x", "")
	f.Add("POST", "/oauth2/exchange", "", "", "grant_type=access_token&access_token=x&service=reg")
	f.Add("GET", "/oauth2/token", "Basic cmVnOnB3", "scope=registry:catalog:*", "")
	f.Add("POST", "/oauth2/token", "Bearer x", "", "grant_type=password&username=reg&password=pw")
	ca := pkitest.NewCA(f)
	regs := &testRegistries{m: map[string]cobalt.Registry{}}
	regs.put(cobalt.Registry{ID: registryID("reg"), Name: "reg", LoginServer: "reg", AdminUserEnabled: true, Passwords: [2]string{"pw", "pw2"}})
	svc, err := New(Config{Registries: regs, TLS: ca.ServerTLSConfig(), DataDir: f.TempDir(), SealKey: crashSeal})
	if err != nil {
		f.Fatal(err)
	}
	h := svc.Handler("reg")
	f.Fuzz(func(t *testing.T, method, path, authz, query, body string) {
		if method != "GET" && method != "POST" {
			method = "POST"
		}
		if path != "/oauth2/exchange" {
			path = "/oauth2/token"
		}
		req := httptest.NewRequest(method, "https://reg"+path, strings.NewReader(body))
		req.URL.RawQuery = query
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if authz != "" && !strings.ContainsAny(authz, "\r\n\x00") {
			req.Header.Set("Authorization", authz)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		var v map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
			t.Fatalf("not JSON: %q", w.Body)
		}
		if w.Code == http.StatusOK && v["access_token"] == nil {
			t.Fatalf("200 without a token: %s", w.Body)
		}
		if w.Code != http.StatusOK && v["errors"] == nil {
			t.Fatalf("%d without errors: %s", w.Code, w.Body)
		}
	})
}
