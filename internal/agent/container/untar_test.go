package container

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type entry struct {
	name, link, body string
	typ              byte
	mode             int64
}

func tarOf(t testing.TB, es ...entry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range es {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode, Size: int64(len(e.body))}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// dirs returns a fresh root and, beside it, a directory that must stay empty.
func dirs(t testing.TB) (root, outside string) {
	base := t.TempDir()
	root, outside = filepath.Join(base, "root"), filepath.Join(base, "outside")
	for _, d := range []string{root, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root, outside
}

func assertEmpty(t testing.TB, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) != 0 {
		t.Fatalf("%s was written to: %v %v", dir, ents, err)
	}
}

func TestUntarEscapes(t *testing.T) {
	root, outside := dirs(t)
	rel, _ := filepath.Rel(root, outside)
	err := Untar(bytes.NewReader(tarOf(t,
		entry{name: "../../" + rel + "/dotdot", typ: tar.TypeReg, body: "1"},
		entry{name: "/" + outside + "/abs", typ: tar.TypeReg, body: "2"},
		entry{name: "up", typ: tar.TypeSymlink, link: "../" + rel},
		entry{name: "up/through-relative-link", typ: tar.TypeReg, body: "3"},
		entry{name: "abs", typ: tar.TypeSymlink, link: outside},
		entry{name: "abs/through-absolute-link", typ: tar.TypeReg, body: "4"},
		entry{name: "rootlink", typ: tar.TypeSymlink, link: "/"},
		entry{name: "rootlink/../../" + rel + "/through-root-link", typ: tar.TypeReg, body: "5"},
		entry{name: "victim", typ: tar.TypeSymlink, link: outside + "/victim"},
		entry{name: "victim", typ: tar.TypeReg, body: "6"},
		entry{name: "dev/null2", typ: tar.TypeChar},
		entry{name: "fifo", typ: tar.TypeFifo, mode: 0o600},
		entry{name: "bin/busybox", typ: tar.TypeReg, body: "bb", mode: 0o755},
		entry{name: "bin/hard", typ: tar.TypeLink, link: "/bin/busybox"},
		entry{name: "setuid", typ: tar.TypeReg, body: "x", mode: 0o4755},
	)), root, UntarLimits{})
	if err != nil {
		t.Fatal(err)
	}
	assertEmpty(t, outside)
	for name, want := range map[string]string{"outside/dotdot": "1", "victim": "6", "bin/hard": "bb"} {
		if b, err := os.ReadFile(filepath.Join(root, name)); err != nil || string(b) != want {
			t.Errorf("%s = %q %v, want %q", name, b, err, want)
		}
	}
	// Writes through links went where the link leads inside the root.
	for _, p := range []string{outside + "/abs", outside + "/through-absolute-link", "outside/through-root-link", "outside/through-relative-link"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("%s not unpacked inside the root: %v", p, err)
		}
	}
	if fi, err := os.Lstat(filepath.Join(root, "victim")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("victim is not a regular file: %v %v", fi, err)
	}
	if _, err := os.Lstat(filepath.Join(root, "dev/null2")); !os.IsNotExist(err) {
		t.Errorf("a device node was made: %v", err)
	}
	if fi, err := os.Lstat(filepath.Join(root, "fifo")); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("fifo: %v %v", fi, err)
	}
	if fi, err := os.Stat(filepath.Join(root, "bin/busybox")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("bin/busybox mode: %v %v", fi, err)
	}
}

func TestUntarHardLinkOutOfRoot(t *testing.T) {
	root, outside := dirs(t)
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("host"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, es := range [][]entry{
		{{name: "h", typ: tar.TypeLink, link: secret}},
		{{name: "l", typ: tar.TypeSymlink, link: outside}, {name: "h", typ: tar.TypeLink, link: "l/secret"}},
		{{name: "d", typ: tar.TypeDir, mode: 0o755}, {name: "h", typ: tar.TypeLink, link: "d"}},
	} {
		if err := Untar(bytes.NewReader(tarOf(t, es...)), root, UntarLimits{}); err == nil {
			t.Errorf("%+v: unpacked", es)
		}
		if b, err := os.ReadFile(filepath.Join(root, "h")); err == nil && string(b) == "host" {
			t.Fatalf("%+v: a host file was linked into the root", es)
		}
	}
}

func TestUntarLimits(t *testing.T) {
	root, _ := dirs(t)
	big := tarOf(t, entry{name: "a", typ: tar.TypeReg, body: strings.Repeat("x", 100)}, entry{name: "b", typ: tar.TypeReg, body: "y"})
	if err := Untar(bytes.NewReader(big), root, UntarLimits{MaxBytes: 50}); err == nil {
		t.Error("MaxBytes not enforced")
	}
	if err := Untar(bytes.NewReader(big), root, UntarLimits{MaxEntries: 1}); err == nil {
		t.Error("MaxEntries not enforced")
	}
}

func TestEntryPath(t *testing.T) {
	for in, want := range map[string]string{"a/b": "a/b", "./a": "a", "/a": "a", "../../a": "a", "a/../../b": "b", ".": "", "/": "", "a/": "a"} {
		if got, err := EntryPath(in); err != nil || got != want {
			t.Errorf("EntryPath(%q) = %q %v, want %q", in, got, err, want)
		}
	}
	if _, err := EntryPath("a\x00b"); err == nil {
		t.Error("NUL accepted")
	}
}

func FuzzEntryPath(f *testing.F) {
	for _, s := range []string{"a/b", "../x", "/abs", "a/../../..", "./.", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		p, err := EntryPath(name)
		if err != nil {
			return
		}
		if p != "" && !filepath.IsLocal(p) {
			t.Fatalf("EntryPath(%q) = %q, not local", name, p)
		}
	})
}

// FuzzUntar unpacks arbitrary archives: whatever they hold, nothing is
// written beside the root.
func FuzzUntar(f *testing.F) {
	f.Add(tarOf(f, entry{name: "l", typ: tar.TypeSymlink, link: "../outside"}, entry{name: "l/x", typ: tar.TypeReg, body: "x"}))
	f.Add(tarOf(f, entry{name: "../outside/x", typ: tar.TypeReg, body: "x"}, entry{name: "h", typ: tar.TypeLink, link: "../outside/x"}))
	f.Add(tarOf(f, entry{name: "d", typ: tar.TypeDir}, entry{name: "d", typ: tar.TypeSymlink, link: "/"}, entry{name: "d/../x", typ: tar.TypeFifo}))
	f.Fuzz(func(t *testing.T, b []byte) {
		root, outside := dirs(t)
		_ = Untar(bytes.NewReader(b), root, UntarLimits{MaxBytes: 1 << 20, MaxEntries: 1000})
		assertEmpty(t, outside)
	})
}
