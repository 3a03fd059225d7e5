package blob

import (
	"context"
	"encoding/base64"
	"io"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/appendblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/cobaltbatch/cobalt/internal/rbac"
)

func download(t *testing.T, c *azblob.Client, cont, name string) string {
	t.Helper()
	r, err := c.DownloadStream(context.Background(), cont, name, nil)
	if err != nil {
		t.Fatalf("download %s/%s: %v", cont, name, err)
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSDKCopy copies within an account and across accounts of the
// installation with every copy API of azblob, and checks the copy
// properties and the refusal of sources outside the installation.
func TestSDKCopy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.sharedKeyClient(t)
	c2 := e.sharedKeyClientFor(t, testAccount2, testKey3)
	ctx := context.Background()
	for _, cl := range []*azblob.Client{c, c2} {
		must[azblob.CreateContainerResponse](t, "create src")(cl.CreateContainer(ctx, "src", nil))
	}
	must[azblob.CreateContainerResponse](t, "create dst")(c.CreateContainer(ctx, "dst", nil))
	content := "0123456789abcdefghij"
	must[azblob.UploadBufferResponse](t, "upload")(c.UploadBuffer(ctx, "src", "a.txt", []byte(content), &azblob.UploadBufferOptions{
		HTTPHeaders: &blob.HTTPHeaders{BlobContentType: to.Ptr("text/plain")}, Metadata: map[string]*string{"origin": to.Ptr("src")}}))
	must[azblob.UploadBufferResponse](t, "upload 2")(c2.UploadBuffer(ctx, "src", "far.txt", []byte("far away"), nil))
	srcURL := e.AccountURL + "/src/a.txt"

	// Copy Blob, same account, authorized by the destination's key.
	dst := c.ServiceClient().NewContainerClient("dst").NewBlobClient("copy.txt")
	cr := must[blob.StartCopyFromURLResponse](t, "start copy")(dst.StartCopyFromURL(ctx, srcURL, nil))
	if *cr.CopyStatus != blob.CopyStatusTypeSuccess || cr.CopyID == nil {
		t.Fatalf("copy status %v", cr.CopyStatus)
	}
	p := must[blob.GetPropertiesResponse](t, "props")(dst.GetProperties(ctx, nil))
	if *p.CopyID != *cr.CopyID || *p.CopyStatus != blob.CopyStatusTypeSuccess || *p.CopySource != srcURL || *p.CopyProgress != "20/20" ||
		p.CopyCompletionTime == nil || *p.ContentType != "text/plain" || *p.Metadata["Origin"] != "src" {
		t.Fatalf("copy props %+v", p)
	}
	if got := download(t, c, "dst", "copy.txt"); got != content {
		t.Fatalf("copied %q", got)
	}
	_, err := dst.AbortCopyFromURL(ctx, *cr.CopyID, nil)
	wantCode(t, "abort a finished copy", err, bloberror.NoPendingCopyOperation)
	_, err = dst.AbortCopyFromURL(ctx, "00000000-0000-0000-0000-000000000000", nil)
	wantCode(t, "abort another copy", err, bloberror.CopyIDMismatch)
	page := must[azblob.ListBlobsFlatResponse](t, "list")(c.NewListBlobsFlatPager("dst", &azblob.ListBlobsFlatOptions{Include: azblob.ListBlobsInclude{Copy: true}}).NextPage(ctx))
	if it := page.Segment.BlobItems[0]; it.Properties.CopyStatus == nil || *it.Properties.CopyStatus != blob.CopyStatusTypeSuccess || *it.Properties.CopyID != *cr.CopyID {
		t.Fatalf("listed copy %+v", it.Properties)
	}

	// Cross-account: a SAS in the source URL, then without one.
	farSAS := must[string](t, "sas")(c2.ServiceClient().NewContainerClient("src").NewBlobClient("far.txt").GetSASURL(sas.BlobPermissions{Read: true}, time.Now().Add(time.Hour), nil))
	must[blob.CopyFromURLResponse](t, "copy from url")(c.ServiceClient().NewContainerClient("dst").NewBlobClient("far.txt").CopyFromURL(ctx, farSAS, nil))
	if got := download(t, c, "dst", "far.txt"); got != "far away" {
		t.Fatalf("cross-account copy %q", got)
	}
	if p := must[blob.GetPropertiesResponse](t, "props")(c.ServiceClient().NewContainerClient("dst").NewBlobClient("far.txt").GetProperties(ctx, nil)); *p.CopySource != e.srv.URL+"/acct2/src/far.txt" {
		t.Fatalf("copy source kept %q (the SAS must not be stored)", *p.CopySource)
	}
	// A SAS for acct2 signed with acct1's key does not open acct2.
	forged := must[string](t, "forged sas")(c.ServiceClient().NewContainerClient("src").NewBlobClient("far.txt").GetSASURL(sas.BlobPermissions{Read: true}, time.Now().Add(time.Hour), nil))
	forged = e.srv.URL + "/acct2/src/far.txt?" + forged[len(e.AccountURL+"/src/far.txt?"):]
	_, err = c.ServiceClient().NewContainerClient("dst").NewBlobClient("forged.txt").CopyFromURL(ctx, forged, nil)
	wantCode(t, "copy with a SAS signed by another account", err, bloberror.CannotVerifyCopySource)
	_, err = c.ServiceClient().NewContainerClient("dst").NewBlobClient("nosas.txt").StartCopyFromURL(ctx, e.srv.URL+"/acct2/src/far.txt", nil)
	wantCode(t, "cross-account copy without a SAS", err, bloberror.CannotVerifyCopySource)
	// A public container's blobs copy without credentials.
	must[container.SetAccessPolicyResponse](t, "public")(c2.ServiceClient().NewContainerClient("src").SetAccessPolicy(ctx, &container.SetAccessPolicyOptions{Access: to.Ptr(container.PublicAccessTypeBlob)}))
	must[blob.StartCopyFromURLResponse](t, "copy public")(c.ServiceClient().NewContainerClient("dst").NewBlobClient("nosas.txt").StartCopyFromURL(ctx, e.srv.URL+"/acct2/src/far.txt", nil))

	// Sources outside the installation are never fetched.
	for _, u := range []string{"https://example.com/acct1/src/a.txt", "https://169.254.169.254/metadata/identity", "http://10.0.0.1:10000/acct1/src/a.txt", "ftp://127.0.0.1/x"} {
		_, err = dst.StartCopyFromURL(ctx, u, nil)
		if !bloberror.HasCode(err, bloberror.CannotVerifyCopySource, bloberror.InvalidHeaderValue) {
			t.Fatalf("copy from %s: %v", u, err)
		}
	}
	_, err = dst.StartCopyFromURL(ctx, e.AccountURL+"/src/missing.txt", nil)
	wantCode(t, "missing source", err, bloberror.CannotVerifyCopySource)

	// Put Blob From URL, Put Block From URL with ranges, Append Block From URL.
	bb := c.ServiceClient().NewContainerClient("dst").NewBlockBlobClient("fromurl.txt")
	must[blockblob.UploadBlobFromURLResponse](t, "put blob from url")(bb.UploadBlobFromURL(ctx, srcURL, nil))
	if got := download(t, c, "dst", "fromurl.txt"); got != content {
		t.Fatalf("put blob from url %q", got)
	}
	staged := c.ServiceClient().NewContainerClient("dst").NewBlockBlobClient("staged.txt")
	id1, id2 := base64.StdEncoding.EncodeToString([]byte("block-01")), base64.StdEncoding.EncodeToString([]byte("block-02"))
	must[blockblob.StageBlockFromURLResponse](t, "stage 1")(staged.StageBlockFromURL(ctx, id1, srcURL, &blockblob.StageBlockFromURLOptions{Range: blob.HTTPRange{Offset: 10, Count: 5}}))
	must[blockblob.StageBlockFromURLResponse](t, "stage 2")(staged.StageBlockFromURL(ctx, id2, srcURL, &blockblob.StageBlockFromURLOptions{Range: blob.HTTPRange{Offset: 0, Count: 3}}))
	must[blockblob.CommitBlockListResponse](t, "commit")(staged.CommitBlockList(ctx, []string{id1, id2}, nil))
	if got := download(t, c, "dst", "staged.txt"); got != "abcde012" {
		t.Fatalf("staged from url %q", got)
	}
	ab := c.ServiceClient().NewContainerClient("dst").NewAppendBlobClient("app.txt")
	must[appendblob.CreateResponse](t, "create append")(ab.Create(ctx, nil))
	must[appendblob.AppendBlockFromURLResponse](t, "append from url")(ab.AppendBlockFromURL(ctx, srcURL, &appendblob.AppendBlockFromURLOptions{Range: blob.HTTPRange{Offset: 15, Count: 5}}))
	must[appendblob.AppendBlockFromURLResponse](t, "append from sas url")(ab.AppendBlockFromURL(ctx, farSAS, nil))
	if got := download(t, c, "dst", "app.txt"); got != "fghijfar away" {
		t.Fatalf("appended from url %q", got)
	}
	// Copies own their bytes: deleting the sources keeps them, deleting all leaves no file.
	for _, cl := range []*azblob.Client{c, c2} {
		must[azblob.DeleteContainerResponse](t, "delete src")(cl.DeleteContainer(ctx, "src", nil))
	}
	if got := download(t, c, "dst", "copy.txt"); got != content {
		t.Fatalf("copy after its source was deleted: %q", got)
	}
	must[azblob.DeleteContainerResponse](t, "delete dst")(c.DeleteContainer(ctx, "dst", nil))
	waitNoDataFiles(t, e)
}

// TestCopyRBAC: a bearer caller copies only what it can read, by its own
// identity within the account or by x-ms-copy-source-authorization.
func TestCopyRBAC(t *testing.T) {
	t.Parallel()
	e := newEntraEnv(t)
	ctx := context.Background()
	admin := e.sharedKeyClient(t)
	for _, n := range []string{"secret", "mine"} {
		must[azblob.CreateContainerResponse](t, "create")(admin.CreateContainer(ctx, n, nil))
	}
	must[azblob.UploadBufferResponse](t, "upload")(admin.UploadBuffer(ctx, "secret", "s.txt", []byte("top secret"), nil))
	writer, reader := e.principal(t, "writer"), e.principal(t, "reader")
	e.assign(t, writer, rbac.RoleStorageBlobDataContributor, accountScope()+"/blobServices/default/containers/mine")
	e.assign(t, reader, rbac.RoleStorageBlobDataReader, accountScope()+"/blobServices/default/containers/secret")
	wc := e.tokenClient(t, writer)
	src := e.AccountURL + "/secret/s.txt"
	dst := wc.ServiceClient().NewContainerClient("mine").NewBlobClient("stolen.txt")

	// Attack: copy from a container the caller cannot read.
	_, err := dst.StartCopyFromURL(ctx, src, nil)
	wantCode(t, "copy an unreadable source", err, bloberror.CannotVerifyCopySource)
	_, err = dst.CopyFromURL(ctx, src, nil)
	wantCode(t, "sync copy an unreadable source", err, bloberror.CannotVerifyCopySource)
	_, err = wc.ServiceClient().NewContainerClient("mine").NewBlockBlobClient("stolen.txt").UploadBlobFromURL(ctx, src, nil)
	wantCode(t, "put blob from an unreadable source", err, bloberror.CannotVerifyCopySource)
	if _, err := admin.ServiceClient().NewContainerClient("mine").NewBlobClient("stolen.txt").GetProperties(ctx, nil); !bloberror.HasCode(err, bloberror.BlobNotFound) {
		t.Fatalf("the refused copy left a blob: %v", err)
	}
	// A token of another principal that can read the source authorizes it.
	tok, err := e.credential(t, reader).GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://storage.azure.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	must[blob.CopyFromURLResponse](t, "copy with source authorization")(dst.CopyFromURL(ctx, src, &blob.CopyFromURLOptions{CopySourceAuthorization: to.Ptr("Bearer " + tok.Token)}))
	if got := download(t, admin, "mine", "stolen.txt"); got != "top secret" {
		t.Fatalf("copied %q", got)
	}
	// The writer's own token does not.
	wtok, err := e.credential(t, writer).GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://storage.azure.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = dst.CopyFromURL(ctx, src, &blob.CopyFromURLOptions{CopySourceAuthorization: to.Ptr("Bearer " + wtok.Token)})
	wantCode(t, "copy with the writer's own token", err, bloberror.CannotVerifyCopySource)
	_, err = dst.CopyFromURL(ctx, src, &blob.CopyFromURLOptions{CopySourceAuthorization: to.Ptr("Bearer not-a-token")})
	wantCode(t, "copy with a forged token", err, bloberror.CannotVerifyCopySource)
	// A reader cannot write the destination, whatever the source.
	_, err = e.tokenClient(t, reader).ServiceClient().NewContainerClient("mine").NewBlobClient("x").StartCopyFromURL(ctx, src, nil)
	wantCode(t, "copy into an unwritable container", err, bloberror.AuthorizationPermissionMismatch)
}
