package benchrun

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// armGet loads GET of a pool through the management plane with 16
// keep-alive TLS clients, then a bare net/http TLS handler in this process
// serving the same bytes with the same clients.
func (b *bench) armGet(ctx context.Context) []Result {
	r := Result{Row: "arm", Work: fmt.Sprintf("ARM GET of a pool, 16 keep-alive TLS clients, %s", b.opts.Duration), Target: "≥ 0.5, p99 ≤ 2×"}
	if _, err := b.d.armDo(ctx, http.MethodPut, b.d.poolPath("get"), poolBody(b.d.ep, 0, 1, "")); err != nil {
		r.Err = err
		return []Result{r}
	}
	tok, err := b.d.armToken(ctx)
	if err != nil {
		r.Err = err
		return []Result{r}
	}
	target := strings.TrimSuffix(b.d.ep.ResourceManager, "/") + b.d.poolPath("get") + "?api-version=" + apiBatch
	body, ctype, err := getOnce(ctx, newTransport(b.d.roots, 1), target, tok)
	if err != nil {
		r.Err = err
		return []Result{r}
	}
	bare, roots, err := bareTLS(body, ctype)
	if err != nil {
		r.Err = err
		return []Result{r}
	}
	defer bare.Close()
	getter := func(roots *x509.CertPool, u string) func() worker {
		return func() worker {
			tr := newTransport(roots, 1)
			return func(ctx context.Context) error {
				_, _, err := getOnce(ctx, tr, u, tok)
				return err
			}
		}
	}
	stop := b.profile(ctx, "arm", 2*b.opts.Duration)
	cob, base := runPair(ctx, 16, b.opts.Duration, getter(b.d.roots, target), getter(roots, bare.URL+"/pool"))
	stop()
	return []Result{compare(r, cob, base, 0.5, 2, len(body))}
}

// compare fills a load row: rate, p50/p99 against the baseline's, with the
// targets minRatio (of the rate) and maxP99 (times the baseline's p99; 0
// for none).
func compare(r Result, cob, base loadResult, minRatio, maxP99 float64, size int) Result {
	if cob.Errors > 0 || cob.N == 0 {
		r.Err = fmt.Errorf("%d of %d requests failed: %s", cob.Errors, cob.N+cob.Errors, cob.FirstErr)
		return r
	}
	if base.Errors > 0 || base.N == 0 {
		r.Err = fmt.Errorf("baseline: %d of %d requests failed: %s", base.Errors, base.N+base.Errors, base.FirstErr)
		return r
	}
	ratio := cob.Rate() / base.Rate()
	p99 := float64(cob.P99) / float64(base.P99)
	r.Figure = fmt.Sprintf("%.0f/s, p50 %s, p99 %s", cob.Rate(), ms(cob.P50), ms(cob.P99))
	r.Baseline = fmt.Sprintf("bare handler, same %d bytes: %.0f/s, p50 %s, p99 %s", size, base.Rate(), ms(base.P50), ms(base.P99))
	if cob.CPU > 0 && base.CPU > 0 {
		r.Figure += fmt.Sprintf(", server CPU %s/req (idle %.0f ms)", us(cob.CPUPerRequest()), float64(cob.IdleCPU.Milliseconds()))
		r.Baseline += fmt.Sprintf(", server CPU %s/req (idle %.0f ms)", us(base.CPUPerRequest()), float64(base.IdleCPU.Milliseconds()))
	}
	r.Ratio = fmt.Sprintf("%.2f (p99 %.1f×)", ratio, p99)
	r.OK = ratio >= minRatio && (maxP99 == 0 || p99 <= maxP99)
	return r
}

// getOnce GETs u with a bearer token and returns the body of a 200.
func getOnce(ctx context.Context, tr http.RoundTripper, u, tok string) ([]byte, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("GET: status %d: %.200s", resp.StatusCode, body)
	}
	return body, resp.Header.Get("Content-Type"), nil
}

// tokens loads the login service's v2 token endpoint with client-credential
// requests from 16 clients, beside bare RS256-2048 signing in 16 goroutines
// (the target's baseline) and a bare token endpoint (see bareToken) in a
// process of its own, loaded by the same clients: what any server does for a
// token on this machine, with its clients on the same cores.
func (b *bench) tokens(ctx context.Context) []Result {
	r := Result{Row: "tokens", Work: fmt.Sprintf("client-credential tokens, 16 clients, %s", b.opts.Duration), Target: "≥ 0.9 of signing"}
	fail := func(err error) []Result { r.Err = err; return []Result{r} }
	u := strings.TrimSuffix(b.d.ep.AuthorityHost, "/") + "/" + b.d.ep.TenantID + "/oauth2/v2.0/token"
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {b.d.ep.AdminClientID},
		"client_secret": {b.d.ep.AdminClientSecret}, "scope": {armScope}}.Encode()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fail(err)
	}
	// The bare endpoint signs the claims of one of Cobalt's tokens, so that
	// both sign and send as many bytes.
	first, err := tokenRequest(ctx, newTransport(b.d.roots, 1), u, form)
	if err != nil {
		return fail(err)
	}
	claims, err := tokenClaims(first)
	if err != nil {
		return fail(err)
	}
	cert, err := newBenchCert()
	if err != nil {
		return fail(err)
	}
	var bareProfile string
	if b.opts.Profile {
		bareProfile = filepath.Join(b.dir, "tokens-bare.pprof")
	}
	bare, err := startBare(ctx, bareBody{Mode: bareToken, Body: claims, Cert: cert.der, Key: cert.key}, bareProfile)
	if err != nil {
		return fail(err)
	}
	stop := b.profile(ctx, "tokens", 3*b.opts.Duration)
	stopClient := b.selfProfile("tokens-client")
	// The child is idle during the other sides' slices and the bare server
	// during Cobalt's and the signing's: each one's CPU over the whole load
	// is its CPU for its own tokens. This process's CPU over each side's
	// slices is the clients' per token, or the baseline's per signature: on
	// a busy machine the rates swing, but the CPU each side spends per unit
	// of work says what two idle cores allow.
	srv0, srvErr0 := processCPU(b.child.pid())
	bare0, bareErr0 := processCPU(bare.pid)
	loads := runSides(ctx, 16, b.opts.Duration,
		side{tokenWorkers(b.d.roots, u, form), selfCPU},
		side{signer(key), selfCPU},
		side{tokenWorkers(cert.roots, "https://"+bare.addr+"/token", form), selfCPU})
	srv1, srvErr1 := processCPU(b.child.pid())
	bare1, bareErr1 := processCPU(bare.pid)
	stopClient()
	stop()
	if err := bare.stop(); err != nil {
		return fail(fmt.Errorf("bare token endpoint: %w", err))
	}
	cob, base, bareLoad := loads[0], loads[1], loads[2]
	for _, l := range []struct {
		name string
		res  loadResult
	}{{"RS256 signing", base}, {"the bare token endpoint", bareLoad}, {"Cobalt", cob}} {
		if l.res.Errors > 0 || l.res.N == 0 {
			return fail(fmt.Errorf("%s: %d of %d requests failed: %s", l.name, l.res.Errors, l.res.N+l.res.Errors, l.res.FirstErr))
		}
	}
	perToken := func(d time.Duration, n int) float64 { return d.Seconds() * 1000 / float64(n) }
	if srvErr0 == nil && srvErr1 == nil && bareErr0 == nil && bareErr1 == nil {
		sig := perToken(base.CPU, base.N)
		srv, cli := perToken(srv1-srv0, cob.N), perToken(cob.CPU, cob.N)
		bsrv, bcli := perToken(bare1-bare0, bareLoad.N), perToken(bareLoad.CPU, bareLoad.N)
		b.logf("tokens: CPU per token: Cobalt %.3f ms and its client %.3f ms (CPU ratio %.2f); bare endpoint %.3f ms and its client %.3f ms (CPU ratio %.2f); baseline %.3f ms per signature",
			srv, cli, sig/(srv+cli), bsrv, bcli, sig/(bsrv+bcli), sig)
	}
	r.Figure = fmt.Sprintf("%.0f/s, p50 %s, p99 %s", cob.Rate(), ms(cob.P50), ms(cob.P99))
	r.Baseline = fmt.Sprintf("RS256-2048 signing, 16 goroutines: %.0f/s; bare TLS token endpoint, same clients: %.0f/s (%.2f of signing)",
		base.Rate(), bareLoad.Rate(), bareLoad.Rate()/base.Rate())
	r.Ratio = fmt.Sprintf("%.2f (of the bare endpoint: %.2f)", cob.Rate()/base.Rate(), cob.Rate()/bareLoad.Rate())
	r.OK = cob.Rate()/base.Rate() >= 0.9
	return []Result{r}
}

// tokenWorkers are clients of the token endpoint u, each on a connection
// of its own, posting form.
func tokenWorkers(roots *x509.CertPool, u, form string) func() worker {
	return func() worker {
		tr := newTransport(roots, 1)
		return func(ctx context.Context) error {
			_, err := tokenRequest(ctx, tr, u, form)
			return err
		}
	}
}

// tokenRequest posts form to the token endpoint u and returns the response.
func tokenRequest(ctx context.Context, tr http.RoundTripper, u, form string) ([]byte, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("token: status %d: %.200s", resp.StatusCode, body)
	}
	return body, nil
}

// tokenClaims returns the claims (the JWT payload, JSON) of the access token
// in a token response.
func tokenClaims(resp []byte) ([]byte, error) {
	var out tokenResponse
	if err := json.Unmarshal(resp, &out); err != nil {
		return nil, fmt.Errorf("token response: %w", err)
	}
	parts := strings.Split(out.AccessToken, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("the access token is not a JWS in compact form")
	}
	return base64.RawURLEncoding.DecodeString(parts[1])
}

// selfCPU returns this process's user and system CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// signer signs a token-sized payload with RS256 (RSA-2048, PKCS#1 v1.5,
// SHA-256), as the login service signs a token.
func signer(key *rsa.PrivateKey) func() worker {
	payload := []byte(strings.Repeat("x", 900))
	return func() worker {
		return func(context.Context) error {
			sum := sha256.Sum256(payload)
			_, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
			return err
		}
	}
}
