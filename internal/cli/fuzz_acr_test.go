package cli

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzUntar: `acr import` reads archives it is given; whatever they hold,
// reading one never panics and never writes outside the target directory.
func FuzzUntar(f *testing.F) {
	f.Add([]byte{})
	for _, names := range [][]string{{"oci-layout", "index.json", "blobs/sha256/ab"}, {"oci-layout", "../x"}, {"./oci-layout", "d/", "d/f"}} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, n := range names {
			typ := byte(tar.TypeReg)
			if strings.HasSuffix(n, "/") {
				typ = tar.TypeDir
			}
			_ = tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: 1, Typeflag: typ})
			if typ == tar.TypeReg {
				_, _ = tw.Write([]byte("x"))
			}
		}
		_ = tw.Close()
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		root := t.TempDir()
		file := filepath.Join(root, "in.tar")
		if err := os.WriteFile(file, b, 0o600); err != nil {
			t.Fatal(err)
		}
		_, _ = tarHasOCILayout(file)
		out := filepath.Join(root, "out")
		if err := os.Mkdir(out, 0o700); err != nil {
			t.Fatal(err)
		}
		_ = untar(file, out)
		entries, err := os.ReadDir(root)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Name() != "in.tar" && e.Name() != "out" {
				t.Fatalf("untar wrote %s outside its target", e.Name())
			}
		}
		_ = filepath.Walk(out, func(p string, _ os.FileInfo, _ error) error {
			if !strings.HasPrefix(p, out) {
				t.Fatalf("path %s outside the target", p)
			}
			return nil
		})
	})
}
