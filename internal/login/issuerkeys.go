package login

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Defaults of the federation settings.
const (
	// DefaultFederationKeyTTL is how long an external issuer's keys are reused.
	DefaultFederationKeyTTL = 5 * time.Minute
	// federationMaxIssuers bounds the key cache.
	federationMaxIssuers = 256
	// federationRefetchAfter is the least time between two fetches of one
	// issuer's keys when an assertion names a key ID the cache lacks, so
	// that assertions with made-up key IDs cannot make the service hammer
	// an issuer.
	federationRefetchAfter = 10 * time.Second
	// federationMaxDocBytes bounds a discovery document or key set.
	federationMaxDocBytes = 1 << 20
	// federationMaxKeys bounds the keys kept of one key set.
	federationMaxKeys = 100
	// federationFetchTimeout bounds one fetch.
	federationFetchTimeout = 10 * time.Second
)

// errIssuerNotAllowed is returned for an issuer the service may not fetch.
var errIssuerNotAllowed = errors.New("issuer not allowed")

// issuerKeys is one issuer's cached key set.
type issuerKeys struct {
	keys    []jose.JSONWebKey
	fetched time.Time
}

// issuerKeyCache fetches and caches the signing keys of external OpenID
// Connect issuers. It fetches only from issuers on loopback addresses and
// from those named in allowed, follows no redirect, uses no proxy, and
// refuses, at connection time, any non-loopback address for a host that
// no allowed issuer names. It is safe for concurrent use.
type issuerKeyCache struct {
	client  *http.Client
	ttl     time.Duration
	now     func() time.Time
	allowed map[string]bool // issuer URL -> true
	hosts   map[string]bool // host names of allowed issuers

	mu      sync.Mutex
	entries map[string]*issuerKeys
}

func newIssuerKeyCache(allowed []string, roots *x509.CertPool, ttl time.Duration, now func() time.Time) *issuerKeyCache {
	c := &issuerKeyCache{ttl: ttl, now: now, allowed: map[string]bool{}, hosts: map[string]bool{}, entries: map[string]*issuerKeys{}}
	for _, iss := range allowed {
		c.allowed[iss] = true
		if u, err := url.Parse(iss); err == nil {
			c.hosts[strings.ToLower(u.Hostname())] = true
		}
	}
	if c.ttl <= 0 {
		c.ttl = DefaultFederationKeyTTL
	}
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         c.dial,
		TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: federationFetchTimeout,
		MaxIdleConns:        16,
		IdleConnTimeout:     time.Minute,
	}
	c.client = &http.Client{Transport: tr, Timeout: federationFetchTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return c
}

// loopbackHost reports whether host is a loopback IP literal or "localhost".
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// issuerAllowed reports whether the service may fetch iss's keys: an https
// URL on a loopback host, or one of the allowed issuers.
func (c *issuerKeyCache) issuerAllowed(iss string) bool {
	u, err := url.Parse(iss)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	return loopbackHost(u.Hostname()) || c.allowed[iss]
}

// dial connects only to loopback addresses, unless the host is one an
// allowed issuer names.
func (c *issuerKeyCache) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: federationFetchTimeout}
	if !c.hosts[strings.ToLower(host)] {
		d.Control = loopbackOnly
	}
	return d.DialContext(ctx, network, addr)
}

// loopbackOnly is a dialer's Control function that refuses, before the
// connection is attempted, every address that is not loopback.
func loopbackOnly(_, address string, _ syscall.RawConn) error {
	h, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(h); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%w: %s is not a loopback address", errIssuerNotAllowed, h)
	}
	return nil
}

// keys returns iss's signing keys, fetched when not cached or older than
// the TTL, or when refresh is set and the last fetch is older than
// federationRefetchAfter. errIssuerNotAllowed if iss may not be fetched.
func (c *issuerKeyCache) keys(ctx context.Context, iss string, refresh bool) ([]jose.JSONWebKey, error) {
	if !c.issuerAllowed(iss) {
		return nil, errIssuerNotAllowed
	}
	now := c.now()
	c.mu.Lock()
	e := c.entries[iss]
	c.mu.Unlock()
	if e != nil {
		age := now.Sub(e.fetched)
		if age < c.ttl && (!refresh || age < federationRefetchAfter) {
			return e.keys, nil
		}
	}
	keys, err := c.fetch(ctx, iss)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[iss]; !ok && len(c.entries) >= federationMaxIssuers {
		c.evictOldest()
	}
	c.entries[iss] = &issuerKeys{keys: keys, fetched: now}
	return keys, nil
}

// evictOldest drops the entry fetched longest ago. Called with c.mu held.
func (c *issuerKeyCache) evictOldest() {
	var oldest string
	var at time.Time
	for k, e := range c.entries {
		if oldest == "" || e.fetched.Before(at) {
			oldest, at = k, e.fetched
		}
	}
	delete(c.entries, oldest)
}

// fetch reads iss's discovery document and the key set it names. The
// document's issuer must be iss exactly; its jwks_uri must be https on the
// issuer's own host or on a loopback host.
func (c *issuerKeyCache) fetch(ctx context.Context, iss string) ([]jose.JSONWebKey, error) {
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := c.getJSON(ctx, strings.TrimSuffix(iss, "/")+"/.well-known/openid-configuration", &doc); err != nil {
		return nil, fmt.Errorf("discovery document: %w", err)
	}
	if doc.Issuer != iss {
		return nil, errors.New("the discovery document names another issuer")
	}
	iu, _ := url.Parse(iss)
	ju, err := url.Parse(doc.JWKSURI)
	if err != nil || ju.Scheme != "https" || ju.User != nil ||
		!(strings.EqualFold(ju.Host, iu.Host) || loopbackHost(ju.Hostname())) {
		return nil, errors.New("the discovery document's jwks_uri is not an https URL on the issuer's host")
	}
	var set jose.JSONWebKeySet
	if err := c.getJSON(ctx, ju.String(), &set); err != nil {
		return nil, fmt.Errorf("key set: %w", err)
	}
	var keys []jose.JSONWebKey
	for _, k := range set.Keys {
		switch k.Key.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey:
			if k.Use == "" || k.Use == "sig" {
				keys = append(keys, k)
			}
		}
		if len(keys) == federationMaxKeys {
			break
		}
	}
	return keys, nil
}

// getJSON GETs u and decodes a 200 response of at most federationMaxDocBytes.
func (c *issuerKeyCache) getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, federationMaxDocBytes+1))
	if err != nil {
		return err
	}
	if len(body) > federationMaxDocBytes {
		return errors.New("document too large")
	}
	return json.Unmarshal(body, v)
}
