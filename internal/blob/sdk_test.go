package blob

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// exerciseClient runs the scenario every credential must pass: create a
// container, upload small and multi-block blobs, download, range read, list
// with prefix and delimiter, metadata, conditional requests, delete.
func exerciseClient(t *testing.T, c *azblob.Client, cont string) {
	ctx := context.Background()
	if _, err := c.CreateContainer(ctx, cont, &azblob.CreateContainerOptions{Metadata: map[string]*string{"team": to.Ptr("a")}}); err != nil {
		t.Fatalf("create container: %v", err)
	}
	_, err := c.CreateContainer(ctx, cont, nil)
	if !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		t.Fatalf("second create: %v", err)
	}
	small := []byte("hello, cobalt")
	for _, name := range []string{"in/a.txt", "in/b.txt", "in/sub/c.txt", "in/sub/deeper/d.txt", "out/e.txt", "top.txt"} {
		if _, err := c.UploadBuffer(ctx, cont, name, small, &azblob.UploadBufferOptions{
			HTTPHeaders: &blob.HTTPHeaders{BlobContentType: to.Ptr("text/plain")},
			Metadata:    map[string]*string{"origin": to.Ptr("test")}}); err != nil {
			t.Fatalf("upload %s: %v", name, err)
		}
	}
	// A multi-block upload (UploadStream always stages blocks).
	const big = 5<<20 + 12345
	if _, err := c.UploadStream(ctx, cont, "in/big.bin", detReader(1, big), &azblob.UploadStreamOptions{BlockSize: 1 << 20, Concurrency: 3}); err != nil {
		t.Fatalf("upload stream: %v", err)
	}
	want := sha256Of(t, detReader(1, big))
	resp, err := c.DownloadStream(ctx, cont, "in/big.bin", nil)
	if err != nil {
		t.Fatalf("download: %v", err)
	}
	if got := sha256Of(t, resp.Body); got != want || *resp.ContentLength != big {
		t.Fatalf("downloaded content differs (len %d)", *resp.ContentLength)
	}
	resp.Body.Close()
	bl, err := c.ServiceClient().NewContainerClient(cont).NewBlockBlobClient("in/big.bin").GetBlockList(ctx, blockblob.BlockListTypeAll, nil)
	if err != nil || len(bl.CommittedBlocks) != 6 || len(bl.UncommittedBlocks) != 0 || *bl.BlobContentLength != big {
		t.Fatalf("block list: %+v, %v", bl, err)
	}
	// Range read.
	rr, err := c.DownloadStream(ctx, cont, "in/big.bin", &azblob.DownloadStreamOptions{Range: azblob.HTTPRange{Offset: 1<<20 - 10, Count: 100}})
	if err != nil {
		t.Fatalf("range read: %v", err)
	}
	part, _ := io.ReadAll(rr.Body)
	rr.Body.Close()
	all, _ := io.ReadAll(detReader(1, big))
	if !bytes.Equal(part, all[1<<20-10:1<<20+90]) || *rr.ContentRange != "bytes 1048566-1048665/"+itoa64(big) {
		t.Fatalf("range read got %d bytes, range %q", len(part), *rr.ContentRange)
	}
	buf := make([]byte, len(small))
	if n, err := c.DownloadBuffer(ctx, cont, "in/a.txt", buf, nil); err != nil || n != int64(len(small)) || !bytes.Equal(buf, small) {
		t.Fatalf("download buffer: %q %v", buf[:n], err)
	}
	// Flat list with a prefix, in pages.
	var names []string
	pager := c.NewListBlobsFlatPager(cont, &azblob.ListBlobsFlatOptions{Prefix: to.Ptr("in/"), MaxResults: to.Ptr[int32](2), Include: azblob.ListBlobsInclude{Metadata: true}})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		for _, b := range page.Segment.BlobItems {
			names = append(names, *b.Name)
			if *b.Name == "in/a.txt" && (*b.Properties.ContentLength != int64(len(small)) || *b.Metadata["origin"] != "test" || *b.Properties.ContentType != "text/plain") {
				t.Fatalf("list item %+v", b.Properties)
			}
		}
	}
	if !slices.Equal(names, []string{"in/a.txt", "in/b.txt", "in/big.bin", "in/sub/c.txt", "in/sub/deeper/d.txt"}) {
		t.Fatalf("flat list = %v", names)
	}
	// Hierarchical list.
	cc := c.ServiceClient().NewContainerClient(cont)
	var blobs, prefixes []string
	hp := cc.NewListBlobsHierarchyPager("/", &container.ListBlobsHierarchyOptions{Prefix: to.Ptr("in/"), MaxResults: to.Ptr[int32](2)})
	for hp.More() {
		page, err := hp.NextPage(ctx)
		if err != nil {
			t.Fatalf("hierarchy list: %v", err)
		}
		for _, b := range page.Segment.BlobItems {
			blobs = append(blobs, *b.Name)
		}
		for _, p := range page.Segment.BlobPrefixes {
			prefixes = append(prefixes, *p.Name)
		}
	}
	if !slices.Equal(blobs, []string{"in/a.txt", "in/b.txt", "in/big.bin"}) || !slices.Equal(prefixes, []string{"in/sub/"}) {
		t.Fatalf("hierarchy: blobs %v prefixes %v", blobs, prefixes)
	}
	// Properties, metadata and conditions.
	bc := cc.NewBlobClient("in/a.txt")
	props, err := bc.GetProperties(ctx, nil)
	if err != nil || *props.ContentLength != int64(len(small)) || *props.BlobType != blob.BlobTypeBlockBlob || props.ContentMD5 == nil {
		t.Fatalf("properties: %+v %v", props, err)
	}
	if _, err := bc.SetMetadata(ctx, map[string]*string{"k": to.Ptr("v")}, nil); err != nil {
		t.Fatalf("set metadata: %v", err)
	}
	props2, err := bc.GetProperties(ctx, nil)
	if err != nil || *props2.ETag == *props.ETag || props2.Metadata["K"] == nil || *props2.Metadata["K"] != "v" {
		t.Fatalf("after set metadata: %+v %v", props2.Metadata, err)
	}
	_, err = bc.GetProperties(ctx, &blob.GetPropertiesOptions{AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: props.ETag}}})
	if !bloberror.HasCode(err, bloberror.ConditionNotMet) {
		t.Fatalf("stale If-Match on HEAD: %v", err)
	}
	_, err = c.UploadBuffer(ctx, cont, "in/a.txt", small, &azblob.UploadBufferOptions{AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: to.Ptr(azcore.ETagAny)}}})
	if !bloberror.HasCode(err, bloberror.BlobAlreadyExists) {
		t.Fatalf("If-None-Match * on existing blob: %v", err)
	}
	// The SDK takes 304 as success for Download (raw statuses are checked in TestRawErrors).
	_, err = bc.GetProperties(ctx, &blob.GetPropertiesOptions{AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: props2.ETag}}})
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusNotModified {
		t.Fatalf("If-None-Match current etag: %v", err)
	}
	cp, err := cc.GetProperties(ctx, nil)
	if err != nil || *cp.Metadata["Team"] != "a" {
		t.Fatalf("container properties: %+v %v", cp, err)
	}
	// Delete.
	if _, err := c.DeleteBlob(ctx, cont, "in/a.txt", nil); err != nil {
		t.Fatalf("delete: %v", err)
	}
	_, err = bc.GetProperties(ctx, nil)
	if !bloberror.HasCode(err, bloberror.BlobNotFound) {
		t.Fatalf("HEAD after delete: %v", err)
	}
	_, err = c.DeleteBlob(ctx, cont, "in/a.txt", nil)
	if !bloberror.HasCode(err, bloberror.BlobNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	_, err = c.DownloadStream(ctx, "nosuchcontainer", "x", nil)
	if !bloberror.HasCode(err, bloberror.ContainerNotFound) {
		t.Fatalf("missing container: %v", err)
	}
	var conts []string
	cpager := c.NewListContainersPager(&azblob.ListContainersOptions{Prefix: to.Ptr(cont[:3])})
	for cpager.More() {
		page, err := cpager.NextPage(ctx)
		if err != nil {
			t.Fatalf("list containers: %v", err)
		}
		for _, ci := range page.ContainerItems {
			conts = append(conts, *ci.Name)
		}
	}
	if !slices.Contains(conts, cont) {
		t.Fatalf("containers = %v", conts)
	}
	info, err := c.ServiceClient().GetAccountInfo(ctx, nil)
	if err != nil || *info.AccountKind != "StorageV2" || *info.SKUName != "Standard_LRS" {
		t.Fatalf("account info: %+v %v", info, err)
	}
	if _, err := c.DeleteContainer(ctx, cont, nil); err != nil {
		t.Fatalf("delete container: %v", err)
	}
	if _, err := cc.GetProperties(ctx, nil); !bloberror.HasCode(err, bloberror.ContainerNotFound) {
		t.Fatalf("container after delete: %v", err)
	}
}

func TestSDKSharedKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	exerciseClient(t, e.sharedKeyClient(t), "sharedkey")
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

// TestSDKLargeUpload uploads and downloads a 300 MiB blob in blocks with UploadFile/DownloadFile.
func TestSDKLargeUpload(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("large upload in -short mode")
	}
	e := newEnv(t)
	c := e.sharedKeyClient(t)
	ctx := context.Background()
	if _, err := c.CreateContainer(ctx, "large", nil); err != nil {
		t.Fatal(err)
	}
	const size = 300 << 20
	dir := t.TempDir()
	p, want := writeDetFile(t, dir, 42, size)
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	start := time.Now()
	if _, err := c.UploadFile(ctx, "large", "big/blob.bin", f, &azblob.UploadFileOptions{BlockSize: 8 << 20, Concurrency: 4}); err != nil {
		t.Fatalf("upload file: %v", err)
	}
	up := time.Since(start)
	out, err := os.Create(dir + "/out.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	start = time.Now()
	n, err := c.DownloadFile(ctx, "large", "big/blob.bin", out, &azblob.DownloadFileOptions{BlockSize: 8 << 20, Concurrency: 4})
	if err != nil || n != size {
		t.Fatalf("download file: %d %v", n, err)
	}
	down := time.Since(start)
	if _, err := out.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	if got := sha256Of(t, out); got != want {
		t.Fatal("downloaded 300 MiB blob differs from the upload")
	}
	bl, err := c.ServiceClient().NewContainerClient("large").NewBlockBlobClient("big/blob.bin").GetBlockList(ctx, blockblob.BlockListTypeCommitted, nil)
	if err != nil || len(bl.CommittedBlocks) != size/(8<<20)+1 {
		t.Fatalf("committed blocks: %d %v", len(bl.CommittedBlocks), err)
	}
	t.Logf("300 MiB: upload %v (%.0f MB/s), download %v (%.0f MB/s)", up, size/up.Seconds()/1e6, down, size/down.Seconds()/1e6)
}
