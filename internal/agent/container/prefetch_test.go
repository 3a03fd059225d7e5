package container

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/cobaltbatch/cobalt/internal/agent/container/containertest"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"

	"github.com/cobaltbatch/cobalt/internal/bodyreader"
)

// tarLayer is a gzipped layer of regular files (name → content; an empty
// content with a ".wh." name is a whiteout).
func tarLayer(t *testing.T, files ...string) v1.Layer {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for i := 0; i < len(files); i += 2 {
		if err := tw.WriteHeader(&tar.Header{Name: files[i], Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(files[i+1]))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(files[i+1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	data := b.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// layeredImage is the busybox image with five more layers: files replaced
// and deleted by upper layers, so that the unpack's order matters.
func layeredImage(t *testing.T, base v1.Image) (v1.Image, []v1.Layer) {
	ls := []v1.Layer{
		tarLayer(t, "etc/a", "a1", "etc/b", "b1", "etc/gone", "x"),
		tarLayer(t, "etc/b", "b2", "etc/.wh.gone", ""),
		tarLayer(t, "etc/c", strings.Repeat("c", 3<<20)),
		tarLayer(t, "etc/a", "a4"),
		tarLayer(t, "etc/d", "d5"),
	}
	img, err := mutate.AppendLayers(base, ls...)
	if err != nil {
		t.Fatal(err)
	}
	return img, ls
}

// TestPullLayersConcurrently: an image of several layers is fetched a few
// layers at a time and unpacked with every upper layer winning, and no
// fetched layer file stays behind.
func TestPullLayersConcurrently(t *testing.T) {
	f := newFixture(t)
	img, _ := layeredImage(t, containertest.Busybox(t))
	ref := f.reg.Push(t, f.tr, "tasks/layered:v1", img)
	f.reg.AddUser("bob", "secret")
	p := &Puller{Dir: t.TempDir(), Transport: f.tr}
	got, err := p.Pull(context.Background(), ref, &nodeproto.ContainerRegistry{Server: f.reg.Host, Username: "bob", Password: "secret"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"etc/a": "a4", "etc/b": "b2", "etc/d": "d5", "etc/image-marker": "from the image\n"} {
		if b, err := os.ReadFile(filepath.Join(got.RootFS, name)); err != nil || string(b) != want {
			t.Fatalf("%s: %q %v, want %q", name, b, err, want)
		}
	}
	if fi, err := os.Stat(filepath.Join(got.RootFS, "etc/c")); err != nil || fi.Size() != 3<<20 {
		t.Fatalf("etc/c: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(got.RootFS, "etc/gone")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a whited-out file is there: %v", err)
	}
	assertOnly(t, p.Dir, filepath.Base(filepath.Dir(got.RootFS)))
	if _, err := os.Stat(filepath.Join(filepath.Dir(got.RootFS), "layers")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the fetched layers stayed: %v", err)
	}
}

// TestPullLayerTampered: a layer whose bytes differ from its digest fails
// the pull, whichever of the concurrent fetches meets it, and leaves
// nothing unpacked. (Before, a layer whose gzip broke part-way left the
// image unpacked up to there and the pull succeeded: ggcr's Extract ends
// its stream with a well-formed end of archive before its error.)
func TestPullLayerTampered(t *testing.T) {
	f := newFixture(t)
	img, ls := layeredImage(t, containertest.Busybox(t))
	ref := f.reg.Push(t, f.tr, "tasks/layered:v1", img)
	f.reg.AddUser("bob", "secret")
	for _, i := range []int{0, 2, 4} {
		d, _ := ls[i].Digest()
		p := &Puller{Dir: t.TempDir(), Transport: tamper{f.tr, d.String()}}
		_, err := p.Pull(context.Background(), ref, &nodeproto.ContainerRegistry{Server: f.reg.Host, Username: "bob", Password: "secret"}, nil)
		var pe *PullError
		if !errors.As(err, &pe) {
			t.Fatalf("layer %d tampered: %v", i, err)
		}
		assertOnly(t, p.Dir)
	}
	// The same for a one-layer image.
	bb := containertest.Busybox(t)
	ls1, _ := bb.Layers()
	d, _ := ls1[0].Digest()
	p := &Puller{Dir: t.TempDir(), Transport: tamper{f.tr, d.String()}}
	if _, err := p.Pull(context.Background(), f.ref, &nodeproto.ContainerRegistry{Server: f.reg.Host, Username: "bob", Password: "secret"}, nil); err == nil {
		t.Fatal("one layer tampered: pulled")
	}
	assertOnly(t, p.Dir)
}

// assertOnly fails unless dir holds exactly names.
func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Fatalf("%s holds %v, want %v", dir, got, names)
	}
}

// tamper flips one byte of the blob with digest d in every response.
type tamper struct {
	rt http.RoundTripper
	d  string
}

func (tr tamper) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := tr.rt.RoundTrip(r)
	if err != nil || !strings.HasSuffix(r.URL.Path, "/blobs/"+tr.d) || r.Method != http.MethodGet {
		return resp, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	b[len(b)/2] ^= 1
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

// TestPullLayersTooLarge: layers larger together than the image may unpack
// to are refused before any is fetched.
func TestPullLayersTooLarge(t *testing.T) {
	f := newFixture(t)
	img, _ := layeredImage(t, containertest.Busybox(t))
	ref := f.reg.Push(t, f.tr, "tasks/layered:v1", img)
	f.reg.AddUser("bob", "secret")
	p := &Puller{Dir: t.TempDir(), Transport: f.tr, Limits: UntarLimits{MaxBytes: 1 << 20}}
	before := f.reg.Requests("/v2/")
	if _, err := p.Pull(context.Background(), ref, &nodeproto.ContainerRegistry{Server: f.reg.Host, Username: "bob", Password: "secret"}, nil); !errors.Is(err, errLayersTooLarge) {
		t.Fatalf("pulled: %v", err)
	}
	assertOnly(t, p.Dir)
	// The manifest and the config only (each after its 401 challenge).
	if n := f.reg.Requests("/v2/") - before; n > 6 {
		t.Fatalf("%d registry requests: layers were fetched", n)
	}
}

// countingWriter keeps what it is given and counts its writes.
type countingWriter struct {
	bytes.Buffer
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}

// TestCopyFilled: every byte arrives in order, in full-buffer writes but
// the last; a reader's error (a digest mismatch at EOF, a body cut short)
// comes back after the bytes before it are written, never as success.
func TestCopyFilled(t *testing.T) {
	data := make([]byte, 5<<20+12345)
	for i := range data {
		data[i] = byte(i*31 + i>>9)
	}
	for _, size := range []int{0, 1, 1 << 20, 1<<20 + 1, len(data)} {
		var w countingWriter
		n, err := copyFilled(&w, &bodyreader.Odd{B: data[:size]}, make([]byte, 1<<20))
		if err != nil || n != int64(size) || !bytes.Equal(w.Bytes(), data[:size]) {
			t.Fatalf("size %d: n %d, err %v, content equal %v", size, n, err, bytes.Equal(w.Bytes(), data[:size]))
		}
		if want := (size + 1<<20 - 1) >> 20; w.writes != want {
			t.Errorf("size %d: %d writes, want %d", size, w.writes, want)
		}
	}
	for _, cause := range []error{errors.New("digest mismatch"), io.ErrUnexpectedEOF} {
		var w countingWriter
		n, err := copyFilled(&w, &bodyreader.Odd{B: data[:3<<19], Err: cause}, make([]byte, 1<<20))
		if !errors.Is(err, cause) || n != 3<<19 || !bytes.Equal(w.Bytes(), data[:3<<19]) {
			t.Fatalf("%v: n %d, err %v", cause, n, err)
		}
	}
}

// BenchmarkFetchCopy200MiB is a layer fetch's copy alone: 200 MiB in 16 KiB
// reads (a TLS body's records) into a new file, with copyFilled ("filled")
// or a write per read as io.CopyBuffer into an *os.File does ("per-read");
// alternate them with -count. It reports the process's CPU per copy.
func BenchmarkFetchCopy200MiB(b *testing.B) {
	const size = 200 << 20
	data := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	dir := b.TempDir()
	for _, c := range []struct {
		name string
		copy func(io.Writer, io.Reader, []byte) (int64, error)
	}{{"filled", copyFilled}, {"per-read", func(w io.Writer, r io.Reader, buf []byte) (int64, error) {
		return io.CopyBuffer(w, r, buf)
	}}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(size)
			var cpu time.Duration
			for b.Loop() {
				f, err := os.Create(filepath.Join(dir, "layer"))
				if err != nil {
					b.Fatal(err)
				}
				cpu0 := processCPU()
				if _, err := c.copy(f, &bodyreader.Records{B: data}, make([]byte, 1<<20)); err != nil {
					b.Fatal(err)
				}
				cpu += processCPU() - cpu0
				b.StopTimer()
				f.Close()
				os.Remove(f.Name())
				b.StartTimer()
			}
			b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
		})
	}
}

// processCPU is the test process's user and system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
