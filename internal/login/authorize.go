package login

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/cobaltbatch/cobalt"
)

// authorizeRequest is a parsed v2 authorization request (RFC 6749 §4.1.1
// with PKCE, RFC 7636).
type authorizeRequest struct {
	clientID, redirectURI string
	responseMode          string // query (the default) or form_post
	state, nonce          string
	scope                 string // as sent
	resource, scp         string // the access token's audience and scp
	openid, offline       bool
	challenge             string
	loginHint             string
}

// maxParam bounds every authorization parameter.
const maxParam = 2048

// parseAuthorizeRequest validates authorization parameters in two stages,
// as RFC 6749 §4.1.2.1 requires: client and redirect URI errors (redirect
// false) must be shown to the user and never redirected to; later errors
// (redirect true) go back to the client's redirect URI.
func (s *Service) parseAuthorizeRequest(v url.Values) (ar authorizeRequest, redirect bool, err error) {
	for k, vs := range v {
		if len(vs) > 1 && k != "" {
			return ar, false, aadError(aadMissingParameter, "The request has the parameter '%s' more than once.", clip(k))
		}
		if len(vs) == 1 && len(vs[0]) > maxParam {
			return ar, false, aadError(aadQueryTooLong, "The parameter '%s' is longer than %d bytes.", clip(k), maxParam)
		}
	}
	ar.clientID = v.Get("client_id")
	if ar.clientID == "" {
		return ar, false, aadError(aadMissingParameter, "The request body must contain the following parameter: 'client_id'.")
	}
	c, ok := s.grants.client(ar.clientID)
	if !ok {
		return ar, false, aadError(aadAppNotFound, "Application with identifier '%s' was not found in the directory.", clip(ar.clientID))
	}
	ar.redirectURI = v.Get("redirect_uri")
	if ar.redirectURI == "" || !slices.Contains(c.RedirectURIs, ar.redirectURI) {
		return ar, false, aadError(aadRedirectMismatch, "The redirect URI '%s' specified in the request does not match the redirect URIs configured for the application '%s'.", clip(ar.redirectURI), c.ClientID)
	}
	ar.state, ar.nonce, ar.loginHint = v.Get("state"), v.Get("nonce"), v.Get("login_hint")
	ar.responseMode = v.Get("response_mode")
	switch ar.responseMode {
	case "":
		ar.responseMode = "query"
	case "query", "form_post":
	default:
		return ar, true, aadError(aadMissingParameter, "The response_mode '%s' is not supported; use query or form_post.", clip(ar.responseMode))
	}
	if rt := v.Get("response_type"); rt != "code" {
		return ar, true, aadError(aadResponseTypeDisabled, "response_type '%s' is not enabled for the application.", clip(rt))
	}
	ar.challenge = v.Get("code_challenge")
	if m := v.Get("code_challenge_method"); ar.challenge == "" || m != "S256" {
		return ar, true, aadError(aadPKCERequired, "Proof Key for Code Exchange with code_challenge_method S256 is required.")
	}
	if len(ar.challenge) != 43 || strings.Trim(ar.challenge, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		return ar, true, aadError(aadPKCERequired, "The code_challenge must be the base64url SHA-256 of the code verifier (43 characters).")
	}
	ar.scope = v.Get("scope")
	if err := parseUserScope(ar.scope, &ar.resource, &ar.scp, &ar.openid, &ar.offline); err != nil {
		return ar, true, err
	}
	return ar, false, nil
}

// parseUserScope reads a delegated scope list: OIDC scopes and the scopes of
// one resource (RESOURCE/NAME, or RESOURCE/.default for its
// user_impersonation scope).
func parseUserScope(scope string, resource, scp *string, openid, offline *bool) error {
	bad := func() error {
		return aadError(aadInvalidScope, "The provided value for the input parameter 'scope' is not valid. The scope %s is not valid.", clip(scope))
	}
	var scps []string
	for _, sc := range strings.Fields(scope) {
		switch sc {
		case "openid":
			*openid = true
			continue
		case "offline_access":
			*offline = true
			continue
		case "profile", "email":
			continue
		}
		i := strings.LastIndex(sc, "/")
		if i <= 0 || i == len(sc)-1 {
			return bad()
		}
		res, name := sc[:i], sc[i+1:]
		if _, ok := resourceVersion(res); !ok {
			return bad()
		}
		if *resource != "" && strings.TrimSuffix(*resource, "/") != strings.TrimSuffix(res, "/") {
			return aadError(aadInvalidScope, "The scope %s requests tokens for more than one resource.", clip(scope))
		}
		*resource = res
		if name == ".default" {
			name = "user_impersonation"
		}
		if !slices.Contains(scps, name) {
			scps = append(scps, name)
		}
	}
	if *resource == "" {
		return bad()
	}
	*scp = strings.Join(scps, " ")
	return nil
}

// handleAuthorize serves the v2 authorization endpoint: GET shows the
// sign-in page, POST checks the credentials and sends the browser back to
// the client with a code.
func (s *Service) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	ts, tenant, err := s.resolveTenant(r.Context(), r.PathValue("tenant"))
	if err != nil {
		s.writeSignInError(w, r, err)
		return
	}
	if ts != tenantKnown {
		s.writeSignInError(w, r, tenantNotFound(tenant))
		return
	}
	var params url.Values
	switch r.Method {
	case http.MethodGet:
		params = r.URL.Query()
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		if err := r.ParseForm(); err != nil {
			s.writeSignInError(w, r, aadError(aadMissingParameter, "The request body is not a valid form."))
			return
		}
		params = r.PostForm
	default:
		s.writeSignInError(w, r, aadError(aadMethodNotAllowed, "The endpoint only accepts GET and POST requests."))
		return
	}
	username, password := params.Get("username"), params.Get("password")
	params.Del("username")
	params.Del("password")
	ar, redirect, err := s.parseAuthorizeRequest(params)
	if err != nil {
		if redirect {
			s.redirectError(w, r, ar, err)
			return
		}
		s.writeSignInError(w, r, err)
		return
	}
	if r.Method == http.MethodGet {
		s.writeSignInPage(w, tenant, params, ar.loginHint, nil)
		return
	}
	p, err := s.authenticateUser(r.Context(), tenant, username, password)
	if err != nil {
		if _, ok := aadCode(err); !ok {
			s.writeSignInError(w, r, err)
			return
		}
		s.writeSignInPage(w, tenant, params, username, err)
		return
	}
	code := s.grants.addCode(&codeGrant{
		tenantID: tenant, clientID: ar.clientID, redirectURI: ar.redirectURI, challenge: ar.challenge,
		objectID: p.ObjectID, resource: ar.resource, scp: ar.scp, nonce: ar.nonce, openid: ar.openid,
		expires: s.now().Add(codeLifetime),
	}, s.now())
	if code == "" {
		s.writeSignInError(w, r, aadError(aadTransient, "Too many sign-ins are in progress. Please try again."))
		return
	}
	_ = s.store.AuditAppend(r.Context(), auditSignIn(s.now(), p.ObjectID, ar.clientID, remoteHost(r)))
	s.redirectResult(w, r, ar, url.Values{"code": {code}})
}

// redirectResult sends the browser back to the client with result (and the
// state) in the query, or as an auto-submitted form for form_post.
func (s *Service) redirectResult(w http.ResponseWriter, r *http.Request, ar authorizeRequest, result url.Values) {
	if ar.state != "" {
		result.Set("state", ar.state)
	}
	if ar.responseMode == "form_post" {
		s.writeFormPost(w, ar.redirectURI, result)
		return
	}
	u, err := url.Parse(ar.redirectURI)
	if err != nil {
		s.writeSignInError(w, r, aadError(aadRedirectMismatch, "The redirect URI is not valid."))
		return
	}
	q := u.Query()
	for k, vs := range result {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// redirectError sends an OAuth error back to the client's redirect URI.
func (s *Service) redirectError(w http.ResponseWriter, r *http.Request, ar authorizeRequest, err error) {
	code, ok := aadCode(err)
	if !ok {
		s.writeSignInError(w, r, err)
		return
	}
	s.redirectResult(w, r, ar, url.Values{
		"error":             {aadTable[code].err},
		"error_description": {"AADSTS" + aadNum(code) + ": " + cobalt.ErrorMessage(err)},
	})
}

// handleLogout ends the sign-in: it revokes nothing it cannot name (there is
// no single sign-on session here), and sends the browser to a registered
// post-logout redirect URI when the request names one.
func (s *Service) handleLogout(w http.ResponseWriter, r *http.Request) {
	target := r.URL.Query().Get("post_logout_redirect_uri")
	if target != "" {
		s.grants.mu.Lock()
		allowed := false
		for _, c := range s.grants.clients {
			allowed = allowed || slices.Contains(c.PostLogoutRedirectURIs, target)
		}
		s.grants.mu.Unlock()
		if allowed {
			w.Header().Set("Cache-Control", "no-store")
			http.Redirect(w, r, target, http.StatusFound)
			return
		}
	}
	s.writeSignedOutPage(w)
}

// RevokeUserSessions revokes every refresh token that a user holds with a
// client, as a sign-out does. It is safe for concurrent use.
func (s *Service) RevokeUserSessions(_ context.Context, objectID, clientID string) {
	s.grants.revokeUser(objectID, clientID)
}
