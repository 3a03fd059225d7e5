package blob

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/appendblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/lease"
)

func wantCode(t *testing.T, what string, err error, code bloberror.Code) {
	t.Helper()
	if !bloberror.HasCode(err, code) {
		t.Fatalf("%s: got %v, want %s", what, err, code)
	}
}

func must[T any](t *testing.T, what string) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
}

// TestSDKBlobLease drives a blob lease through every action with the
// official lease client and checks that writes and deletes honour it.
func TestSDKBlobLease(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.sharedKeyClient(t)
	ctx := context.Background()
	must[azblob.CreateContainerResponse](t, "create")(c.CreateContainer(ctx, "leases", nil))
	must[azblob.UploadBufferResponse](t, "upload")(c.UploadBuffer(ctx, "leases", "b.txt", []byte("one"), nil))
	bc := c.ServiceClient().NewContainerClient("leases").NewBlockBlobClient("b.txt")
	id := "5a8f7c1e-0000-4000-8000-000000000001"
	lc, err := lease.NewBlobClient(bc, &lease.BlobClientOptions{LeaseID: to.Ptr(id)})
	if err != nil {
		t.Fatal(err)
	}
	acq := must[lease.BlobAcquireResponse](t, "acquire")(lc.AcquireLease(ctx, 15, nil))
	if acq.LeaseID == nil || *acq.LeaseID != id {
		t.Fatalf("acquired %v", acq.LeaseID)
	}
	_, err = lc.AcquireLease(ctx, 15, nil) // the same ID again is allowed
	if err != nil {
		t.Fatalf("re-acquire with the same ID: %v", err)
	}
	other, _ := lease.NewBlobClient(bc, &lease.BlobClientOptions{LeaseID: to.Ptr("5a8f7c1e-0000-4000-8000-000000000002")})
	_, err = other.AcquireLease(ctx, -1, nil)
	wantCode(t, "acquire over a lease", err, bloberror.LeaseAlreadyPresent)

	props := must[blob.GetPropertiesResponse](t, "props")(bc.GetProperties(ctx, nil))
	if *props.LeaseState != lease.StateTypeLeased || *props.LeaseStatus != lease.StatusTypeLocked || *props.LeaseDuration != lease.DurationTypeFixed {
		t.Fatalf("lease props %v %v %v", *props.LeaseState, *props.LeaseStatus, *props.LeaseDuration)
	}
	_, err = c.UploadBuffer(ctx, "leases", "b.txt", []byte("two"), nil)
	wantCode(t, "write without the lease", err, bloberror.LeaseIDMissing)
	wrong := &blob.AccessConditions{LeaseAccessConditions: &blob.LeaseAccessConditions{LeaseID: to.Ptr("5a8f7c1e-0000-4000-8000-000000000009")}}
	_, err = c.UploadBuffer(ctx, "leases", "b.txt", []byte("two"), &azblob.UploadBufferOptions{AccessConditions: wrong})
	wantCode(t, "write with another lease", err, bloberror.LeaseIDMismatchWithBlobOperation)
	_, err = bc.Delete(ctx, nil)
	wantCode(t, "delete without the lease", err, bloberror.LeaseIDMissing)
	_, err = bc.SetMetadata(ctx, map[string]*string{"a": to.Ptr("b")}, nil)
	wantCode(t, "metadata without the lease", err, bloberror.LeaseIDMissing)
	right := &blob.AccessConditions{LeaseAccessConditions: &blob.LeaseAccessConditions{LeaseID: to.Ptr(id)}}
	must[azblob.UploadBufferResponse](t, "write with the lease")(c.UploadBuffer(ctx, "leases", "b.txt", []byte("two"), &azblob.UploadBufferOptions{AccessConditions: right}))
	// The overwrite keeps the lease.
	if p := must[blob.GetPropertiesResponse](t, "props")(bc.GetProperties(ctx, nil)); *p.LeaseState != lease.StateTypeLeased {
		t.Fatalf("lease lost on overwrite: %v", *p.LeaseState)
	}

	must[lease.BlobRenewResponse](t, "renew")(lc.RenewLease(ctx, nil))
	newID := "5a8f7c1e-0000-4000-8000-000000000003"
	ch := must[lease.BlobChangeResponse](t, "change")(lc.ChangeLease(ctx, newID, nil))
	if *ch.LeaseID != newID || *lc.LeaseID() != newID {
		t.Fatalf("changed to %v", *ch.LeaseID)
	}
	_, err = bc.Delete(ctx, &blob.DeleteOptions{AccessConditions: right})
	wantCode(t, "delete with the old lease", err, bloberror.LeaseIDMismatchWithBlobOperation)
	must[lease.BlobReleaseResponse](t, "release")(lc.ReleaseLease(ctx, nil))
	_, err = lc.RenewLease(ctx, nil)
	wantCode(t, "renew after release", err, bloberror.LeaseNotPresentWithLeaseOperation)
	_, err = bc.SetMetadata(ctx, nil, &blob.SetMetadataOptions{AccessConditions: &blob.AccessConditions{LeaseAccessConditions: &blob.LeaseAccessConditions{LeaseID: to.Ptr(newID)}}})
	wantCode(t, "write with a released lease", err, bloberror.LeaseNotPresentWithBlobOperation)

	// Break: an infinite lease with a break period is breaking, then writes still need it.
	must[lease.BlobAcquireResponse](t, "acquire infinite")(lc.AcquireLease(ctx, -1, nil))
	if p := must[blob.GetPropertiesResponse](t, "props")(bc.GetProperties(ctx, nil)); *p.LeaseDuration != lease.DurationTypeInfinite {
		t.Fatalf("duration %v", *p.LeaseDuration)
	}
	br := must[lease.BlobBreakResponse](t, "break")(lc.BreakLease(ctx, &lease.BlobBreakOptions{BreakPeriod: to.Ptr[int32](30)}))
	if br.LeaseTime == nil || *br.LeaseTime != 30 {
		t.Fatalf("lease time %v", br.LeaseTime)
	}
	p := must[blob.GetPropertiesResponse](t, "props")(bc.GetProperties(ctx, nil))
	if *p.LeaseState != lease.StateTypeBreaking || *p.LeaseStatus != lease.StatusTypeLocked {
		t.Fatalf("after break: %v %v", *p.LeaseState, *p.LeaseStatus)
	}
	_, err = lc.ChangeLease(ctx, id, nil)
	wantCode(t, "change a breaking lease", err, bloberror.LeaseIsBreakingAndCannotBeChanged)
	_, err = other.AcquireLease(ctx, 15, nil)
	wantCode(t, "acquire a breaking lease", err, bloberror.LeaseIsBreakingAndCannotBeAcquired)
	must[lease.BlobBreakResponse](t, "break now")(lc.BreakLease(ctx, &lease.BlobBreakOptions{BreakPeriod: to.Ptr[int32](0)}))
	p = must[blob.GetPropertiesResponse](t, "props")(bc.GetProperties(ctx, nil))
	if *p.LeaseState != lease.StateTypeBroken || *p.LeaseStatus != lease.StatusTypeUnlocked {
		t.Fatalf("after break now: %v %v", *p.LeaseState, *p.LeaseStatus)
	}
	_, err = lc.RenewLease(ctx, nil)
	wantCode(t, "renew a broken lease", err, bloberror.LeaseIsBrokenAndCannotBeRenewed)
	must[lease.BlobAcquireResponse](t, "acquire after break")(other.AcquireLease(ctx, 15, nil))

	// Listings show the lease.
	pager := c.NewListBlobsFlatPager("leases", nil)
	page := must[azblob.ListBlobsFlatResponse](t, "list")(pager.NextPage(ctx))
	if it := page.Segment.BlobItems[0]; *it.Properties.LeaseState != lease.StateTypeLeased || *it.Properties.LeaseDuration != lease.DurationTypeFixed {
		t.Fatalf("listed lease %v", *it.Properties.LeaseState)
	}
}

// TestSDKLeaseExpires checks that a fixed lease ends by itself.
func TestSDKLeaseExpires(t *testing.T) {
	t.Parallel()
	now := time.Now()
	clock := &now
	e := newEnv(t, func(c *Config) { c.Now = func() time.Time { return *clock } })
	c := e.sharedKeyClient(t)
	ctx := context.Background()
	must[azblob.CreateContainerResponse](t, "create")(c.CreateContainer(ctx, "exp", nil))
	must[azblob.UploadBufferResponse](t, "upload")(c.UploadBuffer(ctx, "exp", "b", []byte("x"), nil))
	bc := c.ServiceClient().NewContainerClient("exp").NewBlobClient("b")
	lc, _ := lease.NewBlobClient(bc, nil)
	must[lease.BlobAcquireResponse](t, "acquire")(lc.AcquireLease(ctx, 15, nil))
	later := now.Add(16 * time.Second)
	clock = &later
	p := must[blob.GetPropertiesResponse](t, "props")(bc.GetProperties(ctx, nil))
	if *p.LeaseState != lease.StateTypeExpired || *p.LeaseStatus != lease.StatusTypeUnlocked {
		t.Fatalf("after expiry %v %v", *p.LeaseState, *p.LeaseStatus)
	}
	must[blob.DeleteResponse](t, "delete after expiry")(bc.Delete(ctx, nil))
}

// TestSDKContainerLease checks a container lease guards Delete Container.
func TestSDKContainerLease(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.sharedKeyClient(t)
	ctx := context.Background()
	must[azblob.CreateContainerResponse](t, "create")(c.CreateContainer(ctx, "clease", nil))
	cc := c.ServiceClient().NewContainerClient("clease")
	lc, err := lease.NewContainerClient(cc, nil)
	if err != nil {
		t.Fatal(err)
	}
	must[lease.ContainerAcquireResponse](t, "acquire")(lc.AcquireLease(ctx, -1, nil))
	p := must[container.GetPropertiesResponse](t, "props")(cc.GetProperties(ctx, nil))
	if *p.LeaseState != lease.StateTypeLeased || *p.LeaseDuration != lease.DurationTypeInfinite {
		t.Fatalf("container lease %v", *p.LeaseState)
	}
	_, err = cc.Delete(ctx, nil)
	wantCode(t, "delete a leased container", err, bloberror.LeaseIDMissing)
	_, err = cc.Delete(ctx, &container.DeleteOptions{AccessConditions: &container.AccessConditions{LeaseAccessConditions: &container.LeaseAccessConditions{LeaseID: to.Ptr("5a8f7c1e-0000-4000-8000-00000000000f")}}})
	wantCode(t, "delete with another lease", err, bloberror.LeaseIDMismatchWithContainerOperation)
	pager := c.NewListContainersPager(nil)
	page := must[azblob.ListContainersResponse](t, "list")(pager.NextPage(ctx))
	if *page.ContainerItems[0].Properties.LeaseState != lease.StateTypeLeased {
		t.Fatal("listing does not show the lease")
	}
	must[container.DeleteResponse](t, "delete with the lease")(cc.Delete(ctx, &container.DeleteOptions{AccessConditions: &container.AccessConditions{LeaseAccessConditions: &container.LeaseAccessConditions{LeaseID: lc.LeaseID()}}}))
}

// TestSDKAppendBlob creates an append blob, appends with position and size
// conditions, seals it, and reads it back.
func TestSDKAppendBlob(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.sharedKeyClient(t)
	ctx := context.Background()
	must[azblob.CreateContainerResponse](t, "create")(c.CreateContainer(ctx, "logs", nil))
	ab := c.ServiceClient().NewContainerClient("logs").NewAppendBlobClient("app.log")
	must[appendblob.CreateResponse](t, "create append blob")(ab.Create(ctx, &appendblob.CreateOptions{Metadata: map[string]*string{"kind": to.Ptr("log")}}))
	var want bytes.Buffer
	for i, line := range []string{"first line\n", "second line\n", "third\n"} {
		r := must[appendblob.AppendBlockResponse](t, "append")(ab.AppendBlock(ctx, streaming.NopCloser(strings.NewReader(line)), &appendblob.AppendBlockOptions{
			AppendPositionAccessConditions: &appendblob.AppendPositionAccessConditions{AppendPosition: to.Ptr(int64(want.Len()))}}))
		if *r.BlobAppendOffset != itoa64(int64(want.Len())) || *r.BlobCommittedBlockCount != int32(i+1) {
			t.Fatalf("append %d: offset %s count %d", i, *r.BlobAppendOffset, *r.BlobCommittedBlockCount)
		}
		want.WriteString(line)
	}
	_, err := ab.AppendBlock(ctx, streaming.NopCloser(strings.NewReader("x")), &appendblob.AppendBlockOptions{
		AppendPositionAccessConditions: &appendblob.AppendPositionAccessConditions{AppendPosition: to.Ptr(int64(3))}})
	wantCode(t, "append at a wrong position", err, bloberror.AppendPositionConditionNotMet)
	_, err = ab.AppendBlock(ctx, streaming.NopCloser(strings.NewReader("xyz")), &appendblob.AppendBlockOptions{
		AppendPositionAccessConditions: &appendblob.AppendPositionAccessConditions{MaxSize: to.Ptr(int64(want.Len() + 2))}})
	wantCode(t, "append past max size", err, bloberror.MaxBlobSizeConditionNotMet)
	p := must[blob.GetPropertiesResponse](t, "props")(ab.GetProperties(ctx, nil))
	if *p.BlobType != blob.BlobTypeAppendBlob || *p.BlobCommittedBlockCount != 3 || *p.ContentLength != int64(want.Len()) || *p.Metadata["Kind"] != "log" {
		t.Fatalf("props %v %v %v", *p.BlobType, *p.BlobCommittedBlockCount, *p.ContentLength)
	}
	got := must[blob.DownloadStreamResponse](t, "download")(ab.DownloadStream(ctx, nil))
	body, _ := io.ReadAll(got.Body)
	if string(body) != want.String() {
		t.Fatalf("content %q", body)
	}
	// A block blob takes no append; an append blob takes no block list.
	must[azblob.UploadBufferResponse](t, "upload")(c.UploadBuffer(ctx, "logs", "block", []byte("b"), nil))
	_, err = c.ServiceClient().NewContainerClient("logs").NewAppendBlobClient("block").AppendBlock(ctx, streaming.NopCloser(strings.NewReader("x")), nil)
	wantCode(t, "append to a block blob", err, bloberror.InvalidBlobType)
	_, err = c.ServiceClient().NewContainerClient("logs").NewBlockBlobClient("app.log").CommitBlockList(ctx, nil, nil)
	wantCode(t, "commit to an append blob", err, bloberror.InvalidBlobType)

	sr := must[appendblob.SealResponse](t, "seal")(ab.Seal(ctx, nil))
	if sr.IsSealed == nil || !*sr.IsSealed {
		t.Fatal("not sealed")
	}
	_, err = ab.AppendBlock(ctx, streaming.NopCloser(strings.NewReader("x")), nil)
	wantCode(t, "append to a sealed blob", err, "BlobIsSealed")
	if p := must[blob.GetPropertiesResponse](t, "props")(ab.GetProperties(ctx, nil)); p.IsSealed == nil || !*p.IsSealed {
		t.Fatal("properties do not show the seal")
	}
}
