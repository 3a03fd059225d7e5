package registry

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/cobaltbatch/cobalt/internal/rbac"
	"github.com/cobaltbatch/cobalt/internal/testenv"
)

// TestSkopeo copies an image from an OCI layout into the registry and back
// with Debian's skopeo, authenticating as `az acr login` hands a refresh
// token to docker: the null GUID as user, the refresh token as password.
func TestSkopeo(t *testing.T) {
	sk, err := exec.LookPath("skopeo")
	if err != nil {
		testenv.Unavailable(t, "skopeo (Debian package skopeo)")
	}
	e := newEnv(t)
	reg := e.registry(t, "skopeoreg", false)
	pusher, puller := e.principal(t, "pusher"), e.principal(t, "puller")
	e.assign(t, pusher, rbac.RoleAcrPush, reg.ID)
	e.assign(t, puller, rbac.RoleAcrPull, reg.ID)

	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	if err := os.MkdirAll(certs, 0o700); err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(e.ca.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(certs, "ca.crt"), ca, 0o600); err != nil {
		t.Fatal(err)
	}
	policy := filepath.Join(dir, "policy.json")
	if err := os.WriteFile(policy, []byte(`{"default":[{"type":"insecureAcceptAnything"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	img := busyboxImage(t)
	src := filepath.Join(dir, "src")
	lp, err := layout.Write(src, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	skopeo := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, sk, append([]string{"--policy", policy}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_RUNTIME_DIR="+dir)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	prt := e.refreshFor(t, reg, pusher)
	dest := "docker://" + reg.LoginServer + "/skopeo/busybox:v1"
	if out, err := skopeo("copy", "--dest-creds", nullGUID+":"+prt, "--dest-cert-dir", certs, "oci:"+src, dest); err != nil {
		t.Fatalf("skopeo copy to the registry: %v\n%s", err, out)
	}
	// ggcr sees what skopeo pushed: the same layer content.
	pulled, err := crane.Pull(reg.LoginServer+"/skopeo/busybox:v1", crane.WithTransport(e.transport()), crane.WithAuth(passwordAuth(prt)))
	if err != nil {
		t.Fatal(err)
	}
	wl, _ := img.Layers()
	pl, err := pulled.Layers()
	if err != nil || len(pl) != 1 {
		t.Fatalf("pulled layers: %v", err)
	}
	wd, _ := wl[0].DiffID()
	pdiff, _ := pl[0].DiffID()
	if wd != pdiff {
		t.Fatalf("layer diff ID %v, pushed %v", pdiff, wd)
	}
	// AcrPull copies out and cannot copy in.
	rrt := e.refreshFor(t, reg, puller)
	if out, err := skopeo("copy", "--src-creds", nullGUID+":"+rrt, "--src-cert-dir", certs, dest, "oci:"+filepath.Join(dir, "back")+":v1"); err != nil {
		t.Fatalf("skopeo copy from the registry with AcrPull: %v\n%s", err, out)
	}
	out, err := skopeo("copy", "--dest-creds", nullGUID+":"+rrt, "--dest-cert-dir", certs, "oci:"+src, "docker://"+reg.LoginServer+"/skopeo/busybox:v2")
	if err == nil || !strings.Contains(strings.ToLower(out), "unauthorized") && !strings.Contains(strings.ToLower(out), "denied") {
		t.Fatalf("skopeo push with AcrPull: %v\n%s", err, out)
	}
	// A wrong refresh token gets nothing.
	if out, err := skopeo("inspect", "--creds", nullGUID+":"+tamper(rrt), "--cert-dir", certs, dest); err == nil {
		t.Fatalf("skopeo inspect with a tampered refresh token succeeded:\n%s", out)
	}
}
