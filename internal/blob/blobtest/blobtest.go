package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// Data returns n deterministic pseudo-random bytes for seed.
func Data(seed uint64, n int64) io.Reader {
	return io.LimitReader(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 7}), n)
}

// SHA256 hashes everything r yields.
func SHA256(t testing.TB, r io.Reader) [32]byte {
	t.Helper()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// WriteFile writes n deterministic bytes for seed to a new file in dir and
// returns its path and SHA-256.
func WriteFile(t testing.TB, dir string, seed uint64, n int64) (string, [32]byte) {
	t.Helper()
	p := filepath.Join(dir, "data-"+strconv.FormatUint(seed, 10)+".bin")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), Data(seed, n)); err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return p, sum
}

// LargeRoundTrip uploads size deterministic bytes from a file with UploadFile
// (blocks of 8 MiB, so more than 256 MiB is a multi-block upload), downloads
// them with DownloadFile and compares SHA-256; nothing is held in memory.
func LargeRoundTrip(t testing.TB, c *azblob.Client, cont, name string, size int64) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	p, want := WriteFile(t, dir, 42, size)
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := c.UploadFile(ctx, cont, name, f, &azblob.UploadFileOptions{BlockSize: 8 << 20, Concurrency: 4}); err != nil {
		t.Fatalf("upload file: %v", err)
	}
	out, err := os.Create(filepath.Join(dir, "out.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	n, err := c.DownloadFile(ctx, cont, name, out, &azblob.DownloadFileOptions{BlockSize: 8 << 20, Concurrency: 4})
	if err != nil || n != size {
		t.Fatalf("download file: %d %v", n, err)
	}
	if _, err := out.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	if SHA256(t, out) != want {
		t.Fatal("the downloaded blob differs from the upload")
	}
	bl, err := c.ServiceClient().NewContainerClient(cont).NewBlockBlobClient(name).GetBlockList(ctx, blockblob.BlockListTypeCommitted, nil)
	if err != nil || int64(len(bl.CommittedBlocks)) != (size+8<<20-1)/(8<<20) {
		t.Fatalf("committed blocks: %d %v", len(bl.CommittedBlocks), err)
	}
}

// Exercise runs the scenario every credential must pass: create a
// container, upload small and multi-block blobs, download, range read, list
// with prefix and delimiter, metadata, conditional requests, delete.
func Exercise(t testing.TB, c *azblob.Client, cont string) {
	t.Helper()
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
	if _, err := c.UploadStream(ctx, cont, "in/big.bin", Data(1, big), &azblob.UploadStreamOptions{BlockSize: 1 << 20, Concurrency: 3}); err != nil {
		t.Fatalf("upload stream: %v", err)
	}
	want := SHA256(t, Data(1, big))
	resp, err := c.DownloadStream(ctx, cont, "in/big.bin", nil)
	if err != nil {
		t.Fatalf("download: %v", err)
	}
	if got := SHA256(t, resp.Body); got != want || *resp.ContentLength != big {
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
	all, _ := io.ReadAll(Data(1, big))
	if !bytes.Equal(part, all[1<<20-10:1<<20+90]) || *rr.ContentRange != "bytes 1048566-1048665/"+strconv.Itoa(big) {
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
