package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/imds"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// maxResponse bounds a node API response body.
const maxResponse = 8 << 20

// client calls the control plane's node API: at the base URL in use and,
// when it fails (no connection, or a 502, 503 or 504 of a proxy in front of
// a dead replica), at each other replica's in turn, keeping the first that
// answers.
type client struct {
	bases      []string // no trailing slash; at least one
	cur        atomic.Int32
	credential string
	http       *http.Client
	// onSwitch, if set, is told the base URL now in use after a failover.
	onSwitch func(base string)
}

// newClient returns a client of the base URLs, in order of preference.
func newClient(bases []string, credential string, httpc *http.Client) *client {
	c := &client{credential: credential, http: httpc}
	for _, b := range bases {
		if b = strings.TrimRight(b, "/"); b != "" {
			c.bases = append(c.bases, b)
		}
	}
	return c
}

// NewHTTPClient returns an HTTPS client for the node API that trusts the CA
// in caFile (and the system roots when caFile is empty). Agents of one
// process share one (Config.HTTPClient): their requests carry each node's
// credential, and one connection spares a TLS handshake per node.
func NewHTTPClient(caFile string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // the control plane is never reached through a proxy
	tr.MaxIdleConns = 256
	tr.MaxIdleConnsPerHost = 128
	tr.ForceAttemptHTTP2 = true
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no certificate in CA file %s", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr}, nil
}

// call POSTs in as JSON to path and decodes the 2xx response into out.
// Non-2xx responses become *cobalt.Error (see apiError). A failure another
// replica may not have (see client) is tried at the other base URLs, each
// with its own timeout; every node protocol call may be repeated (the agent
// retries them all after a failure anyway).
func (c *client) call(ctx context.Context, path string, in, out any, timeout time.Duration) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	first := int(c.cur.Load())
	var errs []error
	for i := range c.bases {
		idx := (first + i) % len(c.bases)
		data, err := c.post(ctx, c.bases[idx], path, body, timeout)
		if errors.Is(err, errFailover) && ctx.Err() == nil {
			errs = append(errs, err)
			continue
		}
		if err != nil {
			return err
		}
		if idx != first && c.cur.CompareAndSwap(int32(first), int32(idx)) && c.onSwitch != nil {
			c.onSwitch(c.bases[idx])
		}
		if out == nil {
			return nil
		}
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("node api %s: decode: %w", path, err)
		}
		return nil
	}
	return errors.Join(errs...)
}

// errFailover marks a failure of one replica: the next may answer.
var errFailover = errors.New("the control-plane replica is out of reach")

// post sends one request to base and returns the 2xx body.
func (c *client) post(ctx context.Context, base, path string, body []byte, timeout time.Duration) ([]byte, error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.credential)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("node api %s: %w: %w", path, errFailover, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("node api %s: read: %w: %w", path, errFailover, err)
	}
	switch resp.StatusCode {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return nil, fmt.Errorf("node api %s: %w: %s", path, errFailover, resp.Status)
	}
	if resp.StatusCode/100 != 2 {
		return nil, apiError(resp.StatusCode, data)
	}
	return data, nil
}

// Node protocol error codes the agent acts on.
const (
	codeNodeRemoved  = "NodeRemoved"
	codeUnauthorized = "Unauthorized"
)

// apiError maps a node API error response to a *cobalt.Error whose Reason is
// the protocol's code.
func apiError(status int, body []byte) error {
	var e nodeproto.Error
	_ = json.Unmarshal(body, &e)
	msg := e.Message
	if msg == "" {
		msg = fmt.Sprintf("node api returned %d", status)
	}
	var code cobalt.Code
	switch {
	case e.Code == imds.ReasonIdentityNotFound:
		code = cobalt.ENotFound
	case e.Code == imds.ReasonMultipleIdentities:
		code = cobalt.EInvalid
	case status == http.StatusBadRequest:
		code = cobalt.EInvalid
	case status == http.StatusUnauthorized:
		code = cobalt.EUnauthorized
	case status == http.StatusForbidden:
		code = cobalt.EForbidden
	case status == http.StatusNotFound:
		code = cobalt.ENotFound
	case status == http.StatusGone:
		code = cobalt.ENotFound
	case status == http.StatusConflict:
		code = cobalt.EConflict
	case status == http.StatusTooManyRequests:
		code = cobalt.ETooManyRequests
	default:
		code = cobalt.EInternal
	}
	return (&cobalt.Error{Code: code, Message: msg}).WithReason(e.Code)
}

// isRemoval reports whether err says this node's credential is no longer
// valid: the node was removed or never existed.
func isRemoval(err error) bool {
	r := cobalt.ErrorReason(err)
	return r == codeNodeRemoved || r == codeUnauthorized || cobalt.IsCode(err, cobalt.EUnauthorized) ||
		strings.EqualFold(r, "NodeNotFound")
}
