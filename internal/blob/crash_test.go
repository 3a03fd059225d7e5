package blob

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
)

// TestCrashMidUpload kills the server (SIGKILL) during a Put Blob, a Put
// Block and an Append Block, restarts it on the same directory and store, and checks that no
// partial blob is visible, committed blobs and staged blocks are intact, and
// the abandoned temporary files are collected.
func TestCrashMidUpload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	srv := startChild(t, dir)
	e := srv.env(t)
	c := e.sharedKeyClient(t)
	if _, err := c.CreateContainer(ctx, "crash", nil); err != nil {
		t.Fatal(err)
	}
	const goodSize = 3<<20 + 7
	if _, err := c.UploadStream(ctx, "crash", "good.bin", detReader(1, goodSize), &azblob.UploadStreamOptions{BlockSize: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UploadBuffer(ctx, "crash", "small.txt", []byte("small"), nil); err != nil {
		t.Fatal(err)
	}
	bb := c.ServiceClient().NewContainerClient("crash").NewBlockBlobClient("staged.bin")
	ids := []string{base64.StdEncoding.EncodeToString([]byte("block-0")), base64.StdEncoding.EncodeToString([]byte("block-1"))}
	for i, id := range ids {
		if _, err := bb.StageBlock(ctx, id, nopCloser{bytes.NewReader(bytes.Repeat([]byte{byte('a' + i)}, 1000))}, nil); err != nil {
			t.Fatal(err)
		}
	}

	ab := c.ServiceClient().NewContainerClient("crash").NewAppendBlobClient("log.txt")
	if _, err := ab.Create(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ab.AppendBlock(ctx, nopCloser{bytes.NewReader([]byte("abc"))}, nil); err != nil {
		t.Fatal(err)
	}

	// Signed raw requests whose bodies stall part-way.
	hc := e.httpClient()
	put := func(url string, length int64, hdr map[string]string) *http.Request {
		req, _ := http.NewRequest(http.MethodPut, url, nil)
		req.ContentLength = length
		req.Header.Set("x-ms-version", "2026-12-06")
		req.Header.Set("x-ms-date", time.Now().UTC().Format(http.TimeFormat))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		signRequest(req, testAccount, testKey1)
		return req
	}
	startPartialPut(t, hc, put(e.AccountURL+"/crash/partial.bin", 64<<20, map[string]string{"x-ms-blob-type": "BlockBlob"}), 8<<20)
	blockURL := e.AccountURL + "/crash/staged.bin?comp=block&blockid=" + urlQueryEscape(base64.StdEncoding.EncodeToString([]byte("block-2")))
	startPartialPut(t, hc, put(blockURL, 32<<20, nil), 4<<20)
	startPartialPut(t, hc, put(e.AccountURL+"/crash/log.txt?comp=appendblock", 32<<20, nil), 4<<20)
	// Wait until the three writes are under way on the server's disk.
	waitFor(t, func() bool { return tmpBytes(dir) >= 13<<20 })
	srv.kill()
	if tmpBytes(dir) == 0 {
		t.Fatal("no temporary data on disk at the crash: the test did not crash mid-upload")
	}

	srv = startChild(t, dir)
	e = srv.env(t)
	c = e.sharedKeyClient(t)
	_, err := c.ServiceClient().NewContainerClient("crash").NewBlobClient("partial.bin").GetProperties(ctx, nil)
	if !bloberror.HasCode(err, bloberror.BlobNotFound) {
		t.Fatalf("partial blob after restart: %v", err)
	}
	resp, err := c.DownloadStream(ctx, "crash", "good.bin", nil)
	if err != nil {
		t.Fatal(err)
	}
	if sha256Of(t, resp.Body) != sha256Of(t, detReader(1, goodSize)) {
		t.Fatal("committed blob changed across the crash")
	}
	resp.Body.Close()
	buf := make([]byte, 5)
	if _, err := c.DownloadBuffer(ctx, "crash", "small.txt", buf, nil); err != nil || string(buf) != "small" {
		t.Fatalf("small blob: %q %v", buf, err)
	}
	bb = c.ServiceClient().NewContainerClient("crash").NewBlockBlobClient("staged.bin")
	bl, err := bb.GetBlockList(ctx, blockblob.BlockListTypeAll, nil)
	if err != nil || len(bl.UncommittedBlocks) != 2 || len(bl.CommittedBlocks) != 0 {
		t.Fatalf("staged blocks after restart: %+v %v", bl, err)
	}
	if _, err := bb.CommitBlockList(ctx, ids, nil); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 2000)
	if n, err := c.DownloadBuffer(ctx, "crash", "staged.bin", got, nil); err != nil || n != 2000 ||
		!bytes.Equal(got, append(bytes.Repeat([]byte{'a'}, 1000), bytes.Repeat([]byte{'b'}, 1000)...)) {
		t.Fatalf("committed staged blocks: %d %v", n, err)
	}
	// The append blob holds exactly what was appended before the crash, and takes more.
	ab = c.ServiceClient().NewContainerClient("crash").NewAppendBlobClient("log.txt")
	if p, err := ab.GetProperties(ctx, nil); err != nil || *p.ContentLength != 3 || *p.BlobCommittedBlockCount != 1 {
		t.Fatalf("append blob after restart: %v", err)
	}
	if _, err := ab.AppendBlock(ctx, nopCloser{bytes.NewReader([]byte("def"))}, nil); err != nil {
		t.Fatal(err)
	}
	abuf := make([]byte, 6)
	if _, err := c.DownloadBuffer(ctx, "crash", "log.txt", abuf, nil); err != nil || string(abuf) != "abcdef" {
		t.Fatalf("append blob content: %q %v", abuf, err)
	}
	// The restarted server collects the abandoned temporary files.
	waitFor(t, func() bool { return tmpBytes(dir) == 0 })
	var names []string
	pager := c.NewListBlobsFlatPager("crash", &azblob.ListBlobsFlatOptions{Prefix: to.Ptr("")})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range page.Segment.BlobItems {
			names = append(names, *b.Name)
		}
	}
	if fmt.Sprint(names) != "[good.bin log.txt small.txt staged.bin]" {
		t.Fatalf("blobs after restart: %v", names)
	}
}

type nopCloser struct{ io.ReadSeeker }

func (nopCloser) Close() error { return nil }

func tmpBytes(dir string) int64 {
	var n int64
	ents, _ := os.ReadDir(filepath.Join(dir, "blobs", "tmp"))
	for _, e := range ents {
		if info, err := e.Info(); err == nil {
			n += info.Size()
		}
	}
	return n
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
