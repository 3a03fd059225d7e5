package registry

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/cobaltbatch/cobalt/internal/bodyreader"
)

// fileLayer is an uncompressed layer read from a file: the benchmark moves
// its bytes as they are, so that it measures the registry and not gzip.
type fileLayer struct {
	path string
	size int64
	hash v1.Hash
}

func (l *fileLayer) Digest() (v1.Hash, error)            { return l.hash, nil }
func (l *fileLayer) DiffID() (v1.Hash, error)            { return l.hash, nil }
func (l *fileLayer) Size() (int64, error)                { return l.size, nil }
func (l *fileLayer) MediaType() (types.MediaType, error) { return types.OCIUncompressedLayer, nil }
func (l *fileLayer) Compressed() (io.ReadCloser, error)  { return os.Open(l.path) }
func (l *fileLayer) Uncompressed() (io.ReadCloser, error) {
	return os.Open(l.path)
}

// BenchmarkPushPull200MiB pushes and pulls an image with one random 200 MiB
// layer through ggcr over TLS to an in-process registry (the whole token
// flow included), and copies the same file with cp(1) in the same run as
// the baseline. It reports MB/s of each, the ratios to cp and the process's
// CPU time (client and registry) per push and pull, with the uploads' early
// write-back on and off (alternate them with -count).
func BenchmarkPushPull200MiB(b *testing.B) {
	for _, c := range []struct {
		name string
		off  bool
	}{{"writeback", false}, {"nowriteback", true}} {
		b.Run(c.name, func(b *testing.B) {
			defer func(old bool) { writebackOff = old }(writebackOff)
			writebackOff = c.off
			benchPushPull(b)
		})
	}
}

func benchPushPull(b *testing.B) {
	const size = 200 << 20
	e := newEnv(b)
	reg := e.registry(b, "benchreg", true)
	dir := b.TempDir()
	src := filepath.Join(dir, "layer.bin")
	f, err := os.Create(src)
	if err != nil {
		b.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(newRand(7), size)); err != nil {
		b.Fatal(err)
	}
	f.Close()
	sum, _ := v1.NewHash("sha256:" + hex.EncodeToString(h.Sum(nil)))
	img, err := mutate.AppendLayers(empty.Image, &fileLayer{path: src, size: size, hash: sum})
	if err != nil {
		b.Fatal(err)
	}
	opts := e.ggcrOpts(&authn.Basic{Username: reg.Name, Password: reg.Passwords[0]})
	ref := mustRef(b, reg.LoginServer+"/bench/random:v1")
	var push, pull, cp, pushCPU, pullCPU time.Duration
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		if err := e.svc.DeleteRegistryContent(b.Context(), reg.Name); err != nil {
			b.Fatal(err)
		}
		dst := filepath.Join(dir, "copy.bin")
		os.Remove(dst)
		b.StartTimer()

		t0 := time.Now()
		if err := exec.Command("cp", src, dst).Run(); err != nil {
			b.Fatal(err)
		}
		cp += time.Since(t0)

		t0, cpu0 := time.Now(), processCPU()
		if err := remote.Write(ref, img, opts...); err != nil {
			b.Fatal(err)
		}
		push += time.Since(t0)
		pushCPU += processCPU() - cpu0

		t0, cpu0 = time.Now(), processCPU()
		pulled, err := remote.Image(ref, opts...)
		if err != nil {
			b.Fatal(err)
		}
		ls, err := pulled.Layers()
		if err != nil || len(ls) != 1 {
			b.Fatal(err)
		}
		rc, err := ls[0].Compressed()
		if err != nil {
			b.Fatal(err)
		}
		out, err := os.Create(filepath.Join(dir, "pulled.bin"))
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(out, rc) // ggcr checks the digest at EOF
		rc.Close()
		out.Close()
		if err != nil || n != size {
			b.Fatalf("pull: %d %v", n, err)
		}
		pull += time.Since(t0)
		pullCPU += processCPU() - cpu0
	}
	mbps := func(d time.Duration) float64 { return float64(size) * float64(b.N) / 1e6 / d.Seconds() }
	b.ReportMetric(mbps(cp), "cp-MB/s")
	b.ReportMetric(mbps(push), "push-MB/s")
	b.ReportMetric(mbps(pull), "pull-MB/s")
	b.ReportMetric(mbps(push)/mbps(cp), "push/cp")
	b.ReportMetric(mbps(pull)/mbps(cp), "pull/cp")
	// The CPU of both ends (one process), steadier than MB/s on a busy machine.
	b.ReportMetric(float64(pushCPU.Milliseconds())/float64(b.N), "push-cpu-ms/op")
	b.ReportMetric(float64(pullCPU.Milliseconds())/float64(b.N), "pull-cpu-ms/op")
}

// newRand is a fast deterministic random stream.
func newRand(seed uint64) io.Reader { return &chachaReader{seed: seed} }

type chachaReader struct {
	seed uint64
	r    io.Reader
}

func (c *chachaReader) Read(p []byte) (int, error) {
	if c.r == nil {
		c.r = chachaStream(c.seed)
	}
	return c.r.Read(p)
}

// BenchmarkWriteStream200MiB is the push's store path alone: a 200 MiB
// blob from memory written, hashed and fsynced by writeStream, with early
// write-back on and off, and with the hash pipelined on a goroutine of its
// own or not (alternate them with -count): the write-back difference is the
// part of the final fsync that write-back overlapped with the writes, the
// pipeline's the SHA-256 overlapped with the writes. It reports the
// process's CPU time per blob beside the wall time.
func BenchmarkWriteStream200MiB(b *testing.B) {
	const size = 200 << 20
	data, err := io.ReadAll(io.LimitReader(newRand(3), size))
	if err != nil {
		b.Fatal(err)
	}
	st := &store{dir: b.TempDir()}
	for _, c := range []struct {
		name         string
		off, pipeOff bool
	}{{"writeback-pipe", false, false}, {"writeback-serial", false, true}, {"nowriteback-pipe", true, false}} {
		b.Run(c.name, func(b *testing.B) {
			defer func(old, oldPipe bool) { writebackOff, hashPipeOff = old, oldPipe }(writebackOff, hashPipeOff)
			writebackOff, hashPipeOff = c.off, c.pipeOff
			b.SetBytes(size)
			cpu0 := processCPU()
			for b.Loop() {
				tmp, _, _, err := st.writeStream(bytes.NewReader(data), -1)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				os.Remove(tmp)
				b.StartTimer()
			}
			b.ReportMetric(float64((processCPU()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
		})
	}
}

// processCPU is the test process's user and system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCopyHashed200MiB is the upload's copy alone, without the disk:
// 200 MiB in 16 KiB reads (a TLS body's records) written to a file under
// /dev/shm and hashed, with the hash on a goroutine of its own ("pipe") or
// on the copying one ("serial"); alternate them with -count. It reports the
// process's CPU time per copy beside the wall time.
func BenchmarkCopyHashed200MiB(b *testing.B) {
	const size = 200 << 20
	data, err := io.ReadAll(io.LimitReader(newRand(5), size))
	if err != nil {
		b.Fatal(err)
	}
	dir, err := os.MkdirTemp("/dev/shm", "copyhashed-")
	if err != nil {
		b.Skip("no /dev/shm:", err)
	}
	defer os.RemoveAll(dir)
	for _, c := range []struct {
		name    string
		pipeOff bool
	}{{"pipe", false}, {"serial", true}} {
		b.Run(c.name, func(b *testing.B) {
			defer func(old bool) { hashPipeOff = old }(hashPipeOff)
			hashPipeOff = c.pipeOff
			b.SetBytes(size)
			var cpu time.Duration
			for b.Loop() {
				f, err := os.Create(filepath.Join(dir, "data"))
				if err != nil {
					b.Fatal(err)
				}
				cpu0 := processCPU()
				if _, err := copyHashed(f, sha256.New(), &bodyreader.Records{B: data}, -1); err != nil {
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
