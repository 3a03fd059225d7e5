package agent

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/imds"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

func newTestCache(t *testing.T, f *fakeControlPlane, now func() time.Time) *tokenCache {
	httpc, err := NewHTTPClient(f.caFile)
	if err != nil {
		t.Fatal(err)
	}
	ids := f.config.Identities
	return &tokenCache{
		api:    newClient([]string{f.srv.URL}, f.cred, httpc),
		nodeID: "n1", now: now, ids: func() []nodeproto.Identity { return ids },
		entries: map[cacheKey]*cacheEntry{},
	}
}

func TestTokenCache(t *testing.T) {
	t.Parallel()
	f := newFakeControlPlane(t, nodeConfig(identityA, identityB))
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	c := newTestCache(t, f, clock)
	ctx := context.Background()
	requests := func() int { f.mu.Lock(); defer f.mu.Unlock(); return len(f.tokenReqs) }
	get := func(req imds.TokenRequest) imds.Token {
		t.Helper()
		tok, err := c.Token(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	a1 := get(imds.TokenRequest{Resource: "https://management.azure.com/", ClientID: identityA.ClientID})
	a2 := get(imds.TokenRequest{Resource: "https://management.azure.com/", ResourceID: strings.ToUpper(identityA.ResourceID)})
	if a1.AccessToken != a2.AccessToken || requests() != 1 {
		t.Fatalf("same identity and resource fetched twice (%d requests)", requests())
	}
	if a1.ClientID != identityA.ClientID {
		t.Errorf("client id %s", a1.ClientID)
	}
	get(imds.TokenRequest{Resource: "https://management.azure.com", ClientID: identityA.ClientID})
	get(imds.TokenRequest{Resource: "https://management.azure.com/", ClientID: identityB.ClientID})
	if requests() != 3 {
		t.Fatalf("distinct resources and identities share entries (%d requests)", requests())
	}
	f.mu.Lock()
	if r := f.tokenReqs[0]; r.ResourceID != identityA.ResourceID || r.NodeID != "n1" || r.Resource != "https://management.azure.com/" {
		t.Errorf("token request %+v", r)
	}
	f.mu.Unlock()

	// bypass_cache fetches anew.
	b := get(imds.TokenRequest{Resource: "https://management.azure.com/", ClientID: identityA.ClientID, BypassCache: true})
	if b.AccessToken == a1.AccessToken || requests() != 4 {
		t.Errorf("bypass_cache served the cached token")
	}
	// Past half-life (30 min of a 1 h token) the token is refreshed.
	advance(29 * time.Minute)
	get(imds.TokenRequest{Resource: "https://management.azure.com/", ClientID: identityA.ClientID})
	if requests() != 4 {
		t.Errorf("refreshed before half-life")
	}
	advance(2 * time.Minute)
	r := get(imds.TokenRequest{Resource: "https://management.azure.com/", ClientID: identityA.ClientID})
	if requests() != 5 || r.AccessToken == b.AccessToken {
		t.Errorf("not refreshed after half-life (%d requests)", requests())
	}
	// The token service fails: a still-valid token is served.
	advance(31 * time.Minute)
	f.mu.Lock()
	f.tokenErr, f.tokenErrSt = &nodeproto.Error{Code: "Internal", Message: "down"}, 500
	f.mu.Unlock()
	if s := get(imds.TokenRequest{Resource: "https://management.azure.com/", ClientID: identityA.ClientID}); s.AccessToken != r.AccessToken {
		t.Errorf("stale-but-valid token not served while the service is down")
	}
	// Identity gone: the error is IMDS's "Identity not found" and the entry is dropped.
	f.mu.Lock()
	f.tokenErr, f.tokenErrSt = &nodeproto.Error{Code: "IdentityNotFound", Message: "deleted"}, 403
	f.mu.Unlock()
	_, err := c.Token(ctx, imds.TokenRequest{Resource: "https://management.azure.com/", ClientID: identityA.ClientID})
	if cobalt.ErrorReason(err) != imds.ReasonIdentityNotFound {
		t.Errorf("deleted identity: %v", err)
	}
	f.mu.Lock()
	f.tokenErr = nil
	f.mu.Unlock()
	// Local selection errors never reach the control plane.
	n := requests()
	if _, err := c.Token(ctx, imds.TokenRequest{Resource: "x"}); cobalt.ErrorReason(err) != imds.ReasonMultipleIdentities {
		t.Errorf("no selector with two identities: %v", err)
	}
	if _, err := c.Token(ctx, imds.TokenRequest{Resource: "x", ClientID: "nope"}); cobalt.ErrorReason(err) != imds.ReasonIdentityNotFound {
		t.Errorf("unknown client id: %v", err)
	}
	if requests() != n {
		t.Error("selection errors reached the control plane")
	}
}

func TestTokenCacheSingleFlight(t *testing.T) {
	t.Parallel()
	f := newFakeControlPlane(t, nodeConfig(identityA))
	c := newTestCache(t, f, time.Now)
	var wg sync.WaitGroup
	toks := make([]string, 32)
	for i := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := c.Token(context.Background(), imds.TokenRequest{Resource: "https://vault.azure.net"})
			if err != nil {
				t.Error(err)
			}
			toks[i] = tok.AccessToken
		}()
	}
	wg.Wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.tokenReqs) != 1 {
		t.Errorf("%d concurrent callers made %d requests", len(toks), len(f.tokenReqs))
	}
	for _, tk := range toks {
		if tk != toks[0] {
			t.Error("callers got different tokens")
		}
	}
}

func TestAPIErrorMapping(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status int
		body   string
		code   cobalt.Code
		reason string
	}{
		{400, `{"code":"IdentityNotFound","message":"x"}`, cobalt.ENotFound, imds.ReasonIdentityNotFound},
		{403, `{"code":"IdentityNotFound","message":"x"}`, cobalt.ENotFound, imds.ReasonIdentityNotFound},
		{400, `{"code":"MultipleIdentities","message":"x"}`, cobalt.EInvalid, imds.ReasonMultipleIdentities},
		{401, `{"code":"Unauthorized"}`, cobalt.EUnauthorized, "Unauthorized"},
		{403, `{"code":"Forbidden"}`, cobalt.EForbidden, "Forbidden"},
		{410, `{"code":"NodeRemoved"}`, cobalt.ENotFound, "NodeRemoved"},
		{429, ``, cobalt.ETooManyRequests, ""},
		{502, `<html>`, cobalt.EInternal, ""},
	} {
		err := apiError(tc.status, []byte(tc.body))
		if cobalt.ErrorCode(err) != tc.code || cobalt.ErrorReason(err) != tc.reason {
			t.Errorf("%d %s: %v (%s/%s)", tc.status, tc.body, err, cobalt.ErrorCode(err), cobalt.ErrorReason(err))
		}
	}
	if !isRemoval(apiError(410, []byte(`{"code":"NodeRemoved"}`))) || isRemoval(apiError(500, nil)) {
		t.Error("isRemoval")
	}
}

func TestTokenCacheBounded(t *testing.T) {
	t.Parallel()
	f := newFakeControlPlane(t, nodeConfig(identityA))
	c := newTestCache(t, f, time.Now)
	for i := range maxCacheEntries + 10 {
		if _, err := c.Token(context.Background(), imds.TokenRequest{Resource: "https://r" + strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
	c.mu.RLock()
	n := len(c.entries)
	c.mu.RUnlock()
	if n > maxCacheEntries {
		t.Errorf("cache holds %d entries, more than %d", n, maxCacheEntries)
	}
}

func TestTokenCacheCallerOnlyOnIssue(t *testing.T) {
	t.Parallel()
	f := newFakeControlPlane(t, nodeConfig(identityA))
	c := newTestCache(t, f, time.Now)
	calls := 0
	req := imds.TokenRequest{Resource: "https://attr", Caller: func() string { calls++; return "j/t" }}
	for range 3 {
		if _, err := c.Token(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if calls != 1 || len(f.tokenReqs) != 1 || f.tokenReqs[0].TaskID != "j/t" {
		t.Errorf("caller called %d times; requests %+v", calls, f.tokenReqs)
	}
}
