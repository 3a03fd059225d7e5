package blob

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/blob/blobtest"
)

func TestSDKSharedKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	blobtest.Exercise(t, e.sharedKeyClient(t), "sharedkey")
	// Every data file was released with the container.
	waitNoDataFiles(t, e)
}

// waitNoDataFiles fails if data files remain under the data dir.
func waitNoDataFiles(t *testing.T, e *env) {
	t.Helper()
	n := countDataFiles(t, e.dataDir)
	if n != 0 {
		t.Fatalf("%d data files left after the container was deleted", n)
	}
}

func countDataFiles(t testing.TB, dir string) int {
	n := 0
	root := dir + "/blobs/data"
	ents, _ := os.ReadDir(root)
	for _, d := range ents {
		fs, _ := os.ReadDir(root + "/" + d.Name())
		n += len(fs)
	}
	return n
}

// TestSDKLargeUpload uploads and downloads a 300 MiB blob in blocks with
// UploadFile/DownloadFile and compares SHA-256.
func TestSDKLargeUpload(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("large upload in -short mode")
	}
	e := newEnv(t)
	c := e.sharedKeyClient(t)
	if _, err := c.CreateContainer(context.Background(), "large", nil); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	blobtest.LargeRoundTrip(t, c, "large", "big/blob.bin", 300<<20)
	t.Logf("300 MiB up and down in %v", time.Since(start))
}
