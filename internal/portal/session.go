package portal

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

const (
	sessionCookie = "__Host-cobalt-portal"
	signInCookie  = "__Host-cobalt-signin"
	// renewBefore is how long before expiry an access token is renewed.
	renewBefore = 5 * time.Minute
	// pendingLifetime bounds a sign-in that was started and not finished.
	pendingLifetime = 10 * time.Minute
	// maxSessions and maxPending bound memory.
	maxSessions = 10_000
	maxPending  = 10_000
)

// session is a signed-in user's server-side state.
type session struct {
	objectID, upn, name string
	expires             time.Time

	mu      sync.Mutex // serializes token renewals: the refresh token rotates
	refresh string
	tokens  map[string]accessToken // resource -> token
}

type accessToken struct {
	raw     string
	expires time.Time
}

// pending is a sign-in in progress: the PKCE verifier and nonce of one
// authorization request.
type pending struct {
	verifier, nonce string
	expires         time.Time
}

func randomID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// session returns the request's live session.
func (p *Portal) session(r *http.Request) (*session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.sessions[c.Value]
	if !ok {
		return nil, false
	}
	if !p.now().Before(s.expires) {
		delete(p.sessions, c.Value)
		return nil, false
	}
	return s, true
}

// addSession stores a new session and returns its ID.
func (p *Portal) addSession(s *session) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if len(p.sessions) >= maxSessions {
		for id, x := range p.sessions {
			if !now.Before(x.expires) {
				delete(p.sessions, id)
			}
		}
		if len(p.sessions) >= maxSessions {
			return "", errors.New("too many sessions")
		}
	}
	id := randomID()
	p.sessions[id] = s
	return id, nil
}

// dropSession ends a session and returns it.
func (p *Portal) dropSession(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.sessions[c.Value]
	delete(p.sessions, c.Value)
	return s
}

func setCookie(w http.ResponseWriter, name, value string, maxAge int, sameSite http.SameSite) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: true, SameSite: sameSite})
}

// errSignedOut is returned when a session can no longer get tokens.
var errSignedOut = errors.New("the session can no longer get tokens; sign in again")

// token returns an access token of the session's user for resource,
// renewing it with the refresh token when it is missing or about to expire.
func (p *Portal) token(ctx context.Context, s *session, resource string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tokens[resource]; ok && p.now().Add(renewBefore).Before(t.expires) {
		return t.raw, nil
	}
	if s.refresh == "" {
		return "", errSignedOut
	}
	form := url.Values{"grant_type": {"refresh_token"}, "client_id": {ClientID}, "refresh_token": {s.refresh},
		"scope": {resource + "/.default openid"}}
	tr, err := p.tokenRequest(ctx, form)
	if err != nil {
		s.refresh = ""
		return "", err
	}
	s.refresh = tr.RefreshToken
	s.tokens[resource] = accessToken{raw: tr.AccessToken, expires: p.now().Add(time.Duration(tr.ExpiresIn) * time.Second)}
	return tr.AccessToken, nil
}

// tokenResponse is the token endpoint's answer.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	ExpiresIn    int64  `json:"expires_in"`
	Error        string `json:"error"`
	Description  string `json:"error_description"`
}

// tokenRequest posts form to the tenant's v2 token endpoint.
func (p *Portal) tokenRequest(ctx context.Context, form url.Values) (tokenResponse, error) {
	var tr tokenResponse
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.cfg.AuthorityURL+"/"+p.cfg.TenantID+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	if err != nil {
		return tr, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := p.cfg.HTTPClient.Do(req)
	if err != nil {
		return tr, fmt.Errorf("token request: %w", err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 1<<20)).Decode(&tr); err != nil {
		return tr, fmt.Errorf("token response: %w", err)
	}
	if resp.StatusCode != http.StatusOK || tr.AccessToken == "" {
		return tr, fmt.Errorf("token request refused: %s", firstLine(tr.Description))
	}
	return tr, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\r\n")
	return s
}
