package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// maxResponse caps the size of a JSON response the CLI reads into memory.
const maxResponse = 64 << 20

// apiError is a service's error as the CLI prints it: the service's own code
// and message.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string {
	if e.Code == "" {
		return e.Message
	}
	return fmt.Sprintf("(%s) %s", e.Code, e.Message)
}

// client calls Cobalt's public APIs over HTTPS the way the SDKs do.
type client struct {
	http    *http.Client
	profile *profile
	tokens  *tokenCache
	// poll is the longest wait between two polls of a long-running operation.
	poll time.Duration
	// warn receives the services' HTTP Warning headers, as az prints them.
	warn io.Writer
}

// newHTTPClient returns an HTTP client that trusts the system roots plus
// caFile (if any) and, when verbose is non-nil, prints each request's method,
// URL and status there.
func newHTTPClient(caFile string, verbose io.Writer) (*http.Client, error) {
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read the CA certificate: %w", err)
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate", caFile)
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	var rt http.RoundTripper = tr
	if verbose != nil {
		rt = &verboseTransport{next: tr, w: verbose}
	}
	return &http.Client{Transport: rt, Timeout: 5 * time.Minute}, nil
}

// verboseTransport logs requests: method, URL and status, never headers or
// bodies, which may carry tokens, keys or secrets.
type verboseTransport struct {
	next http.RoundTripper
	w    io.Writer
}

func (t *verboseTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(r)
	u := *r.URL
	u.User = nil
	if err != nil {
		fmt.Fprintf(t.w, "%s %s: %v\n", r.Method, u.String(), err)
		return nil, err
	}
	fmt.Fprintf(t.w, "%s %s -> %d (%s)\n", r.Method, u.String(), resp.StatusCode, time.Since(start).Round(time.Millisecond))
	return resp, nil
}

// request is one call to a service.
type request struct {
	method string
	url    string
	scope  string // token scope; "" sends no Authorization header
	body   any    // JSON-encoded when non-nil
	header http.Header
	// ok lists the success statuses; empty means any 2xx.
	ok []int
}

// do sends r and returns the response if its status is a success, or the
// service's error otherwise. The caller closes the body. A 401 to a cached
// token drops that token and tries once more with a new one, as azcore does.
func (c *client) do(ctx context.Context, r request) (*http.Response, error) {
	var payload []byte
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return nil, err
		}
		payload = b
	}
	for attempt := 0; ; attempt++ {
		resp, err := c.send(ctx, r, payload)
		if err != nil {
			return nil, err
		}
		if success(resp.StatusCode, r.ok) {
			c.printWarnings(resp.Header)
			return resp, nil
		}
		if resp.StatusCode == http.StatusUnauthorized && r.scope != "" && attempt == 0 && c.tokens.forget(r.scope) {
			resp.Body.Close()
			continue
		}
		defer resp.Body.Close()
		if e := decodeError(resp); e != nil {
			return nil, e
		}
		return nil, &apiError{Status: resp.StatusCode, Code: http.StatusText(resp.StatusCode),
			Message: fmt.Sprintf("%s %s returned status %d", r.method, redactURL(r.url), resp.StatusCode)}
	}
}

// printWarnings shows each `Warning: 299 - "text"` header as "WARNING: text".
func (c *client) printWarnings(h http.Header) {
	if c.warn == nil {
		return
	}
	for _, v := range h.Values("Warning") {
		text := v
		if _, rest, ok := strings.Cut(v, " - "); ok {
			text = rest
		}
		fmt.Fprintln(c.warn, "WARNING:", strings.Trim(text, `"`))
	}
}

// send makes one attempt of r.
func (c *client) send(ctx context.Context, r request, payload []byte) (*http.Response, error) {
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, r.url, body)
	if err != nil {
		return nil, err
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	if payload != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "cobalt-cli")
	if r.scope != "" {
		tok, err := c.tokens.token(ctx, r.scope)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	}
	return c.http.Do(req)
}

func success(status int, ok []int) bool {
	if len(ok) == 0 {
		return status >= 200 && status < 300
	}
	for _, s := range ok {
		if s == status {
			return true
		}
	}
	return false
}

// doJSON sends r and decodes a JSON response body into out (if out is non-nil
// and there is a body). A *json.RawMessage out keeps the body as sent.
func (c *client) doJSON(ctx context.Context, r request, out any) (*http.Response, error) {
	resp, err := c.do(ctx, r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, err
	}
	if out != nil && len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return nil, fmt.Errorf("%s %s: decode response: %w", r.method, redactURL(r.url), err)
		}
	}
	return resp, nil
}

// redactURL drops the query of a URL, which may hold a SAS signature.
func redactURL(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}

// decodeError reads the error body of a failed response in any of the wire
// formats Cobalt's services use: ARM ({"error":{"code","message"}}), Batch
// ({"code","message":{"value"}}), OAuth and IMDS ({"error","error_description"}),
// Blob (XML <Error><Code/><Message/></Error>, or only x-ms-error-code for HEAD).
// It returns nil when the body carries no code.
func decodeError(resp *http.Response) *apiError {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	e := parseErrorBody(b)
	if e == nil {
		if code := resp.Header.Get("x-ms-error-code"); code != "" {
			e = &apiError{Code: code, Message: http.StatusText(resp.StatusCode)}
		}
	}
	if e != nil {
		e.Status = resp.StatusCode
	}
	return e
}

// parseErrorBody extracts a code and message from an error body, or returns nil.
func parseErrorBody(b []byte) *apiError {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil
	}
	if b[0] == '<' {
		var x struct {
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
		}
		if xml.Unmarshal(b, &x) == nil && x.Code != "" {
			return &apiError{Code: x.Code, Message: firstLine(x.Message)}
		}
		return nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	for _, k := range []string{"error", "odata.error"} {
		raw, ok := m[k]
		if !ok {
			continue
		}
		var inner map[string]json.RawMessage
		if json.Unmarshal(raw, &inner) == nil {
			if e := codeMessage(inner); e != nil {
				return e
			}
		}
		var code string
		if json.Unmarshal(raw, &code) == nil && code != "" { // OAuth / IMDS
			var desc string
			_ = json.Unmarshal(m["error_description"], &desc)
			if desc == "" {
				desc = code
			}
			return &apiError{Code: code, Message: firstLine(desc)}
		}
	}
	return codeMessage(m)
}

// codeMessage reads {"code": "...", "message": "..." | {"value": "..."}}.
func codeMessage(m map[string]json.RawMessage) *apiError {
	var code string
	if json.Unmarshal(m["code"], &code) != nil || code == "" {
		return nil
	}
	var msg string
	if json.Unmarshal(m["message"], &msg) != nil {
		var lv struct {
			Value string `json:"value"`
		}
		_ = json.Unmarshal(m["message"], &lv)
		msg = lv.Value
	}
	return &apiError{Code: code, Message: firstLine(msg)}
}

// firstLine drops the trailers that Batch and Blob (RequestId, Time) and
// Entra (Trace ID, Correlation ID, Timestamp) append to messages.
func firstLine(s string) string {
	for _, t := range []string{"\nRequestId:", "\nTrace ID:", "\r\nTrace ID:"} {
		if i := strings.Index(s, t); i >= 0 {
			s = s[:i]
		}
	}
	return strings.TrimSpace(s)
}

// isNotFound reports whether err is a service's 404.
func isNotFound(err error) bool {
	var e *apiError
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

// newClient signs in with the stored profile: it reads the profile from the
// config directory and builds the HTTPS client (installation CA, --verbose)
// and the token cache.
func newClient(g *globals) (*client, error) {
	dir, err := configDir(g.Getenv)
	if err != nil {
		return nil, err
	}
	p, err := loadProfile(dir)
	if err != nil {
		return nil, err
	}
	followEndpoints(p)
	return clientFor(g, dir, p)
}

// followEndpoints updates a profile that came from a data directory when the
// installation restarted on other ports: same tenant and subscription, new
// endpoints.json. Credentials are kept.
func followEndpoints(p *profile) {
	if p.DataDir == "" {
		return
	}
	e, err := readEndpoints(p.DataDir)
	if err != nil || e.TenantID != p.TenantID || e.SubscriptionID != p.SubscriptionID {
		return
	}
	p.AuthorityHost, p.ResourceManager, p.CACertFile = e.AuthorityHost, e.ResourceManager, e.CACertFile
}

// clientFor builds a client for profile p whose tokens are cached in dir.
func clientFor(g *globals, dir string, p *profile) (*client, error) {
	var verbose io.Writer
	if g.Verbose {
		verbose = g.Stderr
	}
	hc, err := newHTTPClient(p.CACertFile, verbose)
	if err != nil {
		return nil, err
	}
	cred, err := newCredential(p, hc)
	if err != nil {
		return nil, err
	}
	return &client{http: hc, profile: p, tokens: newTokenCache(dir, cred), poll: 5 * time.Second, warn: g.Stderr}, nil
}
