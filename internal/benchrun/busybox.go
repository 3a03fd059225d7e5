package benchrun

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// busyboxApplets are the applets the image links to /bin/busybox.
var busyboxApplets = []string{"sh", "true", "false", "echo", "cat", "env", "sleep"}

// busyboxImage builds a one-layer linux image of a static busybox
// (Debian's busybox-static at path): /bin/busybox, a symlink per applet,
// /etc/passwd, /tmp, /proc, /sys, /dev; PATH=/bin. Nothing is downloaded.
func busyboxImage(path string) (v1.Image, error) {
	bb, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("a static busybox for the container image (Debian package busybox-static): %w", err)
	}
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	add := func(h *tar.Header, body []byte) error {
		h.Size = int64(len(body))
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(body)
		return err
	}
	var errs []error
	for _, d := range []string{"bin", "etc", "tmp", "proc", "sys", "dev"} {
		mode := int64(0o755)
		if d == "tmp" {
			mode = 0o1777
		}
		errs = append(errs, add(&tar.Header{Name: d + "/", Typeflag: tar.TypeDir, Mode: mode}, nil))
	}
	errs = append(errs, add(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755}, bb))
	for _, a := range busyboxApplets {
		errs = append(errs, add(&tar.Header{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777}, nil))
	}
	errs = append(errs, add(&tar.Header{Name: "etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644}, []byte("root:x:0:0:root:/root:/bin/sh\n")))
	errs = append(errs, tw.Close())
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	data := b.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Config.Env = []string{"PATH=/bin"}
	cf.Config.Cmd = []string{"sh"}
	return mutate.ConfigFile(img, cf)
}
