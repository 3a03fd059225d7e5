// Package containertest serves a test container registry for node tests:
// go-containerregistry's in-memory registry behind a small gate that
// implements ACR's token flow (anonymous 401 challenge with realm on the
// registry's own host:port, /oauth2/exchange, /oauth2/token by POST with a
// refresh token or GET with Basic), over TLS; and builds a busybox image
// from the host's static /bin/busybox (no internet).
package containertest

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Registry is a running test registry.
type Registry struct {
	// Host is its host:port (127.0.0.1:PORT), the login server.
	Host string
	srv  *httptest.Server

	mu sync.Mutex
	// Exchange turns an Entra access token into the principal it names
	// (the test's own validation); an error refuses the exchange.
	exchange func(aad string) (string, error)
	pullers  map[string]bool   // principals that may pull
	users    map[string]string // Basic user → password (each may pull)
	refresh  map[string]string // refresh token → principal
	access   map[string]string // access token → principal
	// Requests counts requests by path prefix ("/v2/", "/oauth2/exchange", ...).
	requests map[string]int
}

// Start serves a registry with tlsConfig (the installation CA's server
// certificate) on 127.0.0.1; exchange validates Entra tokens.
func Start(t testing.TB, tlsConfig *tls.Config, exchange func(aad string) (string, error)) *Registry {
	t.Helper()
	r := &Registry{exchange: exchange, pullers: map[string]bool{}, users: map[string]string{}, refresh: map[string]string{},
		access: map[string]string{}, requests: map[string]int{}}
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	r.srv = httptest.NewUnstartedServer(r.gate(inner))
	r.srv.TLS = tlsConfig.Clone()
	r.srv.StartTLS()
	t.Cleanup(r.srv.Close)
	r.Host = strings.TrimPrefix(r.srv.URL, "https://")
	return r
}

// Close stops the registry (a registry that is gone).
func (r *Registry) Close() { r.srv.Close() }

// AllowPull lets principal pull every repository.
func (r *Registry) AllowPull(principal string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pullers[principal] = true
}

// AddUser adds a Basic user that may pull.
func (r *Registry) AddUser(user, password string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.users[user] = password
}

// Requests returns how many requests paths starting with prefix got.
func (r *Registry) Requests(prefix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests[prefix]
}

// pushPrincipal may push and pull; Push uses it.
const pushPrincipal = "test-pusher"

var repoRe = regexp.MustCompile(`^/v2/(.+)/(blobs|manifests|tags|referrers)/`)

func token() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}})
}

func (r *Registry) gate(inner http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		for _, p := range []string{"/v2/", "/oauth2/exchange", "/oauth2/token"} {
			if strings.HasPrefix(req.URL.Path, p) {
				r.requests[p]++
			}
		}
		r.mu.Unlock()
		switch req.URL.Path {
		case "/oauth2/exchange":
			r.serveExchange(w, req)
			return
		case "/oauth2/token":
			r.serveToken(w, req)
			return
		}
		m := repoRe.FindStringSubmatch(req.URL.Path)
		action := "pull"
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			action = "push"
		}
		r.mu.Lock()
		who, ok := r.access[strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")]
		allowed := ok && (who == pushPrincipal || (action == "pull" && (r.pullers[who] || r.users[who] != "")))
		r.mu.Unlock()
		if !allowed {
			ch := `Bearer realm="https://` + r.Host + `/oauth2/token",service="` + r.Host + `"`
			if m != nil {
				ch += `,scope="repository:` + m[1] + `:` + action + `"`
				if ok {
					ch += `,error="insufficient_scope"`
				}
			}
			w.Header().Set("WWW-Authenticate", ch)
			writeErr(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
			return
		}
		inner.ServeHTTP(w, req)
	})
}

func (r *Registry) serveExchange(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.ParseForm() != nil || req.PostForm.Get("grant_type") != "access_token" ||
		req.PostForm.Get("service") != r.Host {
		writeErr(w, http.StatusBadRequest, "UNSUPPORTED", "bad exchange request")
		return
	}
	who, err := r.exchange(req.PostForm.Get("access_token"))
	if err != nil {
		writeErr(w, http.StatusUnauthorized, "UNAUTHORIZED", err.Error())
		return
	}
	rt := token()
	r.mu.Lock()
	r.refresh[rt] = who
	r.mu.Unlock()
	_ = json.NewEncoder(w).Encode(map[string]string{"refresh_token": rt})
}

func (r *Registry) serveToken(w http.ResponseWriter, req *http.Request) {
	var who string
	var ok bool
	r.mu.Lock()
	switch req.Method {
	case http.MethodPost:
		if req.ParseForm() == nil && req.PostForm.Get("grant_type") == "refresh_token" {
			who, ok = r.refresh[req.PostForm.Get("refresh_token")]
		}
	case http.MethodGet:
		if u, p, basic := req.BasicAuth(); basic {
			switch {
			case u == "00000000-0000-0000-0000-000000000000":
				who, ok = r.refresh[p]
			case u == pushPrincipal && p == pushPrincipal:
				who, ok = u, true
			case r.users[u] != "" && r.users[u] == p:
				who, ok = u, true
			}
		}
	}
	var at string
	if ok {
		at = token()
		r.access[at] = who
	}
	r.mu.Unlock()
	if !ok {
		writeErr(w, http.StatusUnauthorized, "UNAUTHORIZED", "invalid refresh token or credentials")
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": at, "token": at, "expires_in": 300})
}

// Push pushes img as host/repo:tag and returns the reference.
func (r *Registry) Push(t testing.TB, tr http.RoundTripper, repoTag string, img v1.Image) string {
	t.Helper()
	ref := r.Host + "/" + repoTag
	n, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	auth := authn.FromConfig(authn.AuthConfig{Username: pushPrincipal, Password: pushPrincipal})
	if err := remote.Write(n, img, remote.WithAuth(auth), remote.WithTransport(tr)); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	return ref
}

// Applets are the busybox applets Busybox links in /bin.
var Applets = []string{"sh", "echo", "cat", "id", "ls", "pwd", "env", "true", "false", "sleep", "hostname", "wget", "test", "mkdir", "touch", "stat", "printf", "unshare"}

// Busybox is an image of the host's static busybox: /bin/busybox, one
// symlink per applet, /etc/passwd, empty /tmp, /proc, /sys, /dev; PATH=/bin,
// WorkingDir /home/app, Cmd sh -c "echo default". It fails the test when
// /bin/busybox is missing (busybox-static).
func Busybox(t testing.TB) v1.Image {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatalf("busybox-static is needed for container images: %v", err)
	}
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	add := func(h *tar.Header, body []byte) {
		h.Size = int64(len(body))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"bin", "etc", "tmp", "proc", "sys", "dev", "home", "home/app"} {
		mode := int64(0o755)
		if d == "tmp" {
			mode = 0o1777
		}
		add(&tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: mode}, nil)
	}
	add(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755}, bb)
	for _, a := range Applets {
		add(&tar.Header{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777}, nil)
	}
	add(&tar.Header{Name: "etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644}, []byte("root:x:0:0:root:/root:/bin/sh\n"))
	add(&tar.Header{Name: "etc/image-marker", Typeflag: tar.TypeReg, Mode: 0o644}, []byte("from the image\n"))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	data := b.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Env = []string{"PATH=/bin", "IMAGE_VAR=image"}
	cf.Config.Cmd = []string{"sh", "-c", "echo default"}
	cf.Config.WorkingDir = "/home/app"
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}
