package login

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// Grant types of the user flows.
const (
	grantAuthorizationCode = "authorization_code"
	grantRefreshToken      = "refresh_token"
)

// userTokenRequest is a parsed authorization_code or refresh_token request.
type userTokenRequest struct {
	grant        string
	clientID     string
	code         string
	redirectURI  string
	codeVerifier string
	refreshToken string
	scope        string
}

// parseUserTokenRequest reads a user-flow token request from a parsed form.
// A client secret is refused: the clients of these flows are public.
func parseUserTokenRequest(f url.Values) (userTokenRequest, error) {
	tr := userTokenRequest{grant: f.Get("grant_type"), clientID: f.Get("client_id"), scope: f.Get("scope")}
	if tr.clientID == "" {
		return tr, aadError(aadMissingParameter, "The request body must contain the following parameter: 'client_id'.")
	}
	if f.Get("client_secret") != "" || f.Get("client_assertion") != "" {
		return tr, aadError(aadInvalidClientHeader, "Public clients can't send a client secret.")
	}
	switch tr.grant {
	case grantAuthorizationCode:
		tr.code, tr.redirectURI, tr.codeVerifier = f.Get("code"), f.Get("redirect_uri"), f.Get("code_verifier")
		for _, p := range []struct{ name, v string }{{"code", tr.code}, {"redirect_uri", tr.redirectURI}, {"code_verifier", tr.codeVerifier}} {
			if p.v == "" {
				return tr, aadError(aadMissingParameter, "The request body must contain the following parameter: '%s'.", p.name)
			}
		}
	case grantRefreshToken:
		tr.refreshToken = f.Get("refresh_token")
		if tr.refreshToken == "" {
			return tr, aadError(aadMissingParameter, "The request body must contain the following parameter: 'refresh_token'.")
		}
	default:
		return tr, aadError(aadUnsupportedGrant, "The app requested an unsupported grant type '%s'.", clip(tr.grant))
	}
	return tr, nil
}

// userTokenResponse is the v2 endpoint's answer to the user flows.
type userTokenResponse struct {
	TokenType    string `json:"token_type"`
	Scope        string `json:"scope"`
	ExpiresIn    int64  `json:"expires_in"`
	ExtExpiresIn int64  `json:"ext_expires_in"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
}

// s256 returns the PKCE S256 challenge of a verifier.
func s256(verifier string) string {
	h := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// redeemUserGrant answers an authorization_code or refresh_token request.
func (s *Service) redeemUserGrant(ctx context.Context, tenant string, tr userTokenRequest) (userTokenResponse, error) {
	if _, ok := s.grants.client(tr.clientID); !ok {
		if p, err := s.principalByClientID(ctx, tenant, tr.clientID); err == nil && p.Kind == cobalt.KindUser {
			return userTokenResponse{}, aadError(aadUserGrantNotAllowed, "A user cannot be a client application.")
		}
		return userTokenResponse{}, aadError(aadAppNotFound, "Application with identifier '%s' was not found in the directory '%s'.", clip(tr.clientID), tenant)
	}
	now := s.now()
	var (
		objectID, resource, scp, nonce, family string
		openid                                 bool
	)
	switch tr.grant {
	case grantAuthorizationCode:
		c, ok := s.grants.takeCode(tr.code)
		switch {
		case !ok:
			return userTokenResponse{}, aadError(aadCodeRedeemed, "The provided authorization code is not valid or was already redeemed. Please try again with a new valid code.")
		case c.tenantID != tenant || c.clientID != tr.clientID:
			return userTokenResponse{}, aadError(aadInvalidGrant, "The provided authorization code was issued to another client or tenant.")
		case now.After(c.expires):
			return userTokenResponse{}, aadError(aadCodeExpired, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.")
		case c.redirectURI != tr.redirectURI:
			return userTokenResponse{}, aadError(aadRedirectMismatch, "The reply URL specified in the request does not match the reply URL of the authorization request.")
		case subtle.ConstantTimeCompare([]byte(s256(tr.codeVerifier)), []byte(c.challenge)) != 1:
			return userTokenResponse{}, aadError(aadPKCEMismatch, "The code_verifier does not match the code_challenge supplied in the authorization request for PKCE.")
		}
		objectID, resource, scp, nonce, openid, family = c.objectID, c.resource, c.scp, c.nonce, c.openid, uuid.NewString()
		if tr.scope != "" { // the scope of the redemption may only repeat the authorization's resource
			var r2, scp2 string
			var o2, off2 bool
			if err := parseUserScope(tr.scope, &r2, &scp2, &o2, &off2); err != nil {
				return userTokenResponse{}, err
			}
			if strings.TrimSuffix(r2, "/") != strings.TrimSuffix(resource, "/") {
				return userTokenResponse{}, aadError(aadInvalidScope, "The scope %s does not match the authorization request.", clip(tr.scope))
			}
		}
	case grantRefreshToken:
		g, ok := s.grants.useRefresh(tr.refreshToken, now)
		if !ok {
			return userTokenResponse{}, aadError(aadCodeExpired, "The refresh token has expired, was revoked, or was already used. Send a new interactive authorization request for this user and resource.")
		}
		if g.tenantID != tenant || g.clientID != tr.clientID {
			return userTokenResponse{}, aadError(aadInvalidGrant, "The provided refresh token was issued to another client or tenant.")
		}
		objectID, family = g.objectID, g.family
		var offline bool
		if err := parseUserScope(tr.scope, &resource, &scp, &openid, &offline); err != nil {
			return userTokenResponse{}, err
		}
	}
	p, err := s.store.PrincipalGet(ctx, objectID)
	if cobalt.IsCode(err, cobalt.ENotFound) || err == nil && (p.Kind != cobalt.KindUser || p.Disabled) {
		return userTokenResponse{}, aadError(aadInvalidGrant, "The user account no longer exists or is disabled.")
	}
	if err != nil {
		return userTokenResponse{}, err
	}
	ver, _ := resourceVersion(resource)
	at, err := s.mintUser(ctx, &p, tr.clientID, resource, ver, scp, tr.grant)
	if err != nil {
		return userTokenResponse{}, err
	}
	resp := userTokenResponse{
		TokenType: "Bearer", Scope: scopeString(resource, scp), AccessToken: at.AccessToken,
		ExpiresIn: int64(at.ExpiresAt.Sub(now) / time.Second),
	}
	resp.ExtExpiresIn = resp.ExpiresIn
	resp.RefreshToken = s.grants.addRefresh(&refreshGrant{family: family, tenantID: tenant, clientID: tr.clientID,
		objectID: objectID, expires: now.Add(refreshLifetime)}, now)
	if resp.RefreshToken == "" {
		return userTokenResponse{}, aadError(aadTransient, "Too many sessions are open. Please try again.")
	}
	if openid {
		if resp.IDToken, err = s.mintIDToken(ctx, &p, tr.clientID, nonce); err != nil {
			return userTokenResponse{}, err
		}
	}
	return resp, nil
}

// scopeString renders the granted scopes as Entra does: each scope prefixed
// with its resource.
func scopeString(resource, scp string) string {
	base := strings.TrimSuffix(resource, "/") + "/"
	var out []string
	for _, s := range strings.Fields(scp) {
		out = append(out, base+s)
	}
	return strings.Join(out, " ")
}

// userClaims is the claim set of an Entra delegated (user) access token.
type userClaims struct {
	accessClaims
	Acr        string   `json:"acr"`
	Amr        []string `json:"amr"`
	Name       string   `json:"name"`
	Scp        string   `json:"scp"`
	Upn        string   `json:"upn,omitempty"`
	UniqueName string   `json:"unique_name,omitempty"`
	Preferred  string   `json:"preferred_username,omitempty"`
	IPAddr     string   `json:"ipaddr,omitempty"`
}

// pairwiseSub is a user's subject for one application: stable per user and
// client, different across clients, as Entra's sub.
func pairwiseSub(objectID, clientID string) string {
	h := sha256.Sum256([]byte(clientID + "\x00" + objectID))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// mintUser signs a delegated access token for a user and a public client,
// and audits it.
func (s *Service) mintUser(ctx context.Context, p *store.PrincipalRecord, clientID, resource, ver, scp, grant string) (Token, error) {
	sk, err := s.signer(ctx)
	if err != nil {
		return Token{}, err
	}
	now := s.now()
	iat := now.Add(-backdate).Truncate(time.Second)
	exp := now.Add(s.lifetime).Truncate(time.Second)
	c := userClaims{
		accessClaims: accessClaims{
			Aud: resource, Iat: iat.Unix(), Nbf: iat.Unix(), Exp: exp.Unix(),
			Aio: randomString(base64.StdEncoding, 51), Idtyp: "user",
			Oid: p.ObjectID, Sub: pairwiseSub(p.ObjectID, clientID), Tid: p.TenantID,
			Rh:  "0." + randomString(base64.RawURLEncoding, 48),
			Uti: randomString(base64.RawURLEncoding, 16), Ver: ver,
		},
		Acr: "1", Amr: []string{"pwd"}, Name: p.DisplayName, Scp: scp,
	}
	signer := sk.signerV1
	if ver == V1 {
		c.Iss = s.IssuerV1(p.TenantID)
		c.AppID, c.AppIDACR = clientID, "0"
		c.Upn, c.UniqueName = p.UserPrincipalName, p.UserPrincipalName
	} else {
		c.Iss = s.IssuerV2(p.TenantID)
		c.Azp, c.AzpACR = clientID, "0"
		c.Preferred = p.UserPrincipalName
		signer = sk.signerV2
	}
	c.Idp = c.Iss
	payload, err := json.Marshal(c)
	if err != nil {
		return Token{}, err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return Token{}, fmt.Errorf("sign token: %w", err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		return Token{}, fmt.Errorf("serialize token: %w", err)
	}
	if err := s.store.AuditAppend(ctx, store.AuditRecord{Time: now, Kind: "token.issued", Actor: p.ObjectID, Subject: p.ObjectID,
		Fields: map[string]string{"audience": resource, "client_id": clientID, "grant": grant, "version": ver, "kid": sk.kid,
			"uti": c.Uti, "expires": exp.UTC().Format(time.RFC3339)}}); err != nil {
		return Token{}, fmt.Errorf("audit token: %w", err)
	}
	s.log.Debug("login: user token issued", logkey.ObjectID, p.ObjectID, logkey.Audience, resource, logkey.Grant, grant, logkey.TokenID, c.Uti)
	return Token{AccessToken: raw, IssuedAt: iat, NotBefore: iat, ExpiresAt: exp, Resource: resource, Principal: p.Principal, Version: ver}, nil
}

// idClaims is the claim set of an Entra v2 ID token.
type idClaims struct {
	Aud       string `json:"aud"`
	Iss       string `json:"iss"`
	Iat       int64  `json:"iat"`
	Nbf       int64  `json:"nbf"`
	Exp       int64  `json:"exp"`
	Name      string `json:"name"`
	Nonce     string `json:"nonce,omitempty"`
	Oid       string `json:"oid"`
	Preferred string `json:"preferred_username"`
	Rh        string `json:"rh"`
	Sub       string `json:"sub"`
	Tid       string `json:"tid"`
	Uti       string `json:"uti"`
	Ver       string `json:"ver"`
}

// mintIDToken signs a v2 ID token for a user and a client.
func (s *Service) mintIDToken(ctx context.Context, p *store.PrincipalRecord, clientID, nonce string) (string, error) {
	sk, err := s.signer(ctx)
	if err != nil {
		return "", err
	}
	now := s.now()
	iat := now.Add(-backdate).Truncate(time.Second)
	c := idClaims{
		Aud: clientID, Iss: s.IssuerV2(p.TenantID), Iat: iat.Unix(), Nbf: iat.Unix(), Exp: now.Add(time.Hour).Unix(),
		Name: p.DisplayName, Nonce: nonce, Oid: p.ObjectID, Preferred: p.UserPrincipalName,
		Rh: "0." + randomString(base64.RawURLEncoding, 48), Sub: pairwiseSub(p.ObjectID, clientID), Tid: p.TenantID,
		Uti: randomString(base64.RawURLEncoding, 16), Ver: V2,
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	jws, err := sk.signerV2.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign ID token: %w", err)
	}
	return jws.CompactSerialize()
}

// handleUserGrant answers a v2 token request for the user flows, with the
// form already parsed.
func (s *Service) handleUserGrant(w http.ResponseWriter, r *http.Request, tenant string, fail func(error)) {
	tr, err := parseUserTokenRequest(r.PostForm)
	if err != nil {
		fail(err)
		return
	}
	resp, err := s.redeemUserGrant(r.Context(), tenant, tr)
	if err != nil {
		fail(err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}
