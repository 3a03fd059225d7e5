package cli

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/cli/cli/config"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/cobaltbatch/cobalt/internal/server"
	"github.com/cobaltbatch/cobalt/internal/server/servertest"
	"github.com/cobaltbatch/cobalt/internal/testenv"
)

// cliRun runs the CLI in-process with env as its whole environment and
// returns its stdout; it fails t when the exit status is not want.
func cliRun(t *testing.T, env map[string]string, want int, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	g := &globals{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }}
	if code := runArgs(context.Background(), g, args); code != want {
		t.Fatalf("cobalt %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out.String(), errb.String())
	}
	return out.String() + errb.String()
}

// TestACREndToEnd: a registry made with `cobalt acr create` receives images
// with `cobalt acr import` (an OCI layout, an OCI archive, a docker save
// tarball), `cobalt acr login` leaves docker's config as az acr login does,
// and go-containerregistry pulls every image back through the exchange flow
// with the credentials docker's own config reader finds there. Deleting the
// resource group removes the registry's content.
func TestACREndToEnd(t *testing.T) {
	t.Parallel()
	s := servertest.Start(t, server.Options{Logger: slog.New(slog.DiscardHandler)})
	work := t.TempDir()
	env := map[string]string{"COBALT_DATA": s.DataDir(), "COBALT_CONFIG_DIR": filepath.Join(work, "cfg"),
		"DOCKER_CONFIG": filepath.Join(work, "docker"), "HOME": work}
	cliRun(t, env, 0, "login")
	cliRun(t, env, 0, "group", "create", "-n", "rg1")
	var reg struct {
		Properties struct{ LoginServer string } `json:"properties"`
	}
	if err := json.Unmarshal([]byte(cliRun(t, env, 0, "acr", "create", "-g", "rg1", "-n", "e2ereg1", "-o", "json")), &reg); err != nil {
		t.Fatal(err)
	}
	host := reg.Properties.LoginServer

	// Three sources, three images.
	imgs := map[string]v1.Image{}
	for _, tag := range []string{"layout", "archive", "docker"} {
		img, err := random.Image(2048, 2)
		if err != nil {
			t.Fatal(err)
		}
		imgs[tag] = img
	}
	layoutDir := filepath.Join(work, "oci")
	lp, err := layout.Write(layoutDir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(imgs["layout"]); err != nil {
		t.Fatal(err)
	}
	archiveDir := filepath.Join(work, "oci2")
	lp2, err := layout.Write(archiveDir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp2.AppendImage(imgs["archive"]); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(work, "oci.tar")
	tarDir(t, archiveDir, archive)
	dockerTar := filepath.Join(work, "docker.tar")
	if err := tarball.WriteToFile(dockerTar, name.MustParseReference("example.com/app:docker"), imgs["docker"]); err != nil {
		t.Fatal(err)
	}
	for tag, src := range map[string]string{"layout": layoutDir, "archive": archive, "docker": dockerTar} {
		out := cliRun(t, env, 0, "acr", "import", "-n", "e2ereg1", "--source", src, "--image", "app:"+tag, "-o", "tsv")
		want, _ := imgs[tag].Digest()
		if !strings.Contains(out, host+"/app:"+tag+"\t"+want.String()) {
			t.Fatalf("import %s printed %q, want digest %s", tag, out, want)
		}
	}
	cliRun(t, env, 1, "acr", "import", "-n", "e2ereg1", "--source", filepath.Join(work, "missing"), "--image", "app:x")

	// `acr login` writes docker's config entry; docker's config reader
	// finds the null-GUID user and the refresh token in it.
	if out := cliRun(t, env, 0, "acr", "login", "-n", "e2ereg1"); !strings.Contains(out, "Login Succeeded") {
		t.Fatalf("login printed %q", out)
	}
	raw, err := os.ReadFile(filepath.Join(work, "docker", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Auths map[string]map[string]string `json:"auths"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatal(err)
	}
	if e := file.Auths[host]; e["auth"] != base64.StdEncoding.EncodeToString([]byte(nullGUID+":")) || e["identitytoken"] == "" {
		t.Fatalf("docker config entry %v", e)
	}
	cf, err := config.LoadFromReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	ac, err := cf.GetAuthConfig(host)
	if err != nil || ac.Username != nullGUID || ac.IdentityToken == "" {
		t.Fatalf("docker reads %+v, %v", ac, err)
	}
	auth := authn.FromConfig(authn.AuthConfig{Username: ac.Username, Password: ac.Password, IdentityToken: ac.IdentityToken})
	transport := &http.Transport{TLSClientConfig: s.CA().ClientTLSConfig()}
	for tag, img := range imgs {
		ref, err := name.ParseReference(host + "/app:" + tag)
		if err != nil {
			t.Fatal(err)
		}
		got, err := remote.Image(ref, remote.WithAuth(auth), remote.WithTransport(transport))
		if err != nil {
			t.Fatalf("pull %s: %v", ref, err)
		}
		gd, _ := got.Digest()
		wd, _ := img.Digest()
		if gd != wd {
			t.Fatalf("pulled %s with digest %s, pushed %s", ref, gd, wd)
		}
		if err := validate.Image(got); err != nil {
			t.Fatalf("pulled %s: %v", ref, err)
		}
	}
	// Debian's skopeo reads the same entry (containers/image's auth file
	// support for identitytoken) and inspects an image with it.
	skopeoInspect(t, s.CA().CAFile(), filepath.Join(work, "docker", "config.json"), host+"/app:layout", imgs["layout"])

	// The login's other form prints the token instead, as az's --expose-token.
	var exposed map[string]string
	if err := json.Unmarshal([]byte(cliRun(t, env, 0, "acr", "login", "-n", "e2ereg1", "--expose-token", "-o", "json")), &exposed); err != nil || exposed["loginServer"] != host || exposed["accessToken"] == "" {
		t.Fatalf("--expose-token: %v %v", exposed, err)
	}

	// Deleting the group removes the registry, closes its listener and removes its content.
	contentDir := filepath.Join(s.DataDir(), "registries", "e2ereg1")
	if _, err := os.Stat(contentDir); err != nil {
		t.Fatalf("the registry's content is not where expected: %v", err)
	}
	cliRun(t, env, 0, "group", "delete", "-n", "rg1", "--yes")
	if _, err := os.Stat(contentDir); !os.IsNotExist(err) {
		t.Fatalf("the registry's content outlived its group: %v", err)
	}
	gone, _ := name.ParseReference(host + "/app:layout")
	if _, err := remote.Image(gone, remote.WithAuth(auth), remote.WithTransport(transport)); err == nil {
		t.Fatal("an image of the deleted registry could still be pulled")
	}
}

// skopeoInspect runs `skopeo inspect --authfile` on ref and checks the digest.
func skopeoInspect(t *testing.T, caFile, authFile, ref string, img v1.Image) {
	t.Helper()
	sk, err := exec.LookPath("skopeo")
	if err != nil {
		testenv.Unavailable(t, "skopeo (Debian package skopeo)")
	}
	dir := t.TempDir()
	ca, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), ca, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, sk, "inspect", "--authfile", authFile, "--cert-dir", dir, "--format", "{{.Digest}}", "docker://"+ref)
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_RUNTIME_DIR="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("skopeo inspect with the acr login entry: %v\n%s", err, out)
	}
	want, _ := img.Digest()
	if strings.TrimSpace(string(out)) != want.String() {
		t.Fatalf("skopeo inspect printed %q, want %s", out, want)
	}
}

// TestUntarRefusesEscapes: an OCI archive naming a path outside itself is refused.
func TestUntarRefusesEscapes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, bad := range []string{"../evil", "/abs/evil", "a/../../evil"} {
		file := filepath.Join(dir, "bad.tar")
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		_ = tw.WriteHeader(&tar.Header{Name: "oci-layout", Mode: 0o644, Size: 2, Typeflag: tar.TypeReg})
		_, _ = tw.Write([]byte("{}"))
		_ = tw.WriteHeader(&tar.Header{Name: bad, Mode: 0o644, Size: 1, Typeflag: tar.TypeReg})
		_, _ = tw.Write([]byte("x"))
		_ = tw.Close()
		if err := os.WriteFile(file, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "out-"+base64.RawURLEncoding.EncodeToString([]byte(bad)))
		if err := os.MkdirAll(out, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := untar(file, out); err == nil {
			t.Errorf("untar accepted %q", bad)
		}
		if _, err := os.Stat(filepath.Join(dir, "evil")); err == nil {
			t.Fatalf("%q was written outside the target", bad)
		}
	}
}

// TestWriteDockerAuthKeepsTheRest: the entry is added beside what the file holds.
func TestWriteDockerAuthKeepsTheRest(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(file, []byte(`{"auths":{"other.io":{"auth":"eDp5"}},"credHelpers":{"gcr.io":"gcloud"},"psFormat":"x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeDockerAuth(file, "127.0.0.1:5000", "tok"); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	b, _ := os.ReadFile(file)
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	auths := got["auths"].(map[string]any)
	if auths["other.io"].(map[string]any)["auth"] != "eDp5" || got["psFormat"] != "x" || got["credHelpers"].(map[string]any)["gcr.io"] != "gcloud" {
		t.Fatalf("other content lost: %s", b)
	}
	if e := auths["127.0.0.1:5000"].(map[string]any); e["identitytoken"] != "tok" {
		t.Fatalf("entry %v", e)
	}
	if st, _ := os.Stat(file); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
	if err := os.WriteFile(file, []byte(`{not json`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeDockerAuth(file, "h:1", "t"); err == nil {
		t.Fatal("a broken config was overwritten")
	}
}

// tarDir writes dir's files into a tar archive at file.
func tarDir(t *testing.T, dir, file string) {
	t.Helper()
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	err = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		h.Name = rel
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if info.IsDir() {
			return nil
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
