package portal

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
	"net/url"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/cobaltbatch/cobalt/internal/logkey"
)

// idTokenVerifier verifies ID tokens: the login service's keys, issuer,
// the portal's client ID as audience, and lifetime.
type idTokenVerifier interface {
	Verify(ctx context.Context, raw string) (*oidc.IDToken, error)
}

// idVerifier returns the ID token verifier, discovering the tenant's v2
// issuer on first use (the login service may start after the portal).
func (p *Portal) idVerifier(ctx context.Context) (idTokenVerifier, error) {
	p.oidcOnce.Lock()
	defer p.oidcOnce.Unlock()
	if p.verifier != nil {
		return p.verifier, nil
	}
	issuer := p.cfg.AuthorityURL + "/" + p.cfg.TenantID + "/v2.0"
	provider, err := oidc.NewProvider(oidc.ClientContext(ctx, p.cfg.HTTPClient), issuer)
	if err != nil {
		return nil, fmt.Errorf("discover %s: %w", issuer, err)
	}
	p.verifier = provider.Verifier(&oidc.Config{ClientID: ClientID, Now: p.now})
	return p.verifier, nil
}

func s256(verifier string) string {
	h := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// handleSignIn starts the authorization code flow: a fresh state, nonce and
// PKCE verifier, the state bound to this browser by a short-lived cookie.
func (p *Portal) handleSignIn(w http.ResponseWriter, r *http.Request) {
	state := randomID()
	pd := &pending{verifier: randomID() + randomID()[:11], nonce: randomID(), expires: p.now().Add(pendingLifetime)}
	p.mu.Lock()
	if len(p.pending) >= maxPending {
		for k, x := range p.pending {
			if p.now().After(x.expires) {
				delete(p.pending, k)
			}
		}
	}
	full := len(p.pending) >= maxPending
	if !full {
		p.pending[state] = pd
	}
	p.mu.Unlock()
	if full {
		http.Error(w, "Too many sign-ins are in progress; try again later.", http.StatusServiceUnavailable)
		return
	}
	// Lax, not Strict: the login page may live on another site, and the
	// browser comes back from it by a top-level redirect.
	setCookie(w, signInCookie, state, int(pendingLifetime.Seconds()), http.SameSiteLaxMode)
	q := url.Values{
		"client_id": {ClientID}, "response_type": {"code"}, "redirect_uri": {p.cfg.PublicURL + "/signin-oidc"},
		"scope": {ARMResource + "user_impersonation openid profile offline_access"}, "state": {state}, "nonce": {pd.nonce},
		"code_challenge": {s256(pd.verifier)}, "code_challenge_method": {"S256"}, "response_mode": {"query"},
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, p.cfg.AuthorityURL+"/"+p.cfg.TenantID+"/oauth2/v2.0/authorize?"+q.Encode(), http.StatusFound)
}

var errorPage = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Cobalt portal</title><link rel="stylesheet" href="/static/style.css"></head>
<body><main class="message"><h1>Sign-in did not complete</h1><p role="alert">{{.}}</p><p><a href="/signin">Sign in again</a></p></main></body></html>
`))

func (p *Portal) signInFailed(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = errorPage.Execute(w, msg)
}

// handleCallback finishes the flow: it checks the state against the
// browser's cookie, redeems the code with the verifier, verifies the ID
// token and its nonce, and starts a session.
func (p *Portal) handleCallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	c, err := r.Cookie(signInCookie)
	state := q.Get("state")
	if err != nil || state == "" || c.Value != state {
		p.signInFailed(w, http.StatusBadRequest, "The sign-in response does not belong to a sign-in started in this browser.")
		return
	}
	setCookie(w, signInCookie, "", -1, http.SameSiteLaxMode)
	p.mu.Lock()
	pd, ok := p.pending[state]
	delete(p.pending, state)
	p.mu.Unlock()
	if !ok || p.now().After(pd.expires) {
		p.signInFailed(w, http.StatusBadRequest, "The sign-in took too long; start again.")
		return
	}
	if e := q.Get("error"); e != "" {
		p.signInFailed(w, http.StatusBadRequest, firstLine(q.Get("error_description")))
		return
	}
	tr, err := p.tokenRequest(r.Context(), url.Values{
		"grant_type": {"authorization_code"}, "client_id": {ClientID}, "code": {q.Get("code")},
		"redirect_uri": {p.cfg.PublicURL + "/signin-oidc"}, "code_verifier": {pd.verifier},
	})
	if err != nil {
		p.signInFailed(w, http.StatusBadGateway, err.Error())
		return
	}
	v, err := p.idVerifier(r.Context())
	if err != nil {
		p.log.Error("portal: OIDC discovery failed", logkey.Err, err)
		p.signInFailed(w, http.StatusBadGateway, "The login service's keys could not be read.")
		return
	}
	idt, err := v.Verify(r.Context(), tr.IDToken)
	var claims struct {
		Oid       string `json:"oid"`
		Name      string `json:"name"`
		Preferred string `json:"preferred_username"`
		Tid       string `json:"tid"`
	}
	if err == nil {
		err = idt.Claims(&claims)
	}
	if err != nil || idt.Nonce != pd.nonce || claims.Oid == "" || claims.Tid != p.cfg.TenantID {
		p.signInFailed(w, http.StatusBadRequest, "The ID token is not valid.")
		return
	}
	s := &session{objectID: claims.Oid, upn: claims.Preferred, name: claims.Name, expires: p.now().Add(p.cfg.SessionLifetime),
		refresh: tr.RefreshToken, tokens: map[string]accessToken{}}
	if tr.AccessToken != "" {
		s.tokens[ARMResource] = accessToken{raw: tr.AccessToken, expires: p.now().Add(secs(tr.ExpiresIn))}
	}
	id, err := p.addSession(s)
	if err != nil {
		p.signInFailed(w, http.StatusServiceUnavailable, "Too many sessions are open; try again later.")
		return
	}
	setCookie(w, sessionCookie, id, int(p.cfg.SessionLifetime.Seconds()), http.SameSiteStrictMode)
	p.log.Info("portal: signed in", logkey.ObjectID, claims.Oid)
	http.Redirect(w, r, "/", http.StatusFound)
}

// handleSignOut ends the session, revokes its refresh tokens and sends the
// browser to the login service's logout endpoint.
func (p *Portal) handleSignOut(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r, p.cfg.PublicURL) {
		http.Error(w, "cross-origin sign-out refused", http.StatusForbidden)
		return
	}
	if s := p.dropSession(r); s != nil {
		p.cfg.Login.RevokeUserSessions(r.Context(), s.objectID, ClientID)
	}
	setCookie(w, sessionCookie, "", -1, http.SameSiteStrictMode)
	http.Redirect(w, r, p.cfg.AuthorityURL+"/"+p.cfg.TenantID+"/oauth2/v2.0/logout?"+
		url.Values{"post_logout_redirect_uri": {p.cfg.PublicURL + "/"}}.Encode(), http.StatusSeeOther)
}

// sameOrigin reports whether a state-changing request comes from the
// portal's own pages: its Origin (or, lacking one, its Referer) is the
// portal's; browsers always send Origin on cross-origin POSTs.
func sameOrigin(r *http.Request, publicURL string) bool {
	if o := r.Header.Get("Origin"); o != "" {
		return o == publicURL
	}
	return true
}

// handleMe answers who is signed in.
func (p *Portal) handleMe(w http.ResponseWriter, r *http.Request) {
	s, ok := p.session(r)
	if !ok {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]string{"code": "NotSignedIn", "message": "Sign in to continue."}})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"objectId": s.objectID, "userPrincipalName": s.upn, "name": s.name, "tenantId": p.cfg.TenantID})
}
