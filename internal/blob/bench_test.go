package blob

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/cobaltbatch/cobalt/internal/blob/blobtest"
)

// BenchmarkBlobThroughput uploads and downloads a 1 GiB blob over TLS with
// the official Go SDK (blocks, keep-alive) against a blob server in a child
// process, and reports MB/s each way, the server's peak RSS, and, as the
// baseline measured in the same run, `cp` of the same file on the same disk.
// Run: go test ./internal/blob -run '^$' -bench BlobThroughput -benchtime 1x
func BenchmarkBlobThroughput(b *testing.B) {
	size := int64(1 << 30)
	if v := os.Getenv("COBALT_BLOB_BENCH_MIB"); v != "" {
		var mib int64
		for _, c := range v {
			mib = mib*10 + int64(c-'0')
		}
		size = mib << 20
	}
	dir := b.TempDir()
	srv := startChild(b, filepath.Join(dir, "server"))
	e := srv.env(b)
	c := e.sharedKeyClient(b)
	ctx := context.Background()
	if _, err := c.CreateContainer(ctx, "bench", nil); err != nil {
		b.Fatal(err)
	}
	src, want := blobtest.WriteFile(b, dir, 5, size)
	b.ResetTimer()
	var up, down, cp time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if out, err := exec.Command("cp", src, filepath.Join(dir, "copy.bin")).CombinedOutput(); err != nil {
			b.Fatalf("cp: %v %s", err, out)
		}
		cp += time.Since(start)
		os.Remove(filepath.Join(dir, "copy.bin"))

		f, err := os.Open(src)
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		if _, err := c.UploadFile(ctx, "bench", "big.bin", f, &azblob.UploadFileOptions{BlockSize: 16 << 20, Concurrency: 8}); err != nil {
			b.Fatal(err)
		}
		up += time.Since(start)
		f.Close()

		out, err := os.Create(filepath.Join(dir, "down.bin"))
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		if n, err := c.DownloadFile(ctx, "bench", "big.bin", out, &azblob.DownloadFileOptions{BlockSize: 16 << 20, Concurrency: 4}); err != nil || n != size {
			b.Fatalf("download: %d %v", n, err)
		}
		down += time.Since(start)
		b.StopTimer()
		if _, err := out.Seek(0, 0); err != nil {
			b.Fatal(err)
		}
		if sha256Of(b, out) != want {
			b.Fatal("downloaded blob differs")
		}
		out.Close()
		os.Remove(filepath.Join(dir, "down.bin"))
		b.StartTimer()
	}
	b.StopTimer()
	rss, err := srv.peakRSS()
	if err != nil {
		b.Fatal(err)
	}
	mbps := func(d time.Duration) float64 { return float64(size) * float64(b.N) / d.Seconds() / 1e6 }
	b.ReportMetric(mbps(up), "upload-MB/s")
	b.ReportMetric(mbps(down), "download-MB/s")
	b.ReportMetric(mbps(cp), "cp-MB/s")
	b.ReportMetric(float64(rss)/(1<<20), "server-peak-RSS-MiB")
	b.ReportMetric(0, "ns/op")
	b.Logf("%d MiB over TLS: upload %.0f MB/s, download %.0f MB/s; cp %.0f MB/s; server peak RSS %.1f MiB",
		size>>20, mbps(up), mbps(down), mbps(cp), float64(rss)/(1<<20))
}
