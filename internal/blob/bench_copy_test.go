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

// BenchmarkCopyBlob copies a 256 MiB blob server-side with Copy Blob From
// URL (the bytes go from data file to data file, fsynced) and with Put Blob
// From URL (which also computes the MD5), and reports MB/s with, as the baseline measured in the same run, `cp` of the same file on
// the same disk.
// Run: go test ./internal/blob -run '^$' -bench CopyBlob -benchtime 3x
func BenchmarkCopyBlob(b *testing.B) {
	const size = 256 << 20
	e := newEnv(b)
	c := e.sharedKeyClient(b)
	ctx := context.Background()
	if _, err := c.CreateContainer(ctx, "bench", nil); err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	src, _ := blobtest.WriteFile(b, dir, 9, size)
	f, err := os.Open(src)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.UploadFile(ctx, "bench", "src.bin", f, &azblob.UploadFileOptions{BlockSize: 16 << 20, Concurrency: 4}); err != nil {
		b.Fatal(err)
	}
	f.Close()
	dst := c.ServiceClient().NewContainerClient("bench").NewBlobClient("dst.bin")
	b.ResetTimer()
	bb := c.ServiceClient().NewContainerClient("bench").NewBlockBlobClient("fromurl.bin")
	var cp, copyD, fromURL time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if out, err := exec.Command("sh", "-c", "cp \"$0\" \"$1\" && sync \"$1\"", src, filepath.Join(dir, "copy.bin")).CombinedOutput(); err != nil {
			b.Fatalf("cp: %v %s", err, out)
		}
		cp += time.Since(start)
		os.Remove(filepath.Join(dir, "copy.bin"))
		start = time.Now()
		if _, err := dst.CopyFromURL(ctx, e.AccountURL+"/bench/src.bin", nil); err != nil {
			b.Fatal(err)
		}
		copyD += time.Since(start)
		start = time.Now()
		if _, err := bb.UploadBlobFromURL(ctx, e.AccountURL+"/bench/src.bin", nil); err != nil {
			b.Fatal(err)
		}
		fromURL += time.Since(start)
	}
	b.StopTimer()
	mbps := func(d time.Duration) float64 { return float64(size) * float64(b.N) / d.Seconds() / 1e6 }
	b.ReportMetric(mbps(copyD), "copy-MB/s")
	b.ReportMetric(mbps(fromURL), "putblobfromurl-MB/s")
	b.ReportMetric(mbps(cp), "cp+sync-MB/s")
	b.ReportMetric(0, "ns/op")
}
