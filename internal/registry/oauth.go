package registry

import (
	"crypto/subtle"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/logkey"
)

// Audiences of the Microsoft Entra tokens /oauth2/exchange accepts: ACR's,
// and ARM's (ACR accepts those unless "Azure AD authentication as ARM" is
// disabled).
var exchangeAudiences = []string{
	"https://containerregistry.azure.net",
	"https://management.azure.com",
	"https://management.core.windows.net",
}

// maxFormBytes bounds an OAuth form.
const maxFormBytes = 64 << 10

func oauthError(w http.ResponseWriter, status int, code, msg string) {
	writeOCIError(w, ociErr(status, code, msg))
}

// readForm parses an urlencoded POST body (bounded).
func (rc *reqCtx) readForm() (url.Values, bool) {
	ct, _, _ := mime.ParseMediaType(rc.r.Header.Get("Content-Type"))
	if ct != "application/x-www-form-urlencoded" {
		oauthError(rc.w, http.StatusBadRequest, "UNSUPPORTED", "the body must be application/x-www-form-urlencoded")
		return nil, false
	}
	rc.r.Body = http.MaxBytesReader(rc.w, rc.r.Body, maxFormBytes)
	if err := rc.r.ParseForm(); err != nil {
		oauthError(rc.w, http.StatusBadRequest, "UNSUPPORTED", "the form is malformed")
		return nil, false
	}
	return rc.r.PostForm, true
}

// checkService refuses a service that is not this registry's login server.
func (rc *reqCtx) checkService(service string) bool {
	if service != "" && !strings.EqualFold(service, rc.loginServer) {
		oauthError(rc.w, http.StatusUnauthorized, "UNAUTHORIZED", "the service does not name this registry")
		return false
	}
	return true
}

// exchange serves POST /oauth2/exchange: a Microsoft Entra access token
// becomes an ACR refresh token naming its principal.
func (rc *reqCtx) exchange() {
	if rc.r.Method != http.MethodPost {
		rc.w.Header().Set("Allow", http.MethodPost)
		oauthError(rc.w, http.StatusMethodNotAllowed, "UNSUPPORTED", "use POST")
		return
	}
	f, ok := rc.readForm()
	if !ok {
		return
	}
	switch f.Get("grant_type") {
	case "access_token", "access_token_refresh_token":
	default:
		oauthError(rc.w, http.StatusBadRequest, "UNSUPPORTED", "grant_type must be access_token")
		return
	}
	if !rc.checkService(f.Get("service")) {
		return
	}
	if rc.s.cfg.Validator == nil {
		oauthError(rc.w, http.StatusUnauthorized, "UNAUTHORIZED", "Microsoft Entra authentication is not available")
		return
	}
	caller, err := rc.s.cfg.Validator.Validate(rc.r.Context(), f.Get("access_token"), exchangeAudiences...)
	if err != nil {
		msg := "the access token is invalid"
		var ce *cobalt.Error
		if errors.As(err, &ce) && ce.Code == cobalt.EUnauthorized {
			msg = ce.Message
		} else if !errors.As(err, &ce) {
			rc.s.log.Error("registry exchange: validating a token failed", logkey.Registry, rc.reg.Name, logkey.Err, err)
			writeOCIError(rc.w, errInternal())
			return
		}
		oauthError(rc.w, http.StatusUnauthorized, "UNAUTHORIZED", msg)
		return
	}
	if t := f.Get("tenant"); t != "" && !strings.EqualFold(t, caller.TenantID) {
		oauthError(rc.w, http.StatusUnauthorized, "UNAUTHORIZED", "the tenant does not match the token")
		return
	}
	c := rc.s.newClaims(rc.loginServer, caller.ObjectID, refreshTTL)
	c.GrantType, c.Tenant = "refresh_token", caller.TenantID
	c.Permissions = &permissions{Actions: []string{"*"}, NotActions: []string{}}
	rt, err := rc.s.sign(kindRefresh, rc.reg, c)
	if err != nil {
		writeOCIError(rc.w, errInternal())
		return
	}
	rc.s.log.Info("registry refresh token issued", logkey.Registry, rc.reg.Name, logkey.ObjectID, caller.ObjectID)
	rc.w.Header().Set("Cache-Control", "no-store")
	writeJSON(rc.w, http.StatusOK, map[string]string{"refresh_token": rt})
}

// token serves /oauth2/token: POST with a refresh token (or a password
// grant), GET with Basic credentials; it issues an access token granting
// the requested scopes the principal holds.
func (rc *reqCtx) token() {
	var scopes []string
	var user, pass, refresh string
	hasBasic := false
	switch rc.r.Method {
	case http.MethodGet:
		q := rc.r.URL.Query()
		if !rc.checkService(q.Get("service")) {
			return
		}
		scopes = q["scope"]
	case http.MethodPost:
		f, ok := rc.readForm()
		if !ok {
			return
		}
		if !rc.checkService(f.Get("service")) {
			return
		}
		scopes = f["scope"]
		switch f.Get("grant_type") {
		case "refresh_token":
			refresh = f.Get("refresh_token")
		case "password":
			user, pass = f.Get("username"), f.Get("password")
			hasBasic = user != "" || pass != ""
		default:
			oauthError(rc.w, http.StatusBadRequest, "UNSUPPORTED", "grant_type must be refresh_token or password")
			return
		}
	default:
		rc.w.Header().Set("Allow", "GET, POST")
		oauthError(rc.w, http.StatusMethodNotAllowed, "UNSUPPORTED", "use GET or POST")
		return
	}
	if refresh == "" && !hasBasic {
		user, pass, hasBasic = rc.r.BasicAuth()
	}
	var c tokenClaims
	switch {
	case refresh != "":
		rt, err := rc.s.verify(kindRefresh, rc.reg, rc.loginServer, refresh)
		if err != nil {
			oauthError(rc.w, http.StatusUnauthorized, "UNAUTHORIZED", "invalid refresh token")
			return
		}
		c.Sub = rt.Sub
	case hasBasic && user == nullGUID:
		rt, err := rc.s.verify(kindRefresh, rc.reg, rc.loginServer, pass)
		if err != nil {
			oauthError(rc.w, http.StatusUnauthorized, "UNAUTHORIZED", "invalid refresh token")
			return
		}
		c.Sub = rt.Sub
	case hasBasic && rc.adminPassword(user, pass):
		c.Sub, c.Admin = rc.reg.Name, true
	default:
		oauthError(rc.w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
		return
	}
	granted, err := rc.s.grantFor(rc.r.Context(), rc.reg, c, parseScopes(scopes))
	if err != nil {
		rc.s.log.Error("registry token: evaluating role assignments failed", logkey.Registry, rc.reg.Name, logkey.Err, err)
		writeOCIError(rc.w, errInternal())
		return
	}
	at := rc.s.newClaims(rc.loginServer, c.Sub, accessTTL)
	at.Admin, at.Access = c.Admin, granted
	tok, err := rc.s.sign(kindAccess, rc.reg, at)
	if err != nil {
		writeOCIError(rc.w, errInternal())
		return
	}
	rc.w.Header().Set("Cache-Control", "no-store")
	writeJSON(rc.w, http.StatusOK, map[string]any{
		"access_token": tok, "token": tok, "expires_in": int(accessTTL / time.Second),
		"issued_at": time.Unix(at.IAT, 0).UTC().Format(time.RFC3339),
	})
}

// adminPassword reports whether user and pass are the admin user's.
func (rc *reqCtx) adminPassword(user, pass string) bool {
	if !rc.reg.AdminUserEnabled || !strings.EqualFold(user, rc.reg.Name) || pass == "" {
		return false
	}
	ok := false
	for _, p := range rc.reg.Passwords {
		if p != "" && subtle.ConstantTimeCompare([]byte(p), []byte(pass)) == 1 {
			ok = true
		}
	}
	return ok
}
