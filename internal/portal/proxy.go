package portal

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/logkey"
)

// maxBody bounds what the portal forwards in either direction.
const maxBody = 4 << 20

// portalHeader must accompany every write through /api: a custom header
// that no other origin can send without a CORS grant.
const portalHeader = "X-Cobalt-Portal"

// batchAPIVersion is the Batch data plane version the portal speaks.
const batchAPIVersion = "2024-07-01.20.0"

func secs(n int64) time.Duration { return time.Duration(n) * time.Second }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// apiError writes the portal's own errors in ARM's envelope, which the
// page shows as it shows ARM's.
func apiError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// apiSession checks an /api request: a live session, and for writes the
// portal header and a same-origin Origin.
func (p *Portal) apiSession(w http.ResponseWriter, r *http.Request) (*session, bool) {
	s, ok := p.session(r)
	if !ok {
		apiError(w, http.StatusUnauthorized, "NotSignedIn", "Your session has ended. Sign in again.")
		return nil, false
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if r.Header.Get(portalHeader) != "1" || !sameOrigin(r, p.cfg.PublicURL) {
			apiError(w, http.StatusForbidden, "CrossOriginRequest", "The request did not come from the portal's pages.")
			return nil, false
		}
	}
	return s, true
}

// handleARM sends /api/arm/{path}?{query} to Resource Manager with the
// user's token and returns its answer unchanged.
func (p *Portal) handleARM(w http.ResponseWriter, r *http.Request) {
	s, ok := p.apiSession(w, r)
	if !ok {
		return
	}
	path := strings.TrimPrefix(r.URL.EscapedPath(), "/api/arm")
	if !strings.HasPrefix(path, "/subscriptions") && !strings.HasPrefix(path, "/providers") && path != "/tenants" {
		apiError(w, http.StatusNotFound, "NotFound", "Not a Resource Manager path.")
		return
	}
	tok, err := p.token(r.Context(), s, ARMResource)
	if err != nil {
		p.tokenFailed(w, err)
		return
	}
	p.forward(w, r, p.cfg.ResourceManager+path+rawQuery(r), tok)
}

// handleBatch sends /api/batch/{account ID}/-/{path}?{query} to the Batch
// account's endpoint, which it reads from ARM with the user's token (so
// the user must be able to read the account, and no other host is ever
// reached), with the user's Batch token.
func (p *Portal) handleBatch(w http.ResponseWriter, r *http.Request) {
	s, ok := p.apiSession(w, r)
	if !ok {
		return
	}
	rest := strings.TrimPrefix(r.URL.EscapedPath(), "/api/batch")
	acctPath, dpPath, ok := strings.Cut(rest, "/-/")
	if !ok {
		apiError(w, http.StatusNotFound, "NotFound", "Expected /api/batch/{account ID}/-/{path}.")
		return
	}
	unescaped, err := url.PathUnescape(acctPath)
	if err != nil {
		apiError(w, http.StatusBadRequest, "InvalidResourceId", "The account ID is not valid.")
		return
	}
	id, err := cobalt.ParseResourceID(unescaped)
	if err != nil || !strings.EqualFold(id.Type(), "Microsoft.Batch/batchAccounts") {
		apiError(w, http.StatusBadRequest, "InvalidResourceId", "The account ID is not a Batch account.")
		return
	}
	armTok, err := p.token(r.Context(), s, ARMResource)
	if err != nil {
		p.tokenFailed(w, err)
		return
	}
	endpoint, status, body, err := p.accountEndpoint(r, id.String(), armTok)
	if err != nil {
		p.log.Warn("portal: account lookup failed", logkey.Err, err)
		apiError(w, http.StatusBadGateway, "BadGateway", "Resource Manager did not answer.")
		return
	}
	if endpoint == "" {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write(body)
		return
	}
	tok, err := p.token(r.Context(), s, BatchResource)
	if err != nil {
		p.tokenFailed(w, err)
		return
	}
	q := r.URL.Query()
	if q.Get("api-version") == "" {
		q.Set("api-version", batchAPIVersion)
	}
	p.forward(w, r, "https://"+endpoint+"/"+dpPath+"?"+q.Encode(), tok)
}

// accountEndpoint returns a Batch account's endpoint host, or, when ARM
// refuses, its status and error body.
func (p *Portal) accountEndpoint(r *http.Request, id, armTok string) (string, int, []byte, error) {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, p.cfg.ResourceManager+id+"?api-version=2024-07-01", nil)
	if err != nil {
		return "", 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+armTok)
	resp, err := p.cfg.HTTPClient.Do(req)
	if err != nil {
		return "", 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return "", 0, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return "", resp.StatusCode, body, nil
	}
	var a struct {
		Properties struct {
			AccountEndpoint string `json:"accountEndpoint"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(body, &a); err != nil || a.Properties.AccountEndpoint == "" ||
		strings.ContainsAny(a.Properties.AccountEndpoint, "/?#@ ") {
		return "", 0, nil, fmt.Errorf("account %s has no usable endpoint", id)
	}
	return a.Properties.AccountEndpoint, 0, nil, nil
}

func rawQuery(r *http.Request) string {
	if r.URL.RawQuery == "" {
		return ""
	}
	return "?" + r.URL.RawQuery
}

// forward sends the request to target with the bearer token and copies the
// answer's status, content type and body (nothing else) back.
func (p *Portal) forward(w http.ResponseWriter, r *http.Request, target, tok string) {
	var body io.Reader
	if r.Body != nil && r.Method != http.MethodGet && r.Method != http.MethodHead {
		body = http.MaxBytesReader(w, r.Body, maxBody)
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, target, body)
	if err != nil {
		apiError(w, http.StatusBadRequest, "InvalidRequest", "The request is not valid.")
		return
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if ct := r.Header.Get("Content-Type"); ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for _, h := range []string{"If-Match", "If-None-Match"} {
		if v := r.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	resp, err := p.cfg.HTTPClient.Do(req)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			apiError(w, http.StatusRequestEntityTooLarge, "RequestContentTooLarge", "The request body is too large.")
			return
		}
		p.log.Warn("portal: upstream request failed", logkey.Err, err)
		apiError(w, http.StatusBadGateway, "BadGateway", "The service did not answer.")
		return
	}
	defer resp.Body.Close()
	setContentType(w, resp.Header.Get("Content-Type"))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, io.LimitReader(resp.Body, maxBody))
}

func (p *Portal) tokenFailed(w http.ResponseWriter, err error) {
	p.log.Info("portal: token renewal failed", logkey.Err, err)
	apiError(w, http.StatusUnauthorized, "NotSignedIn", "Your sign-in has expired. Sign in again.")
}

// setContentType passes JSON and XML answers as they are, and serves any
// other content (task files, blobs: written by anyone with access) as an
// inert download, so that it can never run as a page of the portal's origin.
func setContentType(w http.ResponseWriter, ct string) {
	base := strings.ToLower(strings.TrimSpace(strings.Split(ct, ";")[0]))
	if base == "application/json" || base == "application/xml" {
		w.Header().Set("Content-Type", ct)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", "attachment")
	w.Header().Set("Content-Security-Policy", "sandbox; default-src 'none'")
}
