package blob

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
	"github.com/cobaltbatch/cobalt/internal/rbac"
)

// TestSharedKeyAccessDisabled checks an account whose allowSharedKeyAccess is
// false: SharedKey, service SAS and account SAS are refused with Azure's 403
// KeyBasedAuthenticationNotPermitted, while a bearer token and a user
// delegation SAS still work.
func TestSharedKeyAccessDisabled(t *testing.T) {
	t.Parallel()
	e := newEntraEnv(t, func(c *Config) { c.Accounts = fixedAccounts{noSharedKey: true} })
	ctx := context.Background()
	p := e.principal(t, "owner")
	e.assign(t, p, rbac.RoleStorageBlobDataOwner, accountScope())
	bc := e.tokenClient(t, p)
	if _, err := bc.CreateContainer(ctx, "ctr", nil); err != nil {
		t.Fatalf("create a container with a token: %v", err)
	}
	if _, err := bc.UploadBuffer(ctx, "ctr", "f.txt", []byte("data"), nil); err != nil {
		t.Fatalf("upload with a token: %v", err)
	}

	notPermitted := func(what string, err error) {
		t.Helper()
		if !bloberror.HasCode(err, "KeyBasedAuthenticationNotPermitted") {
			t.Errorf("%s: %v, want 403 KeyBasedAuthenticationNotPermitted", what, err)
		}
	}
	_, err := e.sharedKeyClient(t).ServiceClient().NewContainerClient("ctr").GetProperties(ctx, nil)
	notPermitted("SharedKey", err)

	cred, err := azblob.NewSharedKeyCredential(testAccount, testKey1)
	if err != nil {
		t.Fatal(err)
	}
	svcSAS, err := sas.BlobSignatureValues{ContainerName: "ctr", ExpiryTime: time.Now().Add(time.Hour), Permissions: "rl"}.SignWithSharedKey(cred)
	if err != nil {
		t.Fatal(err)
	}
	noCred := func(q string) *container.Client {
		cc, err := container.NewClientWithNoCredential(e.AccountURL+"/ctr?"+q, &container.ClientOptions{ClientOptions: e.clientOptions().ClientOptions})
		if err != nil {
			t.Fatal(err)
		}
		return cc
	}
	buf := make([]byte, 4)
	_, err = noCred(svcSAS.Encode()).NewBlobClient("f.txt").DownloadBuffer(ctx, buf, nil)
	notPermitted("service SAS", err)
	acctSAS, err := sas.AccountSignatureValues{ExpiryTime: time.Now().Add(time.Hour), Permissions: "rl", ResourceTypes: "sco"}.SignWithSharedKey(cred)
	if err != nil {
		t.Fatal(err)
	}
	_, err = noCred(acctSAS.Encode()).NewBlobClient("f.txt").DownloadBuffer(ctx, buf, nil)
	notPermitted("account SAS", err)

	// The refusal is the documented status and body.
	req, _ := http.NewRequest("GET", e.AccountURL+"/ctr/f.txt?"+svcSAS.Encode(), nil)
	resp, err := e.httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(string(body), "<Code>KeyBasedAuthenticationNotPermitted</Code>") {
		t.Errorf("service SAS: %d %s", resp.StatusCode, body)
	}

	// A user delegation SAS is signed with a key derived for a principal, not
	// with an account key: it still works.
	info := service.KeyInfo{Start: to.Ptr(time.Now().UTC().Add(-time.Minute).Format(sas.TimeFormat)), Expiry: to.Ptr(time.Now().UTC().Add(time.Hour).Format(sas.TimeFormat))}
	udc, err := bc.ServiceClient().GetUserDelegationCredential(ctx, info, nil)
	if err != nil {
		t.Fatalf("user delegation key: %v", err)
	}
	udSAS, err := sas.BlobSignatureValues{ContainerName: "ctr", ExpiryTime: time.Now().Add(time.Hour), Permissions: "rl"}.SignWithUserDelegation(udc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := noCred(udSAS.Encode()).NewBlobClient("f.txt").DownloadBuffer(ctx, buf, nil); err != nil || string(buf) != "data" {
		t.Errorf("user delegation SAS: %q %v", buf, err)
	}
}

// TestBearerAudienceIgnoresHost checks that the account-URL audience comes
// from the configured endpoint: a token issued for another host's URL of the
// account is refused even when the request names that host.
func TestBearerAudienceIgnoresHost(t *testing.T) {
	t.Parallel()
	e := newEntraEnv(t)
	ctx := context.Background()
	p := e.principal(t, "p")
	e.assign(t, p, rbac.RoleStorageBlobDataOwner, accountScope())
	get := func(aud, host string) *http.Response {
		t.Helper()
		tok, err := e.credential(t, p).GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{aud + "/.default"}})
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("GET", e.AccountURL+"/nosuch?restype=container", nil)
		req.Host = host
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		req.Header.Set("x-ms-version", "2026-12-06")
		resp, err := e.httpClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	// The account's published URL is an audience.
	if resp := get(e.AccountURL, ""); resp.StatusCode != 404 || resp.Header.Get("x-ms-error-code") != codeContainerNotFound {
		t.Errorf("token for the account URL: %d %s, want 404 ContainerNotFound", resp.StatusCode, resp.Header.Get("x-ms-error-code"))
	}
	// A token for some other service's URL, replayed with that Host header.
	const other = "other.example:8443"
	if resp := get("https://"+other+"/"+testAccount, other); resp.StatusCode != 401 || resp.Header.Get("x-ms-error-code") != codeInvalidAuthInfo {
		t.Errorf("token for another host's URL: %d %s, want 401 InvalidAuthenticationInfo", resp.StatusCode, resp.Header.Get("x-ms-error-code"))
	}
}
