package login

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

const (
	testClientID = "c44b4083-3bb0-49c1-b47d-974e53cbdf3c"
	testRedirect = "https://127.0.0.1:9999/signin-oidc"
	testPassword = "correct horse battery staple"
	armScope     = "https://management.azure.com/user_impersonation"
)

// authEnv is a login service with a registered public client and one user.
type authEnv struct {
	*testService
	upn, oid string
	oauth    oauth2.Config
}

func newAuthEnv(t testing.TB, mutate func(*Config)) *authEnv {
	t.Helper()
	ts := newTestService(t, mutate)
	ts.RegisterPublicClient(PublicClient{ClientID: testClientID, RedirectURIs: []string{testRedirect},
		PostLogoutRedirectURIs: []string{"https://127.0.0.1:9999/"}})
	u, err := ts.CreateUser(context.Background(), ts.tenant, "alice", testPassword)
	if err != nil {
		t.Fatal(err)
	}
	base := ts.srv.URL + "/" + ts.tenant + "/oauth2/v2.0/"
	return &authEnv{testService: ts, upn: u.UserPrincipalName, oid: u.ObjectID, oauth: oauth2.Config{
		ClientID: testClientID, RedirectURL: testRedirect,
		Endpoint: oauth2.Endpoint{AuthURL: base + "authorize", TokenURL: base + "token", AuthStyle: oauth2.AuthStyleInParams},
		Scopes:   []string{armScope, "openid", "profile", "offline_access"},
	}}
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// signIn loads the sign-in page at authURL, checks its labels, posts the
// credentials with the page's hidden fields, and returns the response.
func (e *authEnv) signIn(t *testing.T, authURL, username, password string) (*http.Response, string) {
	t.Helper()
	resp, err := noRedirect.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET authorize: %d %s", resp.StatusCode, page)
	}
	for _, want := range []string{`<label for="username">Username</label>`, `<label for="password">Password</label>`, `<button type="submit">Sign in</button>`} {
		if !strings.Contains(string(page), want) {
			t.Fatalf("sign-in page lacks %s", want)
		}
	}
	u, _ := url.Parse(authURL)
	form := u.Query()
	form.Set("username", username)
	form.Set("password", password)
	resp, err = noRedirect.PostForm(u.Scheme+"://"+u.Host+u.Path, form)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

// code signs in and returns the code from the redirect, checking the state.
func (e *authEnv) code(t *testing.T, verifier string, opts ...oauth2.AuthCodeOption) string {
	t.Helper()
	opts = append(opts, oauth2.S256ChallengeOption(verifier))
	resp, body := e.signIn(t, e.oauth.AuthCodeURL("st4te", opts...), "alice", testPassword)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("sign-in: %d %s", resp.StatusCode, body)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if !strings.HasPrefix(loc.String(), testRedirect+"?") || loc.Query().Get("state") != "st4te" || loc.Query().Get("code") == "" {
		t.Fatalf("redirect = %s", loc)
	}
	return loc.Query().Get("code")
}

func claimsOf(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// aadErrorCode runs an exchange that must fail and returns its AADSTS code.
func aadErrorCode(t *testing.T, err error) string {
	t.Helper()
	var re *oauth2.RetrieveError
	if err == nil {
		t.Fatal("exchange succeeded, want an error")
	}
	if !asRetrieve(err, &re) {
		t.Fatalf("error %v is not an OAuth error response", err)
	}
	var body struct {
		Error      string `json:"error"`
		ErrorCodes []int  `json:"error_codes"`
	}
	if err := json.Unmarshal(re.Body, &body); err != nil || len(body.ErrorCodes) != 1 {
		t.Fatalf("error body %s", re.Body)
	}
	return body.Error + "/" + aadNum(body.ErrorCodes[0])
}

func asRetrieve(err error, re **oauth2.RetrieveError) bool {
	r, ok := err.(*oauth2.RetrieveError)
	if ok {
		*re = r
	}
	return ok
}

// TestAuthCodeFlow signs in through x/oauth2 (PKCE S256), checks the user
// access token's Entra claims, verifies the ID token and its nonce with
// go-oidc, and rotates the refresh token.
func TestAuthCodeFlow(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t, nil)
	ctx := context.Background()
	verifier := oauth2.GenerateVerifier()
	code := e.code(t, verifier, oauth2.SetAuthURLParam("nonce", "n0nce"))
	tok, err := e.oauth.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	c := claimsOf(t, tok.AccessToken)
	for k, want := range map[string]any{
		"aud": "https://management.azure.com", "idtyp": "user", "upn": e.upn, "name": "alice", "scp": "user_impersonation",
		"oid": e.oid, "tid": e.tenant, "appid": testClientID, "appidacr": "0", "ver": "1.0", "iss": e.IssuerV1(e.tenant),
	} {
		if c[k] != want {
			t.Errorf("access token %s = %v, want %v", k, c[k], want)
		}
	}
	if got := tok.Extra("scope"); got != armScope {
		t.Errorf("scope = %v", got)
	}

	provider, err := oidc.NewProvider(oidc.InsecureIssuerURLContext(ctx, e.IssuerV2(e.tenant)), e.IssuerV2(e.tenant))
	if err != nil {
		t.Fatal(err)
	}
	idt, err := provider.Verifier(&oidc.Config{ClientID: testClientID, Now: e.clk.Now}).Verify(ctx, tok.Extra("id_token").(string))
	if err != nil {
		t.Fatal(err)
	}
	var idc struct {
		Nonce, Oid, Name string
		Preferred        string `json:"preferred_username"`
	}
	if err := idt.Claims(&idc); err != nil || idc.Nonce != "n0nce" || idc.Oid != e.oid || idc.Preferred != e.upn {
		t.Fatalf("ID token claims %+v, %v", idc, err)
	}

	// A refresh token gets a token for another resource (the Batch data
	// plane) and is replaced by a new one.
	refresh := func(rt, scope string) (map[string]any, int) {
		code, _, m := post(t, http.MethodPost, e.oauth.Endpoint.TokenURL, "application/x-www-form-urlencoded",
			strings.NewReader(url.Values{"grant_type": {"refresh_token"}, "client_id": {testClientID}, "refresh_token": {rt}, "scope": {scope}}.Encode()), nil)
		return m, code
	}
	m, status := refresh(tok.RefreshToken, "https://batch.core.windows.net//.default")
	if status != http.StatusOK || claimsOf(t, m["access_token"].(string))["aud"] != "https://batch.core.windows.net/" {
		t.Fatalf("refresh: %d %v", status, m)
	}
	next := m["refresh_token"].(string)
	if next == "" || next == tok.RefreshToken {
		t.Fatal("refresh token not rotated")
	}
	// Replaying the old refresh token fails and revokes the family: the
	// new one stops working too.
	if m, status = refresh(tok.RefreshToken, armScope); status != http.StatusBadRequest || m["error"] != "invalid_grant" {
		t.Fatalf("replayed refresh token: %d %v", status, m)
	}
	if m, status = refresh(next, armScope); status != http.StatusBadRequest || m["error"] != "invalid_grant" {
		t.Fatalf("refresh token of a revoked family: %d %v", status, m)
	}
}

// TestAuthCodeRules refuses what RFC 6749 and RFC 7636 refuse, with Entra's codes.
func TestAuthCodeRules(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t, nil)
	ctx := context.Background()

	t.Run("code reuse", func(t *testing.T) {
		v := oauth2.GenerateVerifier()
		code := e.code(t, v)
		if _, err := e.oauth.Exchange(ctx, code, oauth2.VerifierOption(v)); err != nil {
			t.Fatal(err)
		}
		_, err := e.oauth.Exchange(ctx, code, oauth2.VerifierOption(v))
		if got := aadErrorCode(t, err); got != "invalid_grant/54005" {
			t.Fatalf("second redemption: %s", got)
		}
	})
	t.Run("PKCE mismatch", func(t *testing.T) {
		code := e.code(t, oauth2.GenerateVerifier())
		_, err := e.oauth.Exchange(ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
		if got := aadErrorCode(t, err); got != "invalid_grant/50148" {
			t.Fatalf("wrong verifier: %s", got)
		}
		_, err = e.oauth.Exchange(ctx, e.code(t, oauth2.GenerateVerifier()))
		if got := aadErrorCode(t, err); got != "invalid_request/900144" {
			t.Fatalf("no verifier: %s", got)
		}
	})
	t.Run("redirect mismatch at token", func(t *testing.T) {
		v := oauth2.GenerateVerifier()
		code := e.code(t, v)
		other := e.oauth
		other.RedirectURL = testRedirect + "x"
		_, err := other.Exchange(ctx, code, oauth2.VerifierOption(v))
		if got := aadErrorCode(t, err); got != "invalid_request/50011" {
			t.Fatalf("other redirect URI: %s", got)
		}
	})
	t.Run("redirect mismatch at authorize is never redirected", func(t *testing.T) {
		other := e.oauth
		other.RedirectURL = "https://evil.example/cb"
		resp, err := noRedirect.Get(other.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(string(body), "AADSTS50011") {
			t.Fatalf("%d %q %s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
	})
	t.Run("PKCE required, S256 only", func(t *testing.T) {
		for _, opts := range [][]oauth2.AuthCodeOption{
			nil,
			{oauth2.SetAuthURLParam("code_challenge", oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("code_challenge_method", "plain")},
		} {
			resp, err := noRedirect.Get(e.oauth.AuthCodeURL("s", opts...))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != http.StatusFound || loc.Query().Get("error") != "invalid_request" ||
				!strings.HasPrefix(loc.Query().Get("error_description"), "AADSTS9002325") || loc.Query().Get("state") != "s" {
				t.Fatalf("%d %s", resp.StatusCode, loc)
			}
		}
	})
	t.Run("expired code", func(t *testing.T) {
		e := newAuthEnv(t, nil) // its own clock
		v := oauth2.GenerateVerifier()
		code := e.code(t, v)
		e.clk.Add(codeLifetime + time.Second)
		_, err := e.oauth.Exchange(ctx, code, oauth2.VerifierOption(v))
		if got := aadErrorCode(t, err); got != "invalid_grant/70008" {
			t.Fatalf("expired code: %s", got)
		}
	})
	t.Run("user is not a client", func(t *testing.T) {
		_, _, m := post(t, http.MethodPost, e.oauth.Endpoint.TokenURL, "application/x-www-form-urlencoded",
			strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "client_id": {e.oid}, "client_secret": {testPassword},
				"scope": {"https://management.azure.com/.default"}}.Encode()), nil)
		if m["error"] != "invalid_client" {
			t.Fatalf("user as client: %v", m)
		}
	})
}

// TestSignInFailures shows AADSTS50126 on the page for a wrong password or
// an unknown user, and locks a name out after repeated failures, whatever
// password comes next, until the lockout ends.
func TestSignInFailures(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t, func(c *Config) { c.LockoutThreshold = 3; c.LockoutDuration = time.Minute })
	authURL := e.oauth.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
	for _, name := range []string{"alice", "nobody"} {
		resp, body := e.signIn(t, authURL, name, "wrong password")
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "AADSTS50126: Error validating credentials due to invalid username or password.") {
			t.Fatalf("%s: %d %s", name, resp.StatusCode, body)
		}
	}
	e.signIn(t, authURL, "alice", "wrong again")
	e.signIn(t, authURL, "ALICE", "third time") // the name matches in any case: locked now
	resp, body := e.signIn(t, authURL, e.upn, testPassword)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "AADSTS50053") {
		t.Fatalf("locked out: %d %s", resp.StatusCode, body)
	}
	e.clk.Add(time.Minute + time.Second)
	if resp, body = e.signIn(t, authURL, "alice", testPassword); resp.StatusCode != http.StatusFound {
		t.Fatalf("after the lockout: %d %s", resp.StatusCode, body)
	}
}

// TestLogoutRedirectsOnlyToRegisteredURIs keeps the logout endpoint from
// being an open redirect.
func TestLogoutRedirectsOnlyToRegisteredURIs(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t, nil)
	base := e.srv.URL + "/" + e.tenant + "/oauth2/v2.0/logout?post_logout_redirect_uri="
	for target, want := range map[string]string{"https://127.0.0.1:9999/": "https://127.0.0.1:9999/", "https://evil.example/": ""} {
		resp, err := noRedirect.Get(base + url.QueryEscape(target))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Location"); got != want {
			t.Errorf("logout to %s: Location %q, want %q", target, got, want)
		}
	}
}
