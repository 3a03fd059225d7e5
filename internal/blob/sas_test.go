package blob

import (
	"context"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
)

// TestSDKSAS uses SAS URLs made by the Go SDK's sas package (service SAS for a
// container and for a blob, in several signed versions, and account SAS).
func TestSDKSAS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	sk := e.sharedKeyClient(t)
	if _, err := sk.CreateContainer(ctx, "sas", nil); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a.txt", "b.txt"} {
		if _, err := sk.UploadBuffer(ctx, "sas", n, []byte("content of "+n), nil); err != nil {
			t.Fatal(err)
		}
	}
	cred, _ := azblob.NewSharedKeyCredential(testAccount, testKey2) // the secondary key signs too
	exp := time.Now().Add(time.Hour)
	sign := func(v sas.BlobSignatureValues) string {
		q, err := v.SignWithSharedKey(cred)
		if err != nil {
			t.Fatal(err)
		}
		return q.Encode()
	}
	containerClient := func(query string) *container.Client {
		c, err := container.NewClientWithNoCredential(e.AccountURL+"/sas?"+query, &container.ClientOptions{ClientOptions: e.clientOptions().ClientOptions})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	buf := make([]byte, 64)
	for _, version := range []string{"", "2019-12-12", "2015-04-05"} {
		readList := sign(sas.BlobSignatureValues{Version: version, ContainerName: "sas", ExpiryTime: exp, Permissions: (&sas.ContainerPermissions{Read: true, List: true}).String()})
		c := containerClient(readList)
		if _, err := c.NewListBlobsFlatPager(nil).NextPage(ctx); err != nil {
			t.Fatalf("sv %q list: %v", version, err)
		}
		if n, err := c.NewBlobClient("a.txt").DownloadBuffer(ctx, buf, nil); err != nil || string(buf[:n]) != "content of a.txt" {
			t.Fatalf("sv %q download: %v", version, err)
		}
		_, err := c.NewBlockBlobClient("c.txt").UploadBuffer(ctx, []byte("x"), nil)
		if !bloberror.HasCode(err, bloberror.AuthorizationPermissionMismatch) {
			t.Fatalf("sv %q upload with r+l: %v", version, err)
		}
	}
	// A blob SAS is good for its blob only.
	blobSAS := sign(sas.BlobSignatureValues{ContainerName: "sas", BlobName: "a.txt", ExpiryTime: exp, Permissions: (&sas.BlobPermissions{Read: true}).String()})
	c := containerClient(blobSAS)
	if _, err := c.NewBlobClient("a.txt").DownloadBuffer(ctx, buf, nil); err != nil {
		t.Fatalf("blob SAS download: %v", err)
	}
	if _, err := c.NewBlobClient("b.txt").DownloadBuffer(ctx, buf, nil); !bloberror.HasCode(err, bloberror.AuthenticationFailed) {
		t.Fatalf("blob SAS on another blob: %v", err)
	}
	// Create-only permission: a new blob yes, overwriting no.
	create := sign(sas.BlobSignatureValues{ContainerName: "sas", ExpiryTime: exp, Permissions: (&sas.ContainerPermissions{Create: true}).String()})
	c = containerClient(create)
	if _, err := c.NewBlockBlobClient("new.txt").UploadBuffer(ctx, []byte("x"), nil); err != nil {
		t.Fatalf("create-only new blob: %v", err)
	}
	if _, err := c.NewBlockBlobClient("a.txt").UploadBuffer(ctx, []byte("x"), nil); !bloberror.HasCode(err, bloberror.AuthorizationPermissionMismatch) {
		t.Fatalf("create-only overwrite: %v", err)
	}
	// Expired, not yet valid, tampered.
	expired := sign(sas.BlobSignatureValues{ContainerName: "sas", ExpiryTime: time.Now().Add(-time.Minute), Permissions: "rl"})
	future := sign(sas.BlobSignatureValues{ContainerName: "sas", StartTime: time.Now().Add(time.Hour), ExpiryTime: exp.Add(time.Hour), Permissions: "rl"})
	tampered := sign(sas.BlobSignatureValues{ContainerName: "sas", ExpiryTime: exp, Permissions: "rl"})
	tampered = replaceParam(tampered, "sp", "rwdl")
	for name, q := range map[string]string{"expired": expired, "future": future, "tampered": tampered} {
		if _, err := containerClient(q).NewBlobClient("a.txt").DownloadBuffer(ctx, buf, nil); !bloberror.HasCode(err, bloberror.AuthenticationFailed) {
			t.Errorf("%s SAS: %v", name, err)
		}
	}
	// Account SAS.
	acct := func(rt sas.AccountResourceTypes, p sas.AccountPermissions) *azblob.Client {
		q, err := sas.AccountSignatureValues{ExpiryTime: exp, Permissions: p.String(), ResourceTypes: rt.String()}.SignWithSharedKey(cred)
		if err != nil {
			t.Fatal(err)
		}
		c, err := azblob.NewClientWithNoCredential(e.AccountURL+"?"+q.Encode(), e.clientOptions())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	full := acct(sas.AccountResourceTypes{Service: true, Container: true, Object: true}, sas.AccountPermissions{Read: true, Write: true, List: true, Create: true, Delete: true})
	if _, err := full.CreateContainer(ctx, "viasas", nil); err != nil {
		t.Fatalf("account SAS create container: %v", err)
	}
	if _, err := full.UploadBuffer(ctx, "viasas", "x.txt", []byte("x"), nil); err != nil {
		t.Fatalf("account SAS upload: %v", err)
	}
	if _, err := full.NewListContainersPager(nil).NextPage(ctx); err != nil {
		t.Fatalf("account SAS list containers: %v", err)
	}
	objOnly := acct(sas.AccountResourceTypes{Object: true}, sas.AccountPermissions{Read: true, Write: true, Create: true, List: true})
	if _, err := objOnly.CreateContainer(ctx, "nope", nil); !bloberror.HasCode(err, bloberror.AuthorizationResourceTypeMismatch) {
		t.Fatalf("object-only account SAS creating a container: %v", err)
	}
	readOnly := acct(sas.AccountResourceTypes{Container: true, Object: true}, sas.AccountPermissions{Read: true, List: true})
	if _, err := readOnly.DeleteBlob(ctx, "viasas", "x.txt", nil); !bloberror.HasCode(err, bloberror.AuthorizationPermissionMismatch) {
		t.Fatalf("read-only account SAS delete: %v", err)
	}
}

func replaceParam(query, name, value string) string {
	q, _ := parseQuery(query)
	q.Set(name, value)
	return q.Encode()
}
