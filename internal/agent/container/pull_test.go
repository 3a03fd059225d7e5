package container

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cobaltbatch/cobalt/internal/agent/container/containertest"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
	"github.com/cobaltbatch/cobalt/internal/pki"
)

type fixture struct {
	reg    *containertest.Registry
	tr     http.RoundTripper
	ref    string
	digest string
}

func newFixture(t *testing.T) *fixture {
	ca, err := pki.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// The test's Entra: "aad-<principal>" is a valid token for principal.
	reg := containertest.Start(t, ca.ServerTLSConfig(), func(aad string) (string, error) {
		if p, ok := strings.CutPrefix(aad, "aad-"); ok {
			return p, nil
		}
		return "", errors.New("invalid token")
	})
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: ca.CertPool(), MinVersion: tls.VersionTLS12}
	img := containertest.Busybox(t)
	d, _ := img.Digest()
	return &fixture{reg: reg, tr: tr, ref: reg.Push(t, tr, "tasks/busybox:v1", img), digest: d.String()}
}

func (f *fixture) puller(t *testing.T, principal string) *Puller {
	return &Puller{Dir: t.TempDir(), Transport: f.tr, Token: func(_ context.Context, id, resource string) (string, error) {
		if resource != RegistryResource || id != "/identities/"+principal {
			return "", fmt.Errorf("unexpected token request %s %s", id, resource)
		}
		return "aad-" + principal, nil
	}}
}

func TestPullWithIdentity(t *testing.T) {
	f := newFixture(t)
	f.reg.AllowPull("alice")
	p := f.puller(t, "alice")
	pool := []nodeproto.ContainerRegistry{{Server: f.reg.Host, IdentityResourceID: "/identities/alice"}}
	img, err := p.Pull(context.Background(), f.ref, nil, pool)
	if err != nil {
		t.Fatal(err)
	}
	if img.Digest != f.digest || img.Config.WorkingDir != "/home/app" {
		t.Fatalf("pulled %+v, want digest %s", img, f.digest)
	}
	if b, err := os.ReadFile(filepath.Join(img.RootFS, "etc/image-marker")); err != nil || string(b) != "from the image\n" {
		t.Fatalf("unpacked image: %q %v", b, err)
	}
	if f.reg.Requests("/oauth2/exchange") != 1 {
		t.Fatalf("exchanges: %d", f.reg.Requests("/oauth2/exchange"))
	}
	// A second pull of the same name is served from the node.
	before := f.reg.Requests("/v2/")
	if again, err := p.Pull(context.Background(), f.ref, nil, pool); err != nil || again != img || f.reg.Requests("/v2/") != before {
		t.Fatalf("second pull: %v, %d registry requests", err, f.reg.Requests("/v2/")-before)
	}
}

func TestPullRefused(t *testing.T) {
	f := newFixture(t)
	f.reg.AllowPull("alice")
	f.reg.AddUser("robot", "s3cret")
	cases := []struct {
		name, ref, want string
		reg             *nodeproto.ContainerRegistry
	}{
		{"no pull role", f.ref, "UNAUTHORIZED", &nodeproto.ContainerRegistry{Server: f.reg.Host, IdentityResourceID: "/identities/bob"}},
		{"wrong password", f.ref, "UNAUTHORIZED", &nodeproto.ContainerRegistry{Server: f.reg.Host, Username: "robot", Password: "wrong"}},
		{"anonymous", f.ref, "UNAUTHORIZED", nil},
		{"no such image", f.reg.Host + "/tasks/nope:v1", "NAME_UNKNOWN", &nodeproto.ContainerRegistry{Server: f.reg.Host, Username: "robot", Password: "s3cret"}},
		{"other registry", f.ref, "not in the task's registry", &nodeproto.ContainerRegistry{Server: "127.0.0.1:1", Username: "robot", Password: "s3cret"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := f.puller(t, "bob")
			_, err := p.Pull(context.Background(), c.ref, c.reg, nil)
			var pe *PullError
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.ref) ||
				!strings.Contains(err.Error(), f.reg.Host) {
				t.Fatalf("Pull: %v, want a PullError naming %s, the registry and %q", err, c.ref, c.want)
			}
			if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "wrong") {
				t.Fatalf("the error carries the password: %v", err)
			}
			if ents, _ := os.ReadDir(p.Dir); len(ents) != 0 {
				t.Fatalf("a refused pull left %v", ents)
			}
		})
	}
	// Basic works with the right password.
	if _, err := f.puller(t, "x").Pull(context.Background(), f.ref, &nodeproto.ContainerRegistry{Server: f.reg.Host, Username: "robot", Password: "s3cret"}, nil); err != nil {
		t.Fatalf("Basic pull: %v", err)
	}
	// A registry that is gone.
	f.reg.Close()
	_, err := f.puller(t, "alice").Pull(context.Background(), f.ref, nil, []nodeproto.ContainerRegistry{{Server: f.reg.Host, IdentityResourceID: "/identities/alice"}})
	if err == nil || !strings.Contains(err.Error(), f.reg.Host) {
		t.Fatalf("pull from a closed registry: %v", err)
	}
}

// A plain-HTTP registry is never used, even on loopback (where
// go-containerregistry would fall back to http): no credential leaves
// unencrypted.
func TestPullRefusesPlainHTTP(t *testing.T) {
	got := make(chan string, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("Authorization")
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	p := &Puller{Dir: t.TempDir(), Transport: http.DefaultTransport}
	_, err := p.Pull(context.Background(), host+"/x:1", &nodeproto.ContainerRegistry{Server: host, Username: "u", Password: "pw"}, nil)
	if err == nil || !strings.Contains(err.Error(), "HTTPS") && !strings.Contains(err.Error(), "https") {
		t.Fatalf("pull over http: %v", err)
	}
	select {
	case a := <-got:
		t.Fatalf("the plain-HTTP registry was reached (Authorization %q)", a)
	default:
	}
}
