package blob

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/bearer"
	"github.com/cobaltbatch/cobalt/internal/blob/blobtest"
	"github.com/cobaltbatch/cobalt/internal/login"
	"github.com/cobaltbatch/cobalt/internal/pki/pkitest"
	"github.com/cobaltbatch/cobalt/internal/rbac"
	"github.com/cobaltbatch/cobalt/internal/store/sqlite"
)

const testTenant = "8f2b6a4e-3c1d-4e5f-9a7b-1c2d3e4f5a6b"

// entraEnv is a blob service with a real login service and RBAC authorizer on one store.
type entraEnv struct {
	*env
	login     *login.Service
	authority string
	authz     *rbac.Authorizer
}

type principal struct {
	cobalt.Principal
	secret string
}

func newEntraEnv(t *testing.T, opts ...envOption) *entraEnv {
	t.Helper()
	ctx := context.Background()
	ca := pkitest.NewCA(t)
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "cobalt.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	lsrv := httptest.NewUnstartedServer(nil)
	lsrv.TLS = ca.ServerTLSConfig()
	authority := "https://" + lsrv.Listener.Addr().String()
	seal := make([]byte, 32)
	_, _ = rand.Read(seal)
	ls, err := login.New(ctx, login.Config{Store: st, AuthorityURL: authority, SealKey: seal})
	if err != nil {
		t.Fatal(err)
	}
	lsrv.Config.Handler = ls.Handler()
	lsrv.StartTLS()
	t.Cleanup(lsrv.Close)
	v := bearer.New(bearer.Config{Keys: ls, TenantID: testTenant, Issuers: []string{ls.IssuerV1(testTenant), ls.IssuerV2(testTenant)}})
	az := rbac.New(rbac.Config{Store: st})
	e := newEnvOn(t, st, dir, ca, append([]envOption{func(c *Config) {
		c.Validator, c.Authz, c.AuthorityURL, c.TenantID = v, az, authority, testTenant
	}}, opts...)...)
	return &entraEnv{env: e, login: ls, authority: authority, authz: az}
}

func (e *entraEnv) principal(t *testing.T, name string) principal {
	t.Helper()
	p, secret, err := e.login.CreateServicePrincipal(context.Background(), testTenant, name)
	if err != nil {
		t.Fatal(err)
	}
	return principal{p, secret}
}

func (e *entraEnv) assign(t *testing.T, p principal, role, scope string) {
	t.Helper()
	id, err := cobalt.ParseResourceID(scope)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.authz.Assign(context.Background(), rbac.RoleAssignmentInput{Scope: id, RoleDefinitionID: role, PrincipalID: p.ObjectID}); err != nil {
		t.Fatal(err)
	}
}

func (e *entraEnv) credential(t *testing.T, p principal) *azidentity.ClientSecretCredential {
	t.Helper()
	cred, err := azidentity.NewClientSecretCredential(testTenant, p.ClientID, p.secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: e.authority + "/"}, Transport: e.httpClient()},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

func (e *entraEnv) tokenClient(t *testing.T, p principal) *azblob.Client {
	t.Helper()
	c, err := azblob.NewClient(e.AccountURL, e.credential(t, p), e.clientOptions())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func accountScope() string {
	a, _ := fixedAccounts{}.StorageAccount(context.Background(), testAccount)
	return a.ID.String()
}

// TestSDKBearer runs the client scenario with a token of a principal that has
// Storage Blob Data Contributor on the account, then checks that a principal
// without a role gets 403 AuthorizationPermissionMismatch and that Storage
// Blob Data Reader (at container scope) reads but cannot write.
func TestSDKBearer(t *testing.T) {
	t.Parallel()
	e := newEntraEnv(t)
	ctx := context.Background()
	contrib, reader, nobody := e.principal(t, "contributor"), e.principal(t, "reader"), e.principal(t, "nobody")
	e.assign(t, contrib, rbac.RoleStorageBlobDataContributor, accountScope())
	e.assign(t, reader, rbac.RoleStorageBlobDataReader, accountScope()+"/blobServices/default/containers/shared")

	blobtest.Exercise(t, e.tokenClient(t, contrib), "bearer")

	cc := e.tokenClient(t, contrib)
	if _, err := cc.CreateContainer(ctx, "shared", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := cc.UploadBuffer(ctx, "shared", "f.txt", []byte("data"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := cc.CreateContainer(ctx, "private", nil); err != nil {
		t.Fatal(err)
	}

	rc := e.tokenClient(t, reader)
	buf := make([]byte, 4)
	if _, err := rc.DownloadBuffer(ctx, "shared", "f.txt", buf, nil); err != nil || string(buf) != "data" {
		t.Fatalf("reader download: %q %v", buf, err)
	}
	if _, err := rc.NewListBlobsFlatPager("shared", nil).NextPage(ctx); err != nil {
		t.Fatalf("reader list: %v", err)
	}
	for what, err := range map[string]error{
		"reader upload":          second(rc.UploadBuffer(ctx, "shared", "g.txt", []byte("x"), nil)),
		"reader delete":          second(rc.DeleteBlob(ctx, "shared", "f.txt", nil)),
		"reader create":          second(rc.CreateContainer(ctx, "readers", nil)),
		"reader other container": second(rc.DownloadBuffer(ctx, "private", "f.txt", buf, nil)),
		"nobody download":        second(e.tokenClient(t, nobody).DownloadBuffer(ctx, "shared", "f.txt", buf, nil)),
		"nobody HEAD":            second(e.tokenClient(t, nobody).ServiceClient().NewContainerClient("shared").NewBlobClient("f.txt").GetProperties(ctx, nil)),
	} {
		if !bloberror.HasCode(err, bloberror.AuthorizationPermissionMismatch) {
			t.Errorf("%s: %v, want 403 AuthorizationPermissionMismatch", what, err)
		}
		var re *azcore.ResponseError
		if errors.As(err, &re) && re.StatusCode != http.StatusForbidden {
			t.Errorf("%s: status %d", what, re.StatusCode)
		}
	}
}

func second[T any](_ T, err error) error { return err }

// TestBearerChallenge checks the 401 answers and their WWW-Authenticate challenge.
func TestBearerChallenge(t *testing.T) {
	t.Parallel()
	e := newEntraEnv(t)
	p := e.principal(t, "p")
	e.assign(t, p, rbac.RoleStorageBlobDataOwner, accountScope())
	ctx := context.Background()
	mgmt, err := e.credential(t, p).GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://management.azure.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	storage, err := e.credential(t, p).GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://storage.azure.com/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	wantChallenge := "Bearer authorization_uri=" + e.authority + "/" + testTenant + "/oauth2/authorize resource_id=https://storage.azure.com"
	for _, tc := range []struct {
		name, auth, version string
		status              int
		code                string
	}{
		{"no credentials", "", "2026-12-06", 401, codeNoAuthInfo},
		{"garbage token", "Bearer abc.def.ghi", "2026-12-06", 401, codeInvalidAuthInfo},
		{"wrong audience", "Bearer " + mgmt.Token, "2026-12-06", 401, codeInvalidAuthInfo},
		{"old version", "Bearer " + storage.Token, "2017-07-29", 403, codeAuthFailed},
		{"unknown scheme", "Basic dXNlcjpwYXNz", "2026-12-06", 400, codeInvalidAuthInfo},
		{"bad shared key", "SharedKey acct1:" + strings.Repeat("A", 43) + "=", "2026-12-06", 403, codeAuthFailed},
		{"good token", "Bearer " + storage.Token, "2026-12-06", 404, codeContainerNotFound},
		{"good token oldest version", "Bearer " + storage.Token, "2017-11-09", 404, codeContainerNotFound},
	} {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			req, _ := http.NewRequest(method, e.AccountURL+"/nosuch?restype=container&comp=list", nil)
			if method == http.MethodHead {
				req.URL.RawQuery = "restype=container"
			}
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			req.Header.Set("x-ms-version", tc.version)
			resp, err := e.httpClient().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || resp.Header.Get("x-ms-error-code") != tc.code {
				t.Errorf("%s %s: %d %s, want %d %s (%s)", tc.name, method, resp.StatusCode, resp.Header.Get("x-ms-error-code"), tc.status, tc.code, body)
			}
			if method == http.MethodGet && !strings.Contains(string(body), "<Code>"+tc.code+"</Code>") {
				t.Errorf("%s: body %s", tc.name, body)
			}
			if tc.status == 401 && resp.Header.Get("WWW-Authenticate") != wantChallenge {
				t.Errorf("%s: WWW-Authenticate %q, want %q", tc.name, resp.Header.Get("WWW-Authenticate"), wantChallenge)
			}
		}
	}
}

// TestSDKUserDelegationSAS gets a user delegation key with a token and uses
// SAS URLs signed with it: they carry the SAS permissions and, at use, the
// delegator's current RBAC rights.
func TestSDKUserDelegationSAS(t *testing.T) {
	t.Parallel()
	e := newEntraEnv(t)
	ctx := context.Background()
	contrib, reader, nobody := e.principal(t, "contributor"), e.principal(t, "reader"), e.principal(t, "nobody")
	e.assign(t, contrib, rbac.RoleStorageBlobDataContributor, accountScope())
	e.assign(t, reader, rbac.RoleStorageBlobDataReader, accountScope())
	c := e.tokenClient(t, contrib)
	if _, err := c.CreateContainer(ctx, "udk", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UploadBuffer(ctx, "udk", "f.txt", []byte("delegated"), nil); err != nil {
		t.Fatal(err)
	}
	info := service.KeyInfo{Start: to.Ptr(time.Now().UTC().Add(-time.Minute).Format(sas.TimeFormat)), Expiry: to.Ptr(time.Now().UTC().Add(time.Hour).Format(sas.TimeFormat))}
	sasFor := func(p principal, perms string) string {
		udc, err := e.tokenClient(t, p).ServiceClient().GetUserDelegationCredential(ctx, info, nil)
		if err != nil {
			t.Fatalf("get user delegation key: %v", err)
		}
		q, err := sas.BlobSignatureValues{ContainerName: "udk", ExpiryTime: time.Now().Add(time.Hour), Permissions: perms}.SignWithUserDelegation(udc)
		if err != nil {
			t.Fatal(err)
		}
		return q.Encode()
	}
	client := func(q string) *container.Client {
		cc, err := container.NewClientWithNoCredential(e.AccountURL+"/udk?"+q, &container.ClientOptions{ClientOptions: e.clientOptions().ClientOptions})
		if err != nil {
			t.Fatal(err)
		}
		return cc
	}
	buf := make([]byte, 9)
	if _, err := client(sasFor(contrib, "rwl")).NewBlobClient("f.txt").DownloadBuffer(ctx, buf, nil); err != nil || string(buf) != "delegated" {
		t.Fatalf("download with a user delegation SAS: %q %v", buf, err)
	}
	if _, err := client(sasFor(contrib, "rwl")).NewBlockBlobClient("g.txt").UploadBuffer(ctx, []byte("x"), nil); err != nil {
		t.Fatalf("upload with a contributor's user delegation SAS: %v", err)
	}
	// The reader's SAS grants writing, but the reader cannot write.
	readerSAS := sasFor(reader, "rwl")
	if _, err := client(readerSAS).NewBlobClient("f.txt").DownloadBuffer(ctx, buf, nil); err != nil {
		t.Fatalf("reader SAS download: %v", err)
	}
	if _, err := client(readerSAS).NewBlockBlobClient("h.txt").UploadBuffer(ctx, []byte("x"), nil); !bloberror.HasCode(err, bloberror.AuthorizationPermissionMismatch) {
		t.Fatalf("reader SAS upload: %v", err)
	}
	// No role, no key.
	_, err := e.tokenClient(t, nobody).ServiceClient().GetUserDelegationCredential(ctx, info, nil)
	if !bloberror.HasCode(err, bloberror.AuthorizationPermissionMismatch) {
		t.Fatalf("key for a principal without a role: %v", err)
	}
	// A tampered SAS fails.
	tampered := replaceParam(sasFor(contrib, "r"), "sp", "rwdl")
	if _, err := client(tampered).NewBlobClient("f.txt").DownloadBuffer(ctx, buf, nil); !bloberror.HasCode(err, bloberror.AuthenticationFailed) {
		t.Fatalf("tampered user delegation SAS: %v", err)
	}
}
