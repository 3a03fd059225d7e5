package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/rbac"
)

// client is a raw OCI client holding one access token.
type client struct {
	e     *env
	reg   cobalt.Registry
	token string
}

func (c *client) call(t testing.TB, method, path string, body []byte, hdr ...string) rawResp {
	t.Helper()
	req, err := http.NewRequest(method, "https://"+c.reg.LoginServer+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == nil {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return c.e.do(t, req)
}

// ociCode returns the first error code of an OCI error body.
func ociCode(body string) string {
	var v struct {
		Errors []struct{ Code string } `json:"errors"`
	}
	if json.Unmarshal([]byte(body), &v) != nil || len(v.Errors) == 0 {
		return ""
	}
	return v.Errors[0].Code
}

func expect(t testing.TB, what string, r rawResp, status int, code string) {
	t.Helper()
	if r.code != status || (code != "" && ociCode(r.body) != code) {
		t.Fatalf("%s: %d %s, want %d %s", what, r.code, r.body, status, code)
	}
}

// pushBlob uploads content monolithically and returns its digest.
func (c *client) pushBlob(t testing.TB, repo string, b []byte) string {
	t.Helper()
	d := digestOf(b)
	expect(t, "push blob", c.call(t, http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+d, b), http.StatusCreated, "")
	return d
}

// imageManifest returns an OCI image manifest of a config and layers.
func imageManifest(config []byte, layers ...[]byte) []byte {
	type desc struct {
		MediaType string `json:"mediaType"`
		Digest    string `json:"digest"`
		Size      int    `json:"size"`
	}
	m := map[string]any{"schemaVersion": 2, "mediaType": mtOCIManifest,
		"config": desc{"application/vnd.oci.image.config.v1+json", digestOf(config), len(config)}}
	ls := []desc{}
	for _, l := range layers {
		ls = append(ls, desc{"application/vnd.oci.image.layer.v1.tar", digestOf(l), len(l)})
	}
	m["layers"] = ls
	b, _ := json.Marshal(m)
	return b
}

// TestConformance exercises the specification's operations with raw HTTP:
// chunked uploads, mounts, manifests, tags pagination, catalog, deletes,
// ranges, referrers and the error codes.
func TestConformance(t *testing.T) {
	e := newEnv(t)
	reg := e.registry(t, "confreg", false)
	owner, pusher := e.principal(t, "owner"), e.principal(t, "pusher")
	e.assign(t, owner, rbac.RoleContributor, reg.ID)
	e.assign(t, pusher, rbac.RoleAcrPush, reg.ID)
	ort := e.refreshFor(t, reg, owner)
	// The GET form with repeated scopes.
	req, _ := http.NewRequest(http.MethodGet, "https://"+reg.LoginServer+"/oauth2/token?service="+url.QueryEscape(reg.LoginServer)+
		"&scope=repository:app/one:push,pull,delete&scope=repository:app/two:pull,push,delete&scope=registry:catalog:*&scope=repository:app/src:pull,push", nil)
	req.SetBasicAuth(nullGUID, ort)
	tr := e.do(t, req)
	var tok struct {
		AccessToken string `json:"access_token"`
		Token       string `json:"token"`
		ExpiresIn   int    `json:"expires_in"`
		IssuedAt    string `json:"issued_at"`
	}
	if tr.code != http.StatusOK || json.Unmarshal([]byte(tr.body), &tok) != nil || tok.AccessToken == "" || tok.Token != tok.AccessToken || tok.ExpiresIn <= 0 || tok.IssuedAt == "" {
		t.Fatalf("GET token: %d %s", tr.code, tr.body)
	}
	c := &client{e: e, reg: reg, token: tok.AccessToken}
	expect(t, "ping", c.call(t, http.MethodGet, "/v2/", nil), http.StatusOK, "")

	// Chunked upload: start, two chunks, status, an out-of-order chunk, finish.
	blob := detBytes(5, 300000)
	r := c.call(t, http.MethodPost, "/v2/app/one/blobs/uploads/", nil)
	expect(t, "start upload", r, http.StatusAccepted, "")
	loc := r.header.Get("Location")
	r = c.call(t, http.MethodPatch, loc, blob[:100000], "Content-Range", "0-99999", "Content-Type", "application/octet-stream")
	if r.code != http.StatusAccepted || r.header.Get("Range") != "0-99999" {
		t.Fatalf("chunk 1: %d %q %s", r.code, r.header.Get("Range"), r.body)
	}
	expect(t, "out-of-order chunk", c.call(t, http.MethodPatch, loc, blob[200000:], "Content-Range", "200000-299999"), http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID")
	expect(t, "bad Content-Range", c.call(t, http.MethodPatch, loc, blob[100000:200000], "Content-Range", "x-y"), http.StatusBadRequest, "BLOB_UPLOAD_INVALID")
	// A chunk without Content-Range (the streamed form) appends too.
	expect(t, "chunk 2", c.call(t, http.MethodPatch, loc, blob[100000:200000]), http.StatusAccepted, "")
	r = c.call(t, http.MethodGet, loc, nil)
	if r.code != http.StatusNoContent || r.header.Get("Range") != "0-199999" || r.header.Get("Docker-Upload-UUID") == "" {
		t.Fatalf("upload status: %d %q", r.code, r.header.Get("Range"))
	}
	expect(t, "finish with a wrong digest", c.call(t, http.MethodPut, loc+"?digest="+digestOf([]byte("x")), nil), http.StatusBadRequest, "DIGEST_INVALID")
	r = c.call(t, http.MethodPut, loc+"?digest="+digestOf(blob), blob[200000:], "Content-Range", "200000-299999")
	if r.code != http.StatusCreated || r.header.Get("Docker-Content-Digest") != digestOf(blob) || r.header.Get("Location") != "/v2/app/one/blobs/"+digestOf(blob) {
		t.Fatalf("finish upload: %d %v %s", r.code, r.header, r.body)
	}
	expect(t, "finished upload is gone", c.call(t, http.MethodGet, loc, nil), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
	// Blob GET, HEAD and Range.
	r = c.call(t, http.MethodHead, "/v2/app/one/blobs/"+digestOf(blob), nil)
	if r.code != http.StatusOK || r.header.Get("Content-Length") != "300000" || r.header.Get("Docker-Content-Digest") != digestOf(blob) || r.body != "" {
		t.Fatalf("HEAD blob: %d %v", r.code, r.header)
	}
	r = c.call(t, http.MethodGet, "/v2/app/one/blobs/"+digestOf(blob), nil, "Range", "bytes=1000-1999")
	if r.code != http.StatusPartialContent || r.body != string(blob[1000:2000]) {
		t.Fatalf("range GET: %d %d bytes", r.code, len(r.body))
	}
	// Monolithic uploads: POST+PUT, and a wrong digest.
	r = c.call(t, http.MethodPost, "/v2/app/one/blobs/uploads/", nil)
	cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
	expect(t, "monolithic PUT", c.call(t, http.MethodPut, r.header.Get("Location")+"?digest="+digestOf(cfg), cfg), http.StatusCreated, "")
	expect(t, "POST with a wrong digest", c.call(t, http.MethodPost, "/v2/app/one/blobs/uploads/?digest="+digestOf([]byte("y")), []byte("z")), http.StatusBadRequest, "DIGEST_INVALID")
	expect(t, "unsupported digest", c.call(t, http.MethodPost, "/v2/app/one/blobs/uploads/?digest=sha512:abcd", []byte("z")), http.StatusBadRequest, "DIGEST_INVALID")

	// Manifests: unknown blobs, invalid documents, then a good one by tag.
	expect(t, "manifest with an unknown layer", c.call(t, http.MethodPut, "/v2/app/one/manifests/v1", imageManifest(cfg, []byte("missing")), "Content-Type", mtOCIManifest), http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN")
	expect(t, "invalid JSON", c.call(t, http.MethodPut, "/v2/app/one/manifests/v1", []byte("{"), "Content-Type", mtOCIManifest), http.StatusBadRequest, "MANIFEST_INVALID")
	expect(t, "unknown media type", c.call(t, http.MethodPut, "/v2/app/one/manifests/v1", imageManifest(cfg, blob), "Content-Type", "text/plain"), http.StatusBadRequest, "MANIFEST_INVALID")
	expect(t, "media type mismatch", c.call(t, http.MethodPut, "/v2/app/one/manifests/v1", imageManifest(cfg, blob), "Content-Type", mtDockerManifest), http.StatusBadRequest, "MANIFEST_INVALID")
	man := imageManifest(cfg, blob)
	expect(t, "manifest by a wrong digest", c.call(t, http.MethodPut, "/v2/app/one/manifests/"+digestOf([]byte("q")), man, "Content-Type", mtOCIManifest), http.StatusBadRequest, "DIGEST_INVALID")
	r = c.call(t, http.MethodPut, "/v2/app/one/manifests/v1", man, "Content-Type", mtOCIManifest)
	if r.code != http.StatusCreated || r.header.Get("Docker-Content-Digest") != digestOf(man) {
		t.Fatalf("put manifest: %d %s", r.code, r.body)
	}
	for _, ref := range []string{"v1", digestOf(man)} {
		r = c.call(t, http.MethodGet, "/v2/app/one/manifests/"+ref, nil, "Accept", mtOCIManifest)
		if r.code != http.StatusOK || r.body != string(man) || r.header.Get("Content-Type") != mtOCIManifest || r.header.Get("Docker-Content-Digest") != digestOf(man) {
			t.Fatalf("get manifest %s: %d %q", ref, r.code, r.header.Get("Content-Type"))
		}
	}
	expect(t, "unknown tag", c.call(t, http.MethodGet, "/v2/app/one/manifests/nope", nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
	expect(t, "invalid name", c.call(t, http.MethodGet, "/v2/App/One/manifests/v1", nil), http.StatusBadRequest, "NAME_INVALID")

	// A referrer (an artifact whose subject is the image).
	empty := []byte("{}")
	c.pushBlob(t, "app/one", empty)
	art, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": mtOCIManifest, "artifactType": "application/vnd.example.sbom",
		"config":  map[string]any{"mediaType": "application/vnd.oci.empty.v1+json", "digest": digestOf(empty), "size": 2},
		"layers":  []any{map[string]any{"mediaType": "application/vnd.oci.empty.v1+json", "digest": digestOf(empty), "size": 2}},
		"subject": map[string]any{"mediaType": mtOCIManifest, "digest": digestOf(man), "size": len(man)}})
	r = c.call(t, http.MethodPut, "/v2/app/one/manifests/"+digestOf(art), art, "Content-Type", mtOCIManifest)
	if r.code != http.StatusCreated || r.header.Get("OCI-Subject") != digestOf(man) {
		t.Fatalf("put referrer: %d %s", r.code, r.body)
	}
	r = c.call(t, http.MethodGet, "/v2/app/one/referrers/"+digestOf(man)+"?artifactType=application/vnd.example.sbom", nil)
	if r.code != http.StatusOK || !strings.Contains(r.body, digestOf(art)) || r.header.Get("OCI-Filters-Applied") != "artifactType" {
		t.Fatalf("referrers: %d %s", r.code, r.body)
	}

	// Mount into app/two from app/one (pull granted on app/one): 201.
	r = c.call(t, http.MethodPost, "/v2/app/two/blobs/uploads/?mount="+digestOf(blob)+"&from=app/one", nil)
	if r.code != http.StatusCreated || r.header.Get("Location") != "/v2/app/two/blobs/"+digestOf(blob) {
		t.Fatalf("mount: %d %s", r.code, r.body)
	}
	expect(t, "mounted blob", c.call(t, http.MethodHead, "/v2/app/two/blobs/"+digestOf(blob), nil), http.StatusOK, "")
	expect(t, "blob not in repo", c.call(t, http.MethodHead, "/v2/app/two/blobs/"+digestOf(cfg), nil), http.StatusNotFound, "")
	// A mount from a repository the token cannot pull starts an upload instead.
	pc := &client{e: e, reg: reg, token: e.accessToken(t, reg, e.refreshFor(t, reg, pusher), "repository:app/three:push,pull")}
	r = pc.call(t, http.MethodPost, "/v2/app/three/blobs/uploads/?mount="+digestOf(blob)+"&from=app/one", nil)
	if r.code != http.StatusAccepted || !strings.HasPrefix(r.header.Get("Location"), "/v2/app/three/blobs/uploads/") {
		t.Fatalf("mount without pull on the source: %d %s", r.code, r.body)
	}
	expect(t, "blob not mounted", pc.call(t, http.MethodHead, "/v2/app/three/blobs/"+digestOf(blob), nil), http.StatusNotFound, "")
	// AcrPush cannot delete.
	pd := &client{e: e, reg: reg, token: e.accessToken(t, reg, e.refreshFor(t, reg, pusher), "repository:app/one:delete")}
	r = pd.call(t, http.MethodDelete, "/v2/app/one/manifests/v1", nil)
	if r.code != http.StatusUnauthorized || !strings.Contains(r.header.Get("WWW-Authenticate"), `scope="repository:app/one:delete"`) {
		t.Fatalf("delete with AcrPush: %d %q", r.code, r.header.Get("WWW-Authenticate"))
	}

	// Tags pagination with Link.
	for i := 0; i < 5; i++ {
		expect(t, "tag", c.call(t, http.MethodPut, fmt.Sprintf("/v2/app/one/manifests/t%d", i), man, "Content-Type", mtOCIManifest), http.StatusCreated, "")
	}
	var got []string
	next := "/v2/app/one/tags/list?n=2"
	for pages := 0; next != ""; pages++ {
		if pages > 5 {
			t.Fatal("tag pagination does not end")
		}
		r = c.call(t, http.MethodGet, next, nil)
		var tl struct {
			Name string
			Tags []string
		}
		if r.code != http.StatusOK || json.Unmarshal([]byte(r.body), &tl) != nil || tl.Name != "app/one" {
			t.Fatalf("tags page: %d %s", r.code, r.body)
		}
		got = append(got, tl.Tags...)
		next = ""
		if l := r.header.Get("Link"); l != "" {
			next = strings.TrimPrefix(l[:strings.Index(l, ">")], "<")
		}
	}
	if strings.Join(got, ",") != "t0,t1,t2,t3,t4,v1" {
		t.Fatalf("paged tags: %v", got)
	}
	r = c.call(t, http.MethodGet, "/v2/app/one/tags/list?n=2&last=t3", nil)
	if !strings.Contains(r.body, `["t4","v1"]`) || r.header.Get("Link") != "" {
		t.Fatalf("tags after t3: %s %q", r.body, r.header.Get("Link"))
	}
	expect(t, "tags of an unknown repository", c.call(t, http.MethodGet, "/v2/app/src/tags/list", nil), http.StatusNotFound, "NAME_UNKNOWN")

	// Catalog (app/two has a blob but no manifest yet: not a repository).
	expect(t, "manifest in app/two", c.call(t, http.MethodPut, "/v2/app/two/manifests/"+digestOf(art), art, "Content-Type", mtOCIManifest), http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN")
	r = c.call(t, http.MethodGet, "/v2/_catalog?n=1", nil)
	if r.code != http.StatusOK || r.body != `{"repositories":["app/one"]}`+"\n" || r.header.Get("Link") != "" {
		t.Fatalf("catalog: %d %s %q", r.code, r.body, r.header.Get("Link"))
	}

	// Deletes: a tag, a manifest by digest (and its tags), a blob.
	expect(t, "delete tag", c.call(t, http.MethodDelete, "/v2/app/one/manifests/t0", nil), http.StatusAccepted, "")
	expect(t, "deleted tag", c.call(t, http.MethodGet, "/v2/app/one/manifests/t0", nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
	expect(t, "delete manifest", c.call(t, http.MethodDelete, "/v2/app/one/manifests/"+digestOf(man), nil), http.StatusAccepted, "")
	expect(t, "deleted manifest", c.call(t, http.MethodGet, "/v2/app/one/manifests/"+digestOf(man), nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
	expect(t, "tag of a deleted manifest", c.call(t, http.MethodGet, "/v2/app/one/manifests/v1", nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
	expect(t, "delete blob", c.call(t, http.MethodDelete, "/v2/app/one/blobs/"+digestOf(blob), nil), http.StatusAccepted, "")
	expect(t, "deleted blob", c.call(t, http.MethodGet, "/v2/app/one/blobs/"+digestOf(blob), nil), http.StatusNotFound, "BLOB_UNKNOWN")
	expect(t, "blob still mounted elsewhere", c.call(t, http.MethodHead, "/v2/app/two/blobs/"+digestOf(blob), nil), http.StatusOK, "")
	expect(t, "delete unknown manifest", c.call(t, http.MethodDelete, "/v2/app/one/manifests/"+digestOf(man), nil), http.StatusNotFound, "MANIFEST_UNKNOWN")
	// A cancelled upload.
	r = c.call(t, http.MethodPost, "/v2/app/one/blobs/uploads/", nil)
	expect(t, "cancel upload", c.call(t, http.MethodDelete, r.header.Get("Location"), nil), http.StatusNoContent, "")
	expect(t, "cancelled upload", c.call(t, http.MethodGet, r.header.Get("Location"), nil), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
	// Another repository's upload session is unknown here.
	r = c.call(t, http.MethodPost, "/v2/app/one/blobs/uploads/", nil)
	id := r.header.Get("Docker-Upload-UUID")
	expect(t, "upload of another repository", c.call(t, http.MethodPatch, "/v2/app/two/blobs/uploads/"+id, []byte("x")), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")

	// Deleting the registry's content removes everything.
	if err := e.svc.DeleteRegistryContent(t.Context(), reg.Name); err != nil {
		t.Fatal(err)
	}
	expect(t, "blob after content deletion", c.call(t, http.MethodHead, "/v2/app/two/blobs/"+digestOf(blob), nil), http.StatusNotFound, "")
	r = c.call(t, http.MethodGet, "/v2/_catalog", nil)
	if r.body != `{"repositories":[]}`+"\n" {
		t.Fatalf("catalog after content deletion: %s", r.body)
	}
}
