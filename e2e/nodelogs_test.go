package e2e

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/batch/azbatch"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/storage/armstorage"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/google/uuid"
)

// TestUploadNodeLogs: azbatch's UploadNodeLogs makes the node upload its
// agent's service log to a container with the pool identity's token (Storage
// Blob Data Contributor on that container), and azblob finds the files the
// answer counts under its virtual directory, with what the agent did in them.
// The same upload to a container the identity has no role on fails with
// FileUploadMiscError naming storage's 403; an identity the pool does not
// carry is refused; a SAS signed for another container writes nothing where
// it is pointed, while the right SAS uploads.
func TestUploadNodeLogs(t *testing.T) {
	e := startIsolated(t)
	c := ctx(t)
	s := e.seedResources(t, c)
	sa, err := armstorage.NewAccountsClient(e.EP.SubscriptionID, e.Admin(), e.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	keys, err := sa.ListKeys(c, s.rg, s.storage, nil)
	if err != nil {
		t.Fatal(err)
	}
	acct, err := sa.GetProperties(c, s.rg, s.storage, nil)
	if err != nil {
		t.Fatal(err)
	}
	blobEndpoint := strings.TrimSuffix(*acct.Properties.PrimaryEndpoints.Blob, "/")
	shared, _ := azblob.NewSharedKeyCredential(s.storage, *keys.Keys[0].Value)
	bl, err := azblob.NewClientWithSharedKeyCredential(blobEndpoint+"/", shared, &azblob.ClientOptions{ClientOptions: e.ClientOptions()})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"nodelogs", "norole", "sasdest", "sasother"} {
		if _, err := bl.CreateContainer(c, name, nil); err != nil {
			t.Fatal(err)
		}
	}
	ras, err := armauthorization.NewRoleAssignmentsClient(e.EP.SubscriptionID, e.Admin(), e.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ras.Create(c, *acct.ID+"/blobServices/default/containers/nodelogs", uuid.NewString(), armauthorization.RoleAssignmentCreateParameters{
		Properties: &armauthorization.RoleAssignmentProperties{
			RoleDefinitionID: to.Ptr("/providers/Microsoft.Authorization/roleDefinitions/" + roleStorageBlobDataContributor),
			PrincipalID:      to.Ptr(s.principalID), PrincipalType: to.Ptr(armauthorization.PrincipalTypeServicePrincipal)}}, nil); err != nil {
		t.Fatal(err)
	}

	bc := e.batchClient(t, s.endpoint)
	node := e.waitIdleNode(t, c, bc, s.pool)
	start := time.Now().Add(-time.Hour)
	id := &azbatch.NodeIdentityReference{ResourceID: to.Ptr(s.identityID)}
	res, err := bc.UploadNodeLogs(c, s.pool, *node.ID, azbatch.UploadNodeLogsContent{
		ContainerURL: to.Ptr(blobEndpoint + "/nodelogs"), StartTime: &start, IdentityReference: id}, nil)
	if err != nil {
		t.Fatalf("upload with the identity: %v", err)
	}
	dir := *res.VirtualDirectoryName
	if !strings.HasPrefix(dir, s.pool+"/"+*node.ID+"/") || *res.NumberOfFilesUploaded < 1 {
		t.Fatalf("result: %s, %d files", dir, *res.NumberOfFilesUploaded)
	}
	names := listBlobs(t, c, bl, "nodelogs", dir+"/")
	if len(names) != int(*res.NumberOfFilesUploaded) {
		t.Fatalf("blobs under %s: %q, answer counted %d", dir, names, *res.NumberOfFilesUploaded)
	}
	var all string
	for _, n := range names {
		all += download(t, c, bl, "nodelogs", n)
	}
	if !strings.Contains(all, "node registered") {
		t.Errorf("the uploaded service log does not say the node registered:\n%s", all)
	}
	if strings.Contains(all, *keys.Keys[0].Value) || strings.Contains(strings.ToLower(all), "bearer ") {
		t.Errorf("the service log holds a secret")
	}

	// No role on "norole": storage's 403 comes back as Batch's error.
	_, err = bc.UploadNodeLogs(c, s.pool, *node.ID, azbatch.UploadNodeLogsContent{
		ContainerURL: to.Ptr(blobEndpoint + "/norole"), StartTime: &start, IdentityReference: id}, nil)
	if re := (*azcore.ResponseError)(nil); !errors.As(err, &re) || re.StatusCode != 409 || re.ErrorCode != "FileUploadMiscError" ||
		!strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "/norole") {
		t.Errorf("upload without a role: %v", err)
	}
	if got := listBlobs(t, c, bl, "norole", ""); len(got) != 0 {
		t.Errorf("norole holds %q", got)
	}

	// An identity the pool does not carry is refused before the node is asked.
	other := strings.TrimSuffix(s.identityID, "/") + "x"
	_, err = bc.UploadNodeLogs(c, s.pool, *node.ID, azbatch.UploadNodeLogsContent{
		ContainerURL: to.Ptr(blobEndpoint + "/nodelogs"), StartTime: &start,
		IdentityReference: &azbatch.NodeIdentityReference{ResourceID: to.Ptr(other)}}, nil)
	if re := (*azcore.ResponseError)(nil); !errors.As(err, &re) || re.StatusCode != 400 {
		t.Errorf("upload with a foreign identity: %v", err)
	}

	// A SAS for "sasother" pointed at "sasdest" writes nothing there.
	sasFor := func(cont string) string {
		u, err := bl.ServiceClient().NewContainerClient(cont).GetSASURL(sas.ContainerPermissions{Create: true, Write: true},
			time.Now().Add(time.Hour), nil)
		if err != nil {
			t.Fatal(err)
		}
		_, q, _ := strings.Cut(u, "?")
		return q
	}
	_, err = bc.UploadNodeLogs(c, s.pool, *node.ID, azbatch.UploadNodeLogsContent{
		ContainerURL: to.Ptr(blobEndpoint + "/sasdest?" + sasFor("sasother")), StartTime: &start}, nil)
	if re := (*azcore.ResponseError)(nil); !errors.As(err, &re) || re.ErrorCode != "FileUploadMiscError" || !strings.Contains(err.Error(), "403") {
		t.Errorf("upload with another container's SAS: %v", err)
	}
	if strings.Contains(err.Error(), "sig=") {
		t.Errorf("the error shows the SAS: %v", err)
	}
	if got := append(listBlobs(t, c, bl, "sasdest", ""), listBlobs(t, c, bl, "sasother", "")...); len(got) != 0 {
		t.Errorf("a wrong SAS wrote %q", got)
	}
	res, err = bc.UploadNodeLogs(c, s.pool, *node.ID, azbatch.UploadNodeLogsContent{
		ContainerURL: to.Ptr(blobEndpoint + "/sasdest?" + sasFor("sasdest")), StartTime: &start}, nil)
	if err != nil {
		t.Fatalf("upload with the SAS: %v", err)
	}
	if got := listBlobs(t, c, bl, "sasdest", *res.VirtualDirectoryName+"/"); len(got) != int(*res.NumberOfFilesUploaded) || len(got) == 0 {
		t.Errorf("sasdest holds %q, answer counted %d", got, *res.NumberOfFilesUploaded)
	}

	// @azure/batch uploads with a SAS too.
	var fromNode struct {
		Dir   string `json:"virtualDirectoryName"`
		Files int    `json:"numberOfFilesUploaded"`
	}
	e.node("nodelogs.js", map[string]any{"resourceGroup": s.rg, "endpoint": s.endpoint, "pool": s.pool, "node": *node.ID,
		"containerUrl": blobEndpoint + "/sasdest?" + sasFor("sasdest"), "startTime": start.Format(time.RFC3339)}, &fromNode)
	if got := listBlobs(t, c, bl, "sasdest", fromNode.Dir+"/"); fromNode.Dir == *res.VirtualDirectoryName || fromNode.Files < 1 || len(got) != fromNode.Files {
		t.Errorf("@azure/batch upload: %+v; sasdest holds %q under it", fromNode, got)
	}
}

// listBlobs lists the blob names of a container under prefix.
func listBlobs(t *testing.T, c context.Context, bl *azblob.Client, cont, prefix string) []string {
	t.Helper()
	var names []string
	opts := &azblob.ListBlobsFlatOptions{}
	if prefix != "" {
		opts.Prefix = &prefix
	}
	pager := bl.NewListBlobsFlatPager(cont, opts)
	for pager.More() {
		page, err := pager.NextPage(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range page.Segment.BlobItems {
			names = append(names, *b.Name)
		}
	}
	return names
}
