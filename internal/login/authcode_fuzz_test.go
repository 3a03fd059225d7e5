package login

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzAuthorizeRequest feeds arbitrary authorization requests (query or
// form body) to the authorize endpoint. It must answer the sign-in page, an
// error page (never a 5xx) or a redirect, and a redirect may only go to the
// registered redirect URI.
func FuzzAuthorizeRequest(f *testing.F) {
	e := newAuthEnv(f, nil)
	good := url.Values{"client_id": {testClientID}, "redirect_uri": {testRedirect}, "response_type": {"code"},
		"scope": {armScope + " openid offline_access"}, "code_challenge": {strings.Repeat("a", 43)}, "code_challenge_method": {"S256"}, "state": {"s"}}
	f.Add(good.Encode(), false)
	f.Add(good.Encode()+"&username=alice&password=x", true)
	f.Add(good.Encode()+"&response_mode=form_post&username=alice&password="+url.QueryEscape(testPassword), true)
	f.Add("client_id="+testClientID+"&redirect_uri=https%3A%2F%2Fevil&response_type=code", false)
	f.Add("client_id=x&client_id=y", true)
	f.Add("scope=%zz&;", false)
	f.Add("", true)
	h := e.Handler()
	path := "/" + e.tenant + "/oauth2/v2.0/authorize"
	f.Fuzz(func(t *testing.T, params string, post bool) {
		var r *http.Request
		if post {
			r = httptest.NewRequest(http.MethodPost, path, strings.NewReader(params))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			// Any raw query reaches the handler as it is: httptest.NewRequest
			// would refuse one that is not a valid request line.
			r = httptest.NewRequest(http.MethodGet, path, nil)
			r.URL.RawQuery = params
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		_, _ = io.ReadAll(w.Body)
		if w.Code >= 500 {
			t.Fatalf("status %d for %q", w.Code, params)
		}
		if loc := w.Header().Get("Location"); loc != "" && !strings.HasPrefix(loc, testRedirect+"?") {
			t.Fatalf("redirect to %q for %q", loc, params)
		}
	})
}

// FuzzUserTokenRequest feeds arbitrary user-flow token requests to the
// parser and the v2 token endpoint: the parser returns a request or an
// AADSTS error; the endpoint never answers 5xx and never issues a token
// for a code or refresh token it did not make.
func FuzzUserTokenRequest(f *testing.F) {
	e := newAuthEnv(f, nil)
	f.Add("grant_type=authorization_code&client_id=" + testClientID + "&code=abc&redirect_uri=" + url.QueryEscape(testRedirect) + "&code_verifier=v")
	f.Add("grant_type=refresh_token&client_id=" + testClientID + "&refresh_token=abc&scope=" + url.QueryEscape(armScope))
	f.Add("grant_type=authorization_code&client_id=" + testClientID + "&client_secret=x")
	f.Add("grant_type=refresh_token&client_id=x&refresh_token=")
	f.Add("grant_type=authorization_code&%zz")
	h := e.Handler()
	f.Fuzz(func(t *testing.T, body string) {
		if v, err := url.ParseQuery(body); err == nil {
			if _, perr := parseUserTokenRequest(v); perr != nil {
				if _, ok := aadCode(perr); !ok {
					t.Fatalf("parser error without an AADSTS code: %v", perr)
				}
			}
		}
		r := httptest.NewRequest(http.MethodPost, "/"+e.tenant+"/oauth2/v2.0/token", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("status %d for %q", w.Code, body)
		}
		if w.Code == http.StatusOK && !strings.Contains(body, "client_credentials") {
			t.Fatalf("a token for a grant never made: %q", body)
		}
	})
}
