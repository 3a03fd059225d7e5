package blob

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
)

// TestGarbageCollection checks that collect expires old uncommitted blocks
// (with their files), and removes old temporary files and unreferenced data
// files while keeping referenced and recent ones.
func TestGarbageCollection(t *testing.T) {
	t.Parallel()
	// The server's clock runs two hours behind while the old block is staged;
	// that request is signed with the server's time, as SharedKey requires.
	var offset atomic.Int64
	e := newEnv(t, func(c *Config) {
		c.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
		c.BlockRetention = time.Hour
	})
	ctx := context.Background()
	c := e.sharedKeyClient(t)
	if _, err := c.CreateContainer(ctx, "gcc", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UploadBuffer(ctx, "gcc", "kept.txt", []byte("kept"), nil); err != nil {
		t.Fatal(err)
	}
	bb := c.ServiceClient().NewContainerClient("gcc").NewBlockBlobClient("staged")
	old := base64.StdEncoding.EncodeToString([]byte("old-0"))
	offset.Store(int64(-2 * time.Hour))
	stale := e.svc.now().UTC().Format(http.TimeFormat)
	if r := e.do(t, http.MethodPut, "/acct1/gcc/staged?comp=block&blockid="+urlQueryEscape(old),
		map[string]string{"x-ms-date": stale}, strings.NewReader("old block"), 9, true); r.status != 201 {
		t.Fatalf("stage old block: %+v", r)
	}
	offset.Store(0)
	fresh := base64.StdEncoding.EncodeToString([]byte("new-0"))
	if _, err := bb.StageBlock(ctx, fresh, nopCloser{bytes.NewReader([]byte("new block"))}, nil); err != nil {
		t.Fatal(err)
	}
	// Orphans: an old temporary file, an old unreferenced data file, and a recent one.
	root := filepath.Join(e.dataDir, "blobs")
	longAgo := time.Now().Add(-3 * time.Hour)
	mk := func(p string, mtime time.Time) {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("orphan"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	oldTmp := filepath.Join(root, "tmp", "up-crashed")
	oldOrphan := filepath.Join(root, "data", "ab", "ab000000000000000000000000000000")
	newOrphan := filepath.Join(root, "data", "cd", "cd000000000000000000000000000000")
	mk(oldTmp, longAgo)
	mk(oldOrphan, longAgo)
	mk(newOrphan, time.Now())
	before := countDataFiles(t, e.dataDir) // kept.txt, 2 blocks, 2 orphans
	if before != 5 {
		t.Fatalf("%d data files before collection", before)
	}
	// Make every real data file old too: only references must keep them.
	filepath.Walk(filepath.Join(root, "data"), func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && p != newOrphan {
			os.Chtimes(p, longAgo, longAgo)
		}
		return nil
	})
	if err := e.svc.collect(ctx, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{oldTmp, oldOrphan} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s survived collection", filepath.Base(p))
		}
	}
	if _, err := os.Stat(newOrphan); err != nil {
		t.Errorf("a recent file was collected: %v", err)
	}
	if n := countDataFiles(t, e.dataDir); n != 3 { // kept.txt, the fresh block, the recent orphan
		t.Fatalf("%d data files after collection, want 3", n)
	}
	bl, err := bb.GetBlockList(ctx, blockblob.BlockListTypeUncommitted, nil)
	if err != nil || len(bl.UncommittedBlocks) != 1 || *bl.UncommittedBlocks[0].Name != fresh {
		t.Fatalf("uncommitted after expiry: %+v %v", bl.UncommittedBlocks, err)
	}
	buf := make([]byte, 4)
	if _, err := c.DownloadBuffer(ctx, "gcc", "kept.txt", buf, nil); err != nil || string(buf) != "kept" {
		t.Fatalf("kept blob: %q %v", buf, err)
	}
}

// TestReadDuringOverwrite checks that a download that started before an
// overwrite (and a delete) returns the old content in full.
func TestReadDuringOverwrite(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	c := e.sharedKeyClient(t)
	if _, err := c.CreateContainer(ctx, "race", nil); err != nil {
		t.Fatal(err)
	}
	const size = 8 << 20
	oldData, _ := io.ReadAll(detReader(3, size))
	// Eight extents: later ones are opened only after the overwrite and delete.
	if _, err := c.UploadStream(ctx, "race", "b", bytes.NewReader(oldData), &azblob.UploadStreamOptions{BlockSize: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	resp, err := c.DownloadStream(ctx, "race", "b", nil)
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 1000)
	if _, err := io.ReadFull(resp.Body, head); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UploadBuffer(ctx, "race", "b", []byte("new"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteBlob(ctx, "race", "b", nil); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !bytes.Equal(append(head, rest...), oldData) {
		t.Fatalf("read across overwrite: %d bytes, %v", len(head)+len(rest), err)
	}
	// Once the reader is done, the old file is gone too.
	waitFor(t, func() bool { return countDataFiles(t, e.dataDir) == 0 })
}
