package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/storage/armstorage"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/cobaltbatch/cobalt/internal/server"
	"github.com/google/uuid"
)

// TestAzureHostnamesFromClients: the listener for Azure's public hostnames
// (what a node resolves them to) serves the official blob client at
// https://{account}.blob.core.windows.net with each of its credentials —
// SharedKey (signed over the host-style path), a SAS and a bearer token —
// and presents a certificate for that name from the installation's CA. The
// client's own dialer stands in for the node's DNS.
func TestAzureHostnamesFromClients(t *testing.T) {
	e := startWith(t, server.Options{Isolation: "process"})
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
	shared, err := azblob.NewSharedKeyCredential(s.storage, *keys.Keys[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	azureAddr := strings.TrimPrefix(e.Server.URL("azure"), "https://")
	pem, err := os.ReadFile(e.EP.CACertFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	// Every Azure name dials the listener; TLS checks the name itself.
	httpc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, azureAddr)
		}}}
	opts := &azblob.ClientOptions{ClientOptions: policy.ClientOptions{Transport: httpc, Retry: policy.RetryOptions{MaxRetries: -1}}}
	accountURL := "https://" + s.storage + ".blob.core.windows.net/"

	keyClient, err := azblob.NewClientWithSharedKeyCredential(accountURL, shared, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keyClient.CreateContainer(c, "hoststyle", nil); err != nil {
		t.Fatalf("SharedKey create container: %v", err)
	}
	if _, err := keyClient.UploadBuffer(c, "hoststyle", "dir/a b.txt", []byte("host-style"), nil); err != nil {
		t.Fatalf("SharedKey upload: %v", err)
	}
	if got := download(t, c, keyClient, "hoststyle", "dir/a b.txt"); got != "host-style" {
		t.Errorf("SharedKey download = %q", got)
	}
	pager := keyClient.NewListBlobsFlatPager("hoststyle", nil)
	page, err := pager.NextPage(c)
	if err != nil || len(page.Segment.BlobItems) != 1 || *page.Segment.BlobItems[0].Name != "dir/a b.txt" {
		t.Errorf("SharedKey list: %v", err)
	}

	// A service SAS signed with the key, used at the host-style URL.
	sasURL, err := keyClient.ServiceClient().NewContainerClient("hoststyle").NewBlobClient("dir/a b.txt").GetSASURL(
		sas.BlobPermissions{Read: true}, time.Now().Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, query, _ := strings.Cut(sasURL, "?")
	sasClient, err := azblob.NewClientWithNoCredential(accountURL+"?"+query, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := download(t, c, sasClient, "hoststyle", "dir/a b.txt"); got != "host-style" {
		t.Errorf("SAS download = %q", got)
	}

	// A bearer token for the identity, authorized by its role on the account.
	ras, err := armauthorization.NewRoleAssignmentsClient(e.EP.SubscriptionID, e.Admin(), e.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	storageID := "/subscriptions/" + e.EP.SubscriptionID + "/resourceGroups/" + s.rg + "/providers/Microsoft.Storage/storageAccounts/" + s.storage
	if _, err := ras.Create(c, storageID, uuid.NewString(), armauthorization.RoleAssignmentCreateParameters{
		Properties: &armauthorization.RoleAssignmentProperties{
			RoleDefinitionID: to.Ptr("/providers/Microsoft.Authorization/roleDefinitions/" + roleStorageBlobDataContributor),
			PrincipalID:      to.Ptr(e.adminObjectID(t, c)), PrincipalType: to.Ptr(armauthorization.PrincipalTypeServicePrincipal)}}, nil); err != nil {
		t.Fatal(err)
	}
	tokClient, err := azblob.NewClient(accountURL, e.Admin(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := download(t, c, tokClient, "hoststyle", "dir/a b.txt"); got != "host-style" {
		t.Errorf("bearer download = %q", got)
	}

	// A name Cobalt does not serve gets no certificate match and no content.
	req, _ := http.NewRequestWithContext(c, "GET", "https://example.com/", nil)
	if resp, err := httpc.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("example.com through the listener: %s, want a certificate error", resp.Status)
	}
}

// adminObjectID reads the admin's object ID from a token it gets.
func (e *env) adminObjectID(t *testing.T, c context.Context) string {
	t.Helper()
	tok, err := e.Admin().GetToken(c, policy.TokenRequestOptions{Scopes: []string{"https://storage.azure.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok.Token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		OID string `json:"oid"`
	}
	if err := json.Unmarshal(b, &claims); err != nil || claims.OID == "" {
		t.Fatalf("no oid in the admin's token: %v", err)
	}
	return claims.OID
}

func download(t *testing.T, c context.Context, cl *azblob.Client, cont, name string) string {
	t.Helper()
	r, err := cl.DownloadStream(c, cont, name, nil)
	if err != nil {
		t.Errorf("download %s/%s: %v", cont, name, err)
		return ""
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return string(b)
}
