package registry

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	cstore "github.com/cobaltbatch/cobalt/internal/store"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/rbac"
)

func mustRef(t testing.TB, s string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// sameImage checks that pulled has the digest of want and the same layers.
func sameImage(t testing.TB, want, pulled v1.Image) {
	t.Helper()
	wd, _ := want.Digest()
	pd, err := pulled.Digest()
	if err != nil || wd != pd {
		t.Fatalf("pulled digest %v (%v), pushed %v", pd, err, wd)
	}
	ls, err := pulled.Layers()
	if err != nil || len(ls) != 1 {
		t.Fatalf("pulled layers: %d %v", len(ls), err)
	}
	rc, err := ls[0].Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	n, err := io.Copy(io.Discard, rc) // ggcr verifies the digest while reading
	if err != nil || n == 0 {
		t.Fatalf("reading the pulled layer: %d %v", n, err)
	}
}

// unauthorized reports whether err is a registry UNAUTHORIZED error.
func unauthorized(err error) bool {
	var te *transport.Error
	if !errors.As(err, &te) {
		return false
	}
	for _, d := range te.Errors {
		if d.Code == transport.UnauthorizedErrorCode {
			return true
		}
	}
	return te.StatusCode == http.StatusUnauthorized
}

// TestGGCRPushPullExchange pushes and pulls a busybox image with ggcr
// through the exchange flow, with both forms ggcr and docker use a refresh
// token in: as the password of the null GUID, and as identity token.
func TestGGCRPushPullExchange(t *testing.T) {
	e := newEnv(t)
	reg := e.registry(t, "cobaltreg", false)
	pusher := e.principal(t, "pusher")
	e.assign(t, pusher, rbac.RoleAcrPush, reg.ID)
	rt := e.refreshFor(t, reg, pusher)

	// The Go SDK reads exp from the refresh token's payload with std base64.
	payload := strings.Split(rt, ".")[1]
	for len(payload)%4 != 0 {
		payload += "="
	}
	raw, err := base64.StdEncoding.DecodeString(payload)
	var claims struct {
		Exp int64  `json:"exp"`
		Aud string `json:"aud"`
		Sub string `json:"sub"`
	}
	if err != nil || json.Unmarshal(raw, &claims) != nil || claims.Exp == 0 || claims.Aud != reg.LoginServer || claims.Sub != pusher.ObjectID {
		t.Fatalf("refresh token payload with std base64: %v %+v", err, claims)
	}

	img := busyboxImage(t)
	ref := mustRef(t, reg.LoginServer+"/tasks/busybox:v1")
	if err := remote.Write(ref, img, e.ggcrOpts(passwordAuth(rt))...); err != nil {
		t.Fatalf("push with the refresh token as password: %v", err)
	}
	pulled, err := remote.Image(ref, e.ggcrOpts(passwordAuth(rt))...)
	if err != nil {
		t.Fatalf("pull with the refresh token as password: %v", err)
	}
	sameImage(t, img, pulled)

	copts := []crane.Option{crane.WithTransport(e.transport()), crane.WithAuth(identityTokenAuth(rt))}
	if err := crane.Push(img, reg.LoginServer+"/other/busybox:v2", copts...); err != nil {
		t.Fatalf("crane push with the refresh token as identity token: %v", err)
	}
	pulled, err = crane.Pull(reg.LoginServer+"/other/busybox:v2", copts...)
	if err != nil {
		t.Fatalf("crane pull with the identity token: %v", err)
	}
	sameImage(t, img, pulled)
	if err := crane.Tag(reg.LoginServer+"/other/busybox:v2", "v3", copts...); err != nil {
		t.Fatalf("crane tag: %v", err)
	}
	tags, err := crane.ListTags(reg.LoginServer+"/other/busybox", copts...)
	if err != nil || strings.Join(tags, ",") != "v2,v3" {
		t.Fatalf("tags: %v %v", tags, err)
	}
	// An ARM-audience Entra token is exchanged too.
	rt2 := e.exchange(t, reg, e.entraToken(t, pusher, "https://management.azure.com/.default"))
	if _, err := crane.Digest(reg.LoginServer+"/tasks/busybox:v1", crane.WithTransport(e.transport()), crane.WithAuth(passwordAuth(rt2))); err != nil {
		t.Fatalf("pull with an ARM-audience exchange: %v", err)
	}
}

// TestAcrPullOnly: an identity with AcrPull pulls and cannot push; one with
// no role gets nothing.
func TestAcrPullOnly(t *testing.T) {
	e := newEnv(t)
	reg := e.registry(t, "pullreg", false)
	pusher, puller, nobody := e.principal(t, "pusher"), e.principal(t, "puller"), e.principal(t, "nobody")
	e.assign(t, pusher, rbac.RoleAcrPush, reg.ID)
	e.assign(t, puller, rbac.RoleAcrPull, reg.ID)
	img := busyboxImage(t)
	ref := mustRef(t, reg.LoginServer+"/tasks/busybox:v1")
	if err := remote.Write(ref, img, e.ggcrOpts(passwordAuth(e.refreshFor(t, reg, pusher)))...); err != nil {
		t.Fatal(err)
	}

	prt := e.refreshFor(t, reg, puller)
	pulled, err := remote.Image(ref, e.ggcrOpts(identityTokenAuth(prt))...)
	if err != nil {
		t.Fatalf("AcrPull pull: %v", err)
	}
	sameImage(t, img, pulled)
	err = remote.Write(mustRef(t, reg.LoginServer+"/tasks/busybox:v2"), img, e.ggcrOpts(passwordAuth(prt))...)
	if err == nil || !unauthorized(err) {
		t.Fatalf("AcrPull push: %v, want UNAUTHORIZED", err)
	}
	if _, err := crane.Digest(reg.LoginServer+"/tasks/busybox:v2", crane.WithTransport(e.transport()), crane.WithAuth(passwordAuth(prt))); err == nil {
		t.Fatal("the refused push created a tag")
	}
	// The raw exchange: a token asked for push,pull grants pull only, and a
	// manifest PUT is challenged with insufficient_scope.
	at := e.accessToken(t, reg, prt, "repository:tasks/busybox:push,pull")
	req, _ := http.NewRequest(http.MethodPut, "https://"+reg.LoginServer+"/v2/tasks/busybox/manifests/v9", strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer "+at)
	resp := e.do(t, req)
	if resp.code != http.StatusUnauthorized || !strings.Contains(resp.header.Get("WWW-Authenticate"), `error="insufficient_scope"`) ||
		!strings.Contains(resp.body, `"UNAUTHORIZED"`) {
		t.Fatalf("push with a pull grant: %d %q %s", resp.code, resp.header.Get("WWW-Authenticate"), resp.body)
	}
	// The refusal is in the audit trail: who, what, where.
	denials, _, err := e.st.AuditList(context.Background(), rbac.DenialKind, cstore.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, d := range denials {
		found = found || (d.Fields["service"] == "registry" && d.Fields["action"] == ActionPush && d.Subject == reg.ID.String())
	}
	if !found {
		t.Errorf("no registry push denial in the audit trail: %+v", denials)
	}

	// No role: the pull is refused, with ggcr and raw, and no content leaks.
	nrt := e.refreshFor(t, reg, nobody)
	if _, err := remote.Image(ref, e.ggcrOpts(passwordAuth(nrt))...); err == nil || !unauthorized(err) {
		t.Fatalf("pull without a role: %v, want UNAUTHORIZED", err)
	}
	nat := e.accessToken(t, reg, nrt, "repository:tasks/busybox:pull")
	d, _ := img.Digest()
	for _, p := range []string{"/v2/tasks/busybox/manifests/v1", "/v2/tasks/busybox/manifests/" + d.String(), "/v2/tasks/busybox/tags/list", "/v2/_catalog"} {
		req, _ := http.NewRequest(http.MethodGet, "https://"+reg.LoginServer+p, nil)
		req.Header.Set("Authorization", "Bearer "+nat)
		resp := e.do(t, req)
		if resp.code != http.StatusUnauthorized || !strings.Contains(resp.header.Get("WWW-Authenticate"), `error="insufficient_scope"`) ||
			strings.Contains(resp.body, "schemaVersion") || strings.Contains(resp.body, "v1") {
			t.Fatalf("%s without a role: %d %q %s", p, resp.code, resp.header.Get("WWW-Authenticate"), resp.body)
		}
	}
	// A role at another registry grants nothing here.
	other := e.registry(t, "otherreg", false)
	e.assign(t, nobody, rbac.RoleAcrPush, other.ID)
	if _, err := remote.Image(ref, e.ggcrOpts(passwordAuth(nrt))...); err == nil {
		t.Fatal("a role at another registry granted a pull")
	}
	// A role granted later takes effect at the next access token.
	e.assign(t, nobody, rbac.RoleAcrPull, reg.ID)
	if _, err := remote.Image(ref, e.ggcrOpts(passwordAuth(nrt))...); err != nil {
		t.Fatalf("pull after AcrPull was assigned: %v", err)
	}
}

// TestAdminUser pushes and pulls as the admin user, with either password,
// and is refused with a wrong password or when the admin user is disabled.
func TestAdminUser(t *testing.T) {
	e := newEnv(t)
	reg := e.registry(t, "adminreg", true)
	img := busyboxImage(t)
	ref := mustRef(t, reg.LoginServer+"/admin/busybox:v1")
	if err := remote.Write(ref, img, e.ggcrOpts(&authn.Basic{Username: reg.Name, Password: reg.Passwords[0]})...); err != nil {
		t.Fatalf("admin push: %v", err)
	}
	pulled, err := remote.Image(ref, e.ggcrOpts(&authn.Basic{Username: strings.ToUpper(reg.Name), Password: reg.Passwords[1]})...)
	if err != nil {
		t.Fatalf("admin pull with password2: %v", err)
	}
	sameImage(t, img, pulled)
	if _, err := remote.Image(ref, e.ggcrOpts(&authn.Basic{Username: reg.Name, Password: "wrong"})...); err == nil || !unauthorized(err) {
		t.Fatalf("wrong admin password: %v", err)
	}
	reg.AdminUserEnabled = false
	e.regs.put(reg)
	if _, err := remote.Image(ref, e.ggcrOpts(&authn.Basic{Username: reg.Name, Password: reg.Passwords[0]})...); err == nil || !unauthorized(err) {
		t.Fatalf("disabled admin user: %v", err)
	}
}

type rawResp struct {
	code   int
	header http.Header
	body   string
}

func (e *env) do(t testing.TB, req *http.Request) rawResp {
	t.Helper()
	resp, err := e.httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return rawResp{resp.StatusCode, resp.Header, string(b)}
}

func (e *env) get(t testing.TB, reg cobalt.Registry, path, token string) rawResp {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "https://"+reg.LoginServer+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.do(t, req)
}

// tamper flips a character of a JWT's signature.
func tamper(tok string) string {
	b := []byte(tok)
	i := len(b) - 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// TestTokensRefused: Entra tokens with a bad signature, expired or for
// another audience are not exchanged; ACR tokens with a bad signature,
// expired, for another registry, or of the wrong kind are refused.
func TestTokensRefused(t *testing.T) {
	e := newEnv(t)
	reg := e.registry(t, "tokreg", false)
	other := e.registry(t, "othertok", false)
	p := e.principal(t, "p")
	e.assign(t, p, rbac.RoleAcrPush, reg.ID)
	e.assign(t, p, rbac.RoleAcrPush, other.ID)
	exchangeCode := func(entra string, svc string) int {
		code, out := e.postForm(t, reg, "/oauth2/exchange", url.Values{"grant_type": {"access_token"},
			"service": {svc}, "access_token": {entra}})
		if code != http.StatusOK {
			if errs, _ := out["errors"].([]any); len(errs) != 1 {
				t.Fatalf("exchange error body: %v", out)
			}
		}
		return code
	}
	good := e.entraToken(t, p, acrAudience)
	if c := exchangeCode(good, reg.LoginServer); c != http.StatusOK {
		t.Fatalf("good token: %d", c)
	}
	if c := exchangeCode(tamper(good), reg.LoginServer); c != http.StatusUnauthorized {
		t.Fatalf("tampered Entra token: %d", c)
	}
	if c := exchangeCode(good, other.LoginServer); c != http.StatusUnauthorized {
		t.Fatalf("exchange for another registry's service: %d", c)
	}
	if c := exchangeCode(e.entraToken(t, p, "https://storage.azure.com/.default"), reg.LoginServer); c != http.StatusUnauthorized {
		t.Fatalf("storage-audience Entra token: %d", c)
	}
	e.loginShift.Store(int64(-26 * 60 * 60 * 1e9))
	expired := e.entraToken(t, p, acrAudience)
	e.loginShift.Store(0)
	if c := exchangeCode(expired, reg.LoginServer); c != http.StatusUnauthorized {
		t.Fatalf("expired Entra token: %d", c)
	}

	rt := e.exchange(t, reg, good)
	at := e.accessToken(t, reg, rt, "repository:a/b:pull")
	if r := e.get(t, reg, "/v2/", at); r.code != http.StatusOK {
		t.Fatalf("ping with a good token: %d %s", r.code, r.body)
	}
	for what, tok := range map[string]string{"tampered access token": tamper(at), "refresh token as access token": rt} {
		if r := e.get(t, reg, "/v2/", tok); r.code != http.StatusUnauthorized {
			t.Fatalf("%s: %d", what, r.code)
		}
	}
	// Another registry's token: other key and audience.
	ort := e.exchange(t, other, e.entraToken(t, p, acrAudience))
	oat := e.accessToken(t, other, ort, "repository:a/b:pull")
	if r := e.get(t, reg, "/v2/a/b/tags/list", oat); r.code != http.StatusUnauthorized {
		t.Fatalf("another registry's access token: %d", r.code)
	}
	if code, _ := e.postForm(t, reg, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "service": {reg.LoginServer},
		"refresh_token": {ort}, "scope": {"repository:a/b:pull"}}); code != http.StatusUnauthorized {
		t.Fatalf("another registry's refresh token: %d", code)
	}
	if code, _ := e.postForm(t, reg, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "service": {reg.LoginServer},
		"refresh_token": {tamper(rt)}, "scope": {"repository:a/b:pull"}}); code != http.StatusUnauthorized {
		t.Fatalf("tampered refresh token: %d", code)
	}
	// The right key but another audience.
	c := e.svc.newClaims("127.0.0.1:1", p.ObjectID, accessTTL)
	c.Access = []Access{{Type: "repository", Name: "a/b", Actions: []string{"pull"}}}
	wrongAud, err := e.svc.sign(kindAccess, reg, c)
	if err != nil {
		t.Fatal(err)
	}
	if r := e.get(t, reg, "/v2/a/b/tags/list", wrongAud); r.code != http.StatusUnauthorized {
		t.Fatalf("wrong-audience access token: %d", r.code)
	}
	// Expired: the registry's clock moves past the access token's life.
	e.regShift.Store(int64(2 * accessTTL))
	if r := e.get(t, reg, "/v2/", at); r.code != http.StatusUnauthorized {
		t.Fatalf("expired access token: %d", r.code)
	}
	e.regShift.Store(int64(4 * refreshTTL))
	if code, _ := e.postForm(t, reg, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "service": {reg.LoginServer},
		"refresh_token": {rt}, "scope": {"repository:a/b:pull"}}); code != http.StatusUnauthorized {
		t.Fatalf("expired refresh token: %d", code)
	}
	e.regShift.Store(0)
	// Anonymous token requests get nothing.
	req, _ := http.NewRequest(http.MethodGet, "https://"+reg.LoginServer+"/oauth2/token?service="+reg.LoginServer+"&scope=repository:a/b:pull", nil)
	if r := e.do(t, req); r.code != http.StatusUnauthorized || !strings.Contains(r.body, "UNAUTHORIZED") {
		t.Fatalf("anonymous token request: %d %s", r.code, r.body)
	}
}

// TestChallenge checks ACR's WWW-Authenticate header byte for byte.
func TestChallenge(t *testing.T) {
	e := newEnv(t)
	reg := e.registry(t, "chalreg", false)
	ls := reg.LoginServer
	for path, want := range map[string]string{
		"/v2/":                           `Bearer realm="https://` + ls + `/oauth2/token",service="` + ls + `"`,
		"/v2/tasks/busybox/manifests/v1": `Bearer realm="https://` + ls + `/oauth2/token",service="` + ls + `",scope="repository:tasks/busybox:pull"`,
		"/v2/_catalog":                   `Bearer realm="https://` + ls + `/oauth2/token",service="` + ls + `",scope="registry:catalog:*"`,
	} {
		r := e.get(t, reg, path, "")
		if r.code != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") != want || !strings.Contains(r.body, `"code":"UNAUTHORIZED"`) {
			t.Errorf("%s: %d %q %s", path, r.code, r.header.Get("WWW-Authenticate"), r.body)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, "https://"+ls+"/v2/tasks/busybox/blobs/uploads/", nil)
	r := e.do(t, req)
	if want := `Bearer realm="https://` + ls + `/oauth2/token",service="` + ls + `",scope="repository:tasks/busybox:pull,push"`; r.header.Get("WWW-Authenticate") != want {
		t.Errorf("upload challenge %q", r.header.Get("WWW-Authenticate"))
	}
}
