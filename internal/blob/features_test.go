package blob

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
	"github.com/cobaltbatch/cobalt/internal/rbac"
)

// TestSDKContainerACL sets and gets stored access policies and the public
// access level, reads anonymously as Azure allows, and signs a service SAS
// with si= that works until its policy is removed.
func TestSDKContainerACL(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.sharedKeyClient(t)
	ctx := context.Background()
	must[azblob.CreateContainerResponse](t, "create")(c.CreateContainer(ctx, "acl", nil))
	must[azblob.UploadBufferResponse](t, "upload")(c.UploadBuffer(ctx, "acl", "f.txt", []byte("public data"), nil))
	cc := c.ServiceClient().NewContainerClient("acl")
	start, expiry := time.Now().UTC().Add(-time.Minute).Truncate(time.Second), time.Now().UTC().Add(time.Hour).Truncate(time.Second)
	must[container.SetAccessPolicyResponse](t, "set acl")(cc.SetAccessPolicy(ctx, &container.SetAccessPolicyOptions{
		Access: to.Ptr(container.PublicAccessTypeBlob),
		ContainerACL: []*container.SignedIdentifier{
			{ID: to.Ptr("readers"), AccessPolicy: &container.AccessPolicy{Start: &start, Expiry: &expiry, Permission: to.Ptr("rl")}},
			{ID: to.Ptr("open")},
		}}))
	got := must[container.GetAccessPolicyResponse](t, "get acl")(cc.GetAccessPolicy(ctx, nil))
	if got.BlobPublicAccess == nil || *got.BlobPublicAccess != container.PublicAccessTypeBlob || len(got.SignedIdentifiers) != 2 {
		t.Fatalf("acl %+v", got)
	}
	si := got.SignedIdentifiers[0]
	if *si.ID != "readers" || *si.AccessPolicy.Permission != "rl" || !si.AccessPolicy.Expiry.Equal(expiry) || !si.AccessPolicy.Start.Equal(start) {
		t.Fatalf("policy %+v %+v", *si.ID, *si.AccessPolicy)
	}

	anon := must[*azblob.Client](t, "anonymous client")(azblob.NewClientWithNoCredential(e.AccountURL, e.clientOptions()))
	if got := download(t, anon, "acl", "f.txt"); got != "public data" {
		t.Fatalf("anonymous read %q", got)
	}
	_, err := anon.NewListBlobsFlatPager("acl", nil).NextPage(ctx)
	wantCode(t, "anonymous list of a blob-level container", err, bloberror.NoAuthenticationInformation)
	_, err = anon.UploadBuffer(ctx, "acl", "g.txt", []byte("x"), nil)
	wantCode(t, "anonymous write", err, bloberror.NoAuthenticationInformation)
	must[container.SetAccessPolicyResponse](t, "container level")(cc.SetAccessPolicy(ctx, &container.SetAccessPolicyOptions{Access: to.Ptr(container.PublicAccessTypeContainer),
		ContainerACL: []*container.SignedIdentifier{{ID: to.Ptr("readers"), AccessPolicy: &container.AccessPolicy{Expiry: &expiry, Permission: to.Ptr("rl")}}}}))
	must[azblob.ListBlobsFlatResponse](t, "anonymous list")(anon.NewListBlobsFlatPager("acl", nil).NextPage(ctx))

	// A service SAS naming the stored policy.
	cred := must[*azblob.SharedKeyCredential](t, "cred")(azblob.NewSharedKeyCredential(testAccount, testKey1))
	qp := must[sas.QueryParameters](t, "sign")(sas.BlobSignatureValues{Protocol: sas.ProtocolHTTPS, ContainerName: "acl", BlobName: "f.txt", Identifier: "readers"}.SignWithSharedKey(cred))
	sasClient := must[*blob.Client](t, "sas client")(blob.NewClientWithNoCredential(e.AccountURL+"/acl/f.txt?"+qp.Encode(), &blob.ClientOptions{ClientOptions: e.clientOptions().ClientOptions}))
	must[blob.GetPropertiesResponse](t, "read with si")(sasClient.GetProperties(ctx, nil))
	// A SAS may not restate what its policy sets.
	both := must[sas.QueryParameters](t, "sign both")(sas.BlobSignatureValues{Protocol: sas.ProtocolHTTPS, ContainerName: "acl", BlobName: "f.txt", Identifier: "readers",
		Permissions: (&sas.BlobPermissions{Read: true, Write: true}).String()}.SignWithSharedKey(cred))
	bothClient := must[*blob.Client](t, "sas client")(blob.NewClientWithNoCredential(e.AccountURL+"/acl/f.txt?"+both.Encode(), &blob.ClientOptions{ClientOptions: e.clientOptions().ClientOptions}))
	_, err = bothClient.SetMetadata(ctx, map[string]*string{"a": to.Ptr("b")}, nil)
	wantCode(t, "SAS widening its policy", err, bloberror.AuthenticationFailed)
	unknown := must[sas.QueryParameters](t, "sign unknown")(sas.BlobSignatureValues{Protocol: sas.ProtocolHTTPS, ContainerName: "acl", BlobName: "f.txt", Identifier: "nobody"}.SignWithSharedKey(cred))
	_, err = must[*blob.Client](t, "sas client")(blob.NewClientWithNoCredential(e.AccountURL+"/acl/f.txt?"+unknown.Encode(), &blob.ClientOptions{ClientOptions: e.clientOptions().ClientOptions})).GetProperties(ctx, nil)
	wantCode(t, "SAS naming no policy", err, bloberror.AuthenticationFailed)
	_, err = sasClient.SetMetadata(ctx, map[string]*string{"a": to.Ptr("b")}, nil)
	wantCode(t, "write beyond the policy", err, bloberror.AuthorizationPermissionMismatch)
	// Removing the policy revokes the SAS.
	must[container.SetAccessPolicyResponse](t, "clear acl")(cc.SetAccessPolicy(ctx, nil))
	_, err = sasClient.GetProperties(ctx, nil)
	wantCode(t, "read after revocation", err, bloberror.AuthenticationFailed)
	if got := must[container.GetAccessPolicyResponse](t, "get acl")(cc.GetAccessPolicy(ctx, nil)); got.BlobPublicAccess != nil || len(got.SignedIdentifiers) != 0 {
		t.Fatalf("cleared acl %+v", got)
	}
	_, err = anon.DownloadStream(ctx, "acl", "f.txt", nil)
	wantCode(t, "anonymous read of a private container", err, bloberror.NoAuthenticationInformation)
	// Six policies are too many.
	var six []*container.SignedIdentifier
	for _, id := range []string{"a", "b", "c", "d", "e", "f"} {
		six = append(six, &container.SignedIdentifier{ID: to.Ptr(id), AccessPolicy: &container.AccessPolicy{Permission: to.Ptr("r")}})
	}
	_, err = cc.SetAccessPolicy(ctx, &container.SetAccessPolicyOptions{ContainerACL: six})
	wantCode(t, "six policies", err, bloberror.InvalidXMLDocument)
}

// TestContainerACLNeedsKey: the ACL is the account key holder's, as in Azure
// (Entra ID callers, even owners, get 403).
func TestContainerACLNeedsKey(t *testing.T) {
	t.Parallel()
	e := newEntraEnv(t)
	ctx := context.Background()
	owner := e.principal(t, "owner")
	e.assign(t, owner, rbac.RoleStorageBlobDataOwner, accountScope())
	oc := e.tokenClient(t, owner)
	must[azblob.CreateContainerResponse](t, "create")(oc.CreateContainer(ctx, "aclrbac", nil))
	_, err := oc.ServiceClient().NewContainerClient("aclrbac").SetAccessPolicy(ctx, &container.SetAccessPolicyOptions{Access: to.Ptr(container.PublicAccessTypeContainer)})
	wantCode(t, "set acl with a token", err, bloberror.AuthorizationPermissionMismatch)
	_, err = oc.ServiceClient().NewContainerClient("aclrbac").GetAccessPolicy(ctx, nil)
	wantCode(t, "get acl with a token", err, bloberror.AuthorizationPermissionMismatch)
}

// TestSDKServiceProperties sets, merges and reads the service properties and stats.
func TestSDKServiceProperties(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sc := e.sharedKeyClient(t).ServiceClient()
	ctx := context.Background()
	def := must[service.GetPropertiesResponse](t, "get default")(sc.GetProperties(ctx, nil))
	if def.Logging == nil || def.HourMetrics == nil || def.DeleteRetentionPolicy == nil || *def.DeleteRetentionPolicy.Enabled {
		t.Fatalf("defaults %+v", def)
	}
	must[service.SetPropertiesResponse](t, "set")(sc.SetProperties(ctx, &service.SetPropertiesOptions{
		DeleteRetentionPolicy: &service.RetentionPolicy{Enabled: to.Ptr(true), Days: to.Ptr[int32](7)},
		CORS: []*service.CORSRule{{AllowedOrigins: to.Ptr("https://portal.example"), AllowedMethods: to.Ptr("GET,PUT"), AllowedHeaders: to.Ptr("*"),
			ExposedHeaders: to.Ptr("x-ms-*"), MaxAgeInSeconds: to.Ptr[int32](60)}},
	}))
	must[service.SetPropertiesResponse](t, "set version")(sc.SetProperties(ctx, &service.SetPropertiesOptions{DefaultServiceVersion: to.Ptr("2021-08-06")}))
	got := must[service.GetPropertiesResponse](t, "get")(sc.GetProperties(ctx, nil))
	if !*got.DeleteRetentionPolicy.Enabled || *got.DeleteRetentionPolicy.Days != 7 || len(got.CORS) != 1 || *got.CORS[0].MaxAgeInSeconds != 60 ||
		got.DefaultServiceVersion == nil || *got.DefaultServiceVersion != "2021-08-06" {
		t.Fatalf("props %+v", got)
	}
	_, err := sc.SetProperties(ctx, &service.SetPropertiesOptions{DeleteRetentionPolicy: &service.RetentionPolicy{Enabled: to.Ptr(true), Days: to.Ptr[int32](400)}})
	wantCode(t, "retention of 400 days", err, bloberror.InvalidXMLDocument)
	st := must[service.GetStatisticsResponse](t, "stats")(sc.GetStatistics(ctx, nil))
	if st.GeoReplication == nil || *st.GeoReplication.Status != service.BlobGeoReplicationStatusLive || st.GeoReplication.LastSyncTime == nil {
		t.Fatalf("stats %+v", st)
	}
}

// TestSDKTierTagsFind sets tiers and index tags and finds blobs by tags on
// the service and a container.
func TestSDKTierTagsFind(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.sharedKeyClient(t)
	ctx := context.Background()
	for _, n := range []string{"photos", "videos"} {
		must[azblob.CreateContainerResponse](t, "create")(c.CreateContainer(ctx, n, nil))
	}
	put := func(cont, name string, tags map[string]string) {
		must[azblob.UploadBufferResponse](t, "upload "+name)(c.UploadBuffer(ctx, cont, name, []byte(name), &azblob.UploadBufferOptions{Tags: tags}))
	}
	put("photos", "cat.jpg", map[string]string{"animal": "cat", "year": "2021"})
	put("photos", "dog.jpg", map[string]string{"animal": "dog", "year": "2023"})
	put("videos", "dog.mp4", map[string]string{"animal": "dog", "year": "2024"})
	put("videos", "plain.mp4", nil)

	bc := c.ServiceClient().NewContainerClient("videos").NewBlobClient("plain.mp4")
	must[blob.SetTagsResponse](t, "set tags")(bc.SetTags(ctx, map[string]string{"animal": "dog", "project": "x y/z:1"}, nil))
	tags := must[blob.GetTagsResponse](t, "get tags")(bc.GetTags(ctx, nil))
	if len(tags.BlobTagSet) != 2 || *tags.BlobTagSet[0].Key != "animal" || *tags.BlobTagSet[1].Value != "x y/z:1" {
		t.Fatalf("tags %+v", tags.BlobTagSet)
	}
	_, err := bc.SetTags(ctx, map[string]string{"bad": "semi;colon"}, nil)
	wantCode(t, "invalid tag", err, "InvalidTag")
	if p := must[blob.GetPropertiesResponse](t, "props")(bc.GetProperties(ctx, nil)); *p.TagCount != 2 {
		t.Fatalf("tag count %v", p.TagCount)
	}

	// Tiers.
	if p := must[blob.GetPropertiesResponse](t, "props")(bc.GetProperties(ctx, nil)); *p.AccessTier != "Hot" || !*p.AccessTierInferred {
		t.Fatalf("default tier %v", *p.AccessTier)
	}
	must[blob.SetTierResponse](t, "cool")(bc.SetTier(ctx, blob.AccessTierCool, nil))
	p := must[blob.GetPropertiesResponse](t, "props")(bc.GetProperties(ctx, nil))
	if *p.AccessTier != string(blob.AccessTierCool) || p.AccessTierInferred != nil || p.AccessTierChangeTime == nil {
		t.Fatalf("tier %v %v", *p.AccessTier, p.AccessTierInferred)
	}
	must[blob.SetTierResponse](t, "archive")(bc.SetTier(ctx, blob.AccessTierArchive, nil))
	_, err = bc.DownloadStream(ctx, nil)
	wantCode(t, "read an archived blob", err, bloberror.BlobArchived)
	must[blob.SetTierResponse](t, "cold")(bc.SetTier(ctx, blob.AccessTierCold, nil))
	_, err = bc.SetTier(ctx, blob.AccessTierP10, nil)
	wantCode(t, "page blob tier", err, bloberror.InvalidBlobTier)
	page := must[azblob.ListBlobsFlatResponse](t, "list")(c.NewListBlobsFlatPager("videos", &azblob.ListBlobsFlatOptions{Include: azblob.ListBlobsInclude{Tags: true}}).NextPage(ctx))
	for _, it := range page.Segment.BlobItems {
		if *it.Name == "plain.mp4" && (*it.Properties.AccessTier != blob.AccessTierCold || it.BlobTags == nil || len(it.BlobTags.BlobTagSet) != 2) {
			t.Fatalf("listed %+v", it.Properties)
		}
	}

	names := func(items []*service.FilterBlobItem) []string {
		var out []string
		for _, it := range items {
			out = append(out, *it.ContainerName+"/"+*it.Name)
		}
		return out
	}
	sc := c.ServiceClient()
	for _, tc := range []struct {
		where string
		want  []string
	}{
		{`"animal" = 'dog'`, []string{"photos/dog.jpg", "videos/dog.mp4", "videos/plain.mp4"}},
		{`"animal" = 'dog' AND "year" >= '2024'`, []string{"videos/dog.mp4"}},
		{`year > '2021' and year < '2024'`, []string{"photos/dog.jpg"}},
		{`@container = 'photos' AND "animal" <= 'dog'`, []string{"photos/cat.jpg", "photos/dog.jpg"}},
		{`"animal" = 'fish'`, nil},
	} {
		r := must[service.FilterBlobsResponse](t, tc.where)(sc.FilterBlobs(ctx, tc.where, nil))
		if got := names(r.Blobs); !slices.Equal(got, tc.want) {
			t.Fatalf("%s: %v, want %v", tc.where, got, tc.want)
		}
	}
	// Paging, and the matched tags in the results.
	r := must[service.FilterBlobsResponse](t, "page 1")(sc.FilterBlobs(ctx, `"animal" = 'dog'`, &service.FilterBlobsOptions{MaxResults: to.Ptr[int32](2)}))
	if len(r.Blobs) != 2 || r.NextMarker == nil || *r.NextMarker == "" || len(r.Blobs[0].Tags.BlobTagSet) != 1 || *r.Blobs[0].Tags.BlobTagSet[0].Value != "dog" {
		t.Fatalf("page 1 %v", names(r.Blobs))
	}
	r = must[service.FilterBlobsResponse](t, "page 2")(sc.FilterBlobs(ctx, `"animal" = 'dog'`, &service.FilterBlobsOptions{Marker: r.NextMarker}))
	if got := names(r.Blobs); !slices.Equal(got, []string{"videos/plain.mp4"}) {
		t.Fatalf("page 2 %v", got)
	}
	cr := must[container.FilterBlobsResponse](t, "container find")(c.ServiceClient().NewContainerClient("videos").FilterBlobs(ctx, `"animal" = 'dog'`, nil))
	if got := names(cr.Blobs); !slices.Equal(got, []string{"videos/dog.mp4", "videos/plain.mp4"}) {
		t.Fatalf("container find %v", got)
	}
	_, err = sc.FilterBlobs(ctx, `"animal" == 'dog'`, nil)
	wantCode(t, "bad filter", err, bloberror.InvalidQueryParameterValue)
	_, err = c.ServiceClient().NewContainerClient("nosuch").FilterBlobs(ctx, `"a" = 'b'`, nil)
	wantCode(t, "find in a missing container", err, bloberror.ContainerNotFound)
}

// TestSDKBatch deletes and re-tiers blobs in batches; each subrequest is
// answered on its own.
func TestSDKBatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.sharedKeyClient(t)
	ctx := context.Background()
	must[azblob.CreateContainerResponse](t, "create")(c.CreateContainer(ctx, "batch", nil))
	for _, n := range []string{"a", "b", "c", "d"} {
		must[azblob.UploadBufferResponse](t, "upload")(c.UploadBuffer(ctx, "batch", n, []byte(n), nil))
	}
	sc := c.ServiceClient()
	bb := must[*service.BatchBuilder](t, "builder")(sc.NewBatchBuilder())
	for _, n := range []string{"a", "b", "missing"} {
		if err := bb.Delete("batch", n, nil); err != nil {
			t.Fatal(err)
		}
	}
	resp := must[service.SubmitBatchResponse](t, "submit delete")(sc.SubmitBatch(ctx, bb, nil))
	if len(resp.Responses) != 3 || resp.Responses[0].Error != nil || resp.Responses[1].Error != nil || !bloberror.HasCode(resp.Responses[2].Error, bloberror.BlobNotFound) {
		t.Fatalf("delete batch %+v", resp.Responses)
	}
	for _, n := range []string{"a", "b"} {
		if _, err := sc.NewContainerClient("batch").NewBlobClient(n).GetProperties(ctx, nil); !bloberror.HasCode(err, bloberror.BlobNotFound) {
			t.Fatalf("%s survived the batch: %v", n, err)
		}
	}
	cc := sc.NewContainerClient("batch")
	tb := must[*container.BatchBuilder](t, "container builder")(cc.NewBatchBuilder())
	for _, n := range []string{"c", "d"} {
		if err := tb.SetTier(n, blob.AccessTierCool, nil); err != nil {
			t.Fatal(err)
		}
	}
	cresp := must[container.SubmitBatchResponse](t, "submit tier")(cc.SubmitBatch(ctx, tb, nil))
	for _, r := range cresp.Responses {
		if r.Error != nil {
			t.Fatalf("tier subrequest: %v", r.Error)
		}
	}
	if p := must[blob.GetPropertiesResponse](t, "props")(cc.NewBlobClient("d").GetProperties(ctx, nil)); *p.AccessTier != string(blob.AccessTierCool) {
		t.Fatalf("tier after batch %v", *p.AccessTier)
	}
}

// TestBatchRBAC: each subrequest is authorized with its own token; one the
// caller may not perform fails alone with 403.
func TestBatchRBAC(t *testing.T) {
	t.Parallel()
	e := newEntraEnv(t)
	ctx := context.Background()
	admin := e.sharedKeyClient(t)
	must[azblob.CreateContainerResponse](t, "create")(admin.CreateContainer(ctx, "mine", nil))
	must[azblob.CreateContainerResponse](t, "create")(admin.CreateContainer(ctx, "theirs", nil))
	for _, cn := range []string{"mine", "theirs"} {
		must[azblob.UploadBufferResponse](t, "upload")(admin.UploadBuffer(ctx, cn, "f", []byte("x"), nil))
	}
	p := e.principal(t, "deleter")
	e.assign(t, p, rbac.RoleStorageBlobDataContributor, accountScope()+"/blobServices/default/containers/mine")
	e.assign(t, p, rbac.RoleStorageBlobDataReader, accountScope()+"/blobServices/default/containers/theirs")
	sc := e.tokenClient(t, p).ServiceClient()
	bb := must[*service.BatchBuilder](t, "builder")(sc.NewBatchBuilder())
	_ = bb.Delete("mine", "f", nil)
	_ = bb.Delete("theirs", "f", nil)
	resp := must[service.SubmitBatchResponse](t, "submit")(sc.SubmitBatch(ctx, bb, nil))
	if len(resp.Responses) != 2 || resp.Responses[0].Error != nil || !bloberror.HasCode(resp.Responses[1].Error, bloberror.AuthorizationPermissionMismatch) {
		t.Fatalf("responses %+v %+v", resp.Responses[0], resp.Responses[1])
	}
	if _, err := admin.ServiceClient().NewContainerClient("theirs").NewBlobClient("f").GetProperties(ctx, nil); err != nil {
		t.Fatalf("the unauthorized delete happened: %v", err)
	}
	// A subrequest without credentials fails even in a batch with them.
	body := "--b1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 0\r\n\r\nDELETE /acct1/mine/f HTTP/1.1\r\nContent-Length: 0\r\n\r\n--b1--\r\n"
	tok := must[string](t, "token")(func() (string, error) {
		at, err := e.credential(t, p).GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://storage.azure.com/.default"}})
		return at.Token, err
	}())
	must[azblob.UploadBufferResponse](t, "upload")(admin.UploadBuffer(ctx, "mine", "f", []byte("x"), nil))
	r := e.do(t, http.MethodPost, "/acct1/?comp=batch", map[string]string{"Authorization": "Bearer " + tok, "Content-Type": "multipart/mixed; boundary=b1"},
		strings.NewReader(body), int64(len(body)), false)
	if r.status != http.StatusAccepted || !strings.Contains(r.body, "HTTP/1.1 401") || !strings.Contains(r.body, "NoAuthenticationInformation") {
		t.Fatalf("anonymous subrequest: %d %s", r.status, r.body)
	}
	if _, err := admin.ServiceClient().NewContainerClient("mine").NewBlobClient("f").GetProperties(ctx, nil); err != nil {
		t.Fatalf("the anonymous delete happened: %v", err)
	}
	// Subrequests must stay in the batch's account, and be deletes or tier changes.
	for _, sub := range []string{"DELETE /acct2/mine/f HTTP/1.1", "PUT /acct1/mine/f HTTP/1.1", "POST /acct1/?comp=batch HTTP/1.1", "DELETE http://169.254.169.254/x HTTP/1.1"} {
		body := "--b1\r\nContent-Type: application/http\r\nContent-ID: 0\r\n\r\n" + sub + "\r\nAuthorization: Bearer " + tok + "\r\n\r\n--b1--\r\n"
		r := e.do(t, http.MethodPost, "/acct1/?comp=batch", map[string]string{"Authorization": "Bearer " + tok, "Content-Type": "multipart/mixed; boundary=b1"},
			strings.NewReader(body), int64(len(body)), false)
		if r.status != http.StatusBadRequest || r.code != "InvalidInput" {
			t.Fatalf("subrequest %q: %d %s", sub, r.status, r.code)
		}
	}
}

// TestSDKListStartFromAndUnknownComp lists from a name with startFrom, and
// checks that an unsupported comp on a missing container is ContainerNotFound.
func TestSDKListStartFromAndUnknownComp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.sharedKeyClient(t)
	ctx := context.Background()
	must[azblob.CreateContainerResponse](t, "create")(c.CreateContainer(ctx, "from", nil))
	for _, n := range []string{"a", "b", "c", "d"} {
		must[azblob.UploadBufferResponse](t, "upload")(c.UploadBuffer(ctx, "from", n, []byte(n), &azblob.UploadBufferOptions{Tags: map[string]string{"n": n}}))
	}
	var got []string
	pager := c.NewListBlobsFlatPager("from", &azblob.ListBlobsFlatOptions{StartFrom: to.Ptr("b"), MaxResults: to.Ptr[int32](2)})
	for pager.More() {
		page := must[azblob.ListBlobsFlatResponse](t, "list")(pager.NextPage(ctx))
		for _, it := range page.Segment.BlobItems {
			got = append(got, *it.Name)
		}
	}
	if !slices.Equal(got, []string{"b", "c", "d"}) {
		t.Fatalf("startFrom b: %v", got)
	}
	r := e.do(t, http.MethodGet, "/acct1/nosuch?restype=container&comp=pagelist", nil, nil, 0, true)
	if r.status != http.StatusNotFound || r.code != "ContainerNotFound" {
		t.Fatalf("unknown comp on a missing container: %d %s", r.status, r.code)
	}
	r = e.do(t, http.MethodGet, "/acct1/nosuch/blob?comp=pagelist", nil, nil, 0, true)
	if r.status != http.StatusNotFound || r.code != "ContainerNotFound" {
		t.Fatalf("unknown blob comp in a missing container: %d %s", r.status, r.code)
	}
	r = e.do(t, http.MethodGet, "/acct1/from?restype=container&comp=pagelist", nil, nil, 0, true)
	if r.status != http.StatusBadRequest || r.code != "InvalidQueryParameterValue" {
		t.Fatalf("unknown comp on a container: %d %s", r.status, r.code)
	}
	// An append blob is created empty.
	body := "abc"
	r = e.do(t, http.MethodPut, "/acct1/from/ap", map[string]string{"x-ms-blob-type": "AppendBlob"}, strings.NewReader(body), 3, true)
	if r.status != http.StatusBadRequest || r.code != "InvalidHeaderValue" {
		t.Fatalf("append blob with a body: %d %s", r.status, r.code)
	}
	r = e.do(t, http.MethodPut, "/acct1/from/new", map[string]string{"x-ms-blob-type": "BlockBlob", "x-ms-lease-id": "5a8f7c1e-0000-4000-8000-000000000001"}, nil, 0, true)
	if r.status != http.StatusPreconditionFailed || r.code != "LeaseNotPresentWithBlobOperation" {
		t.Fatalf("new blob with a lease ID: %d %s", r.status, r.code)
	}
	r = e.do(t, http.MethodPut, "/acct1/from/pg", map[string]string{"x-ms-blob-type": "PageBlob"}, nil, 0, true)
	if r.status != http.StatusBadRequest || r.code != "InvalidHeaderValue" {
		t.Fatalf("page blob: %d %s", r.status, r.code)
	}
	// Bad lease requests get the protocol's answers.
	for _, tc := range []struct {
		hdr    map[string]string
		status int
		code   string
	}{
		{map[string]string{}, 400, "MissingRequiredHeader"},
		{map[string]string{"x-ms-lease-action": "acquire"}, 400, "MissingRequiredHeader"},
		{map[string]string{"x-ms-lease-action": "acquire", "x-ms-lease-duration": "5"}, 400, "InvalidHeaderValue"},
		{map[string]string{"x-ms-lease-action": "acquire", "x-ms-lease-duration": "15", "x-ms-proposed-lease-id": "nope"}, 400, "InvalidHeaderValue"},
		{map[string]string{"x-ms-lease-action": "renew"}, 400, "MissingRequiredHeader"},
		{map[string]string{"x-ms-lease-action": "release", "x-ms-lease-id": "5a8f7c1e-0000-4000-8000-000000000001"}, 409, "LeaseNotPresentWithLeaseOperation"},
		{map[string]string{"x-ms-lease-action": "steal"}, 400, "InvalidHeaderValue"},
	} {
		r := e.do(t, http.MethodPut, "/acct1/from/a?comp=lease", tc.hdr, nil, 0, true)
		if r.status != tc.status || r.code != tc.code {
			t.Fatalf("lease %v: %d %s, want %d %s", tc.hdr, r.status, r.code, tc.status, tc.code)
		}
	}
}

// TestTagsRBAC: tags have their own data actions; Storage Blob Data
// Contributor lacks them (as in Azure), Owner has them.
func TestTagsRBAC(t *testing.T) {
	t.Parallel()
	e := newEntraEnv(t)
	ctx := context.Background()
	admin := e.sharedKeyClient(t)
	must[azblob.CreateContainerResponse](t, "create")(admin.CreateContainer(ctx, "tagged", nil))
	must[azblob.UploadBufferResponse](t, "upload")(admin.UploadBuffer(ctx, "tagged", "f", []byte("x"), &azblob.UploadBufferOptions{Tags: map[string]string{"k": "v"}}))
	contrib, owner := e.principal(t, "contrib"), e.principal(t, "owner")
	e.assign(t, contrib, rbac.RoleStorageBlobDataContributor, accountScope())
	e.assign(t, owner, rbac.RoleStorageBlobDataOwner, accountScope())
	cb := e.tokenClient(t, contrib).ServiceClient().NewContainerClient("tagged").NewBlobClient("f")
	_, err := cb.GetTags(ctx, nil)
	wantCode(t, "contributor reads tags", err, bloberror.AuthorizationPermissionMismatch)
	_, err = cb.SetTags(ctx, map[string]string{"k": "stolen"}, nil)
	wantCode(t, "contributor writes tags", err, bloberror.AuthorizationPermissionMismatch)
	_, err = e.tokenClient(t, contrib).ServiceClient().FilterBlobs(ctx, `"k" = 'v'`, nil)
	wantCode(t, "contributor finds by tags", err, bloberror.AuthorizationPermissionMismatch)
	ob := e.tokenClient(t, owner).ServiceClient().NewContainerClient("tagged").NewBlobClient("f")
	must[blob.SetTagsResponse](t, "owner writes tags")(ob.SetTags(ctx, map[string]string{"k": "w"}, nil))
	r := must[service.FilterBlobsResponse](t, "owner finds")(e.tokenClient(t, owner).ServiceClient().FilterBlobs(ctx, `"k" = 'w'`, nil))
	if len(r.Blobs) != 1 {
		t.Fatalf("owner found %d", len(r.Blobs))
	}
}
