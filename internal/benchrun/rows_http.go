package benchrun

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
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

// bareServer is the baseline: net/http over TLS answering every request
// with the same bytes.
type bareServer struct {
	URL string
	srv *http.Server
}

func (s *bareServer) Close() { s.srv.Close() }

// bareTLS starts a bare handler on loopback with a fresh P-256 certificate
// (the key type of Cobalt's server certificate) and returns the pool that
// trusts it.
func bareTLS(body []byte, ctype string) (*bareServer, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, _ := x509.ParseCertificate(der)
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	srv := &http.Server{Handler: bareHandler(body, ctype),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}}
	go srv.ServeTLS(ln, "", "")
	return &bareServer{URL: "https://" + ln.Addr().String(), srv: srv}, roots, nil
}

func bareHandler(body []byte, ctype string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", ctype)
		w.Write(body)
	})
}

// tokens loads the login service's v2 token endpoint with client-credential
// requests from 16 clients, beside bare RS256-2048 signing in 16 goroutines.
func (b *bench) tokens(ctx context.Context) []Result {
	r := Result{Row: "tokens", Work: fmt.Sprintf("client-credential tokens, 16 clients, %s", b.opts.Duration), Target: "≥ 0.9 of signing"}
	u := strings.TrimSuffix(b.d.ep.AuthorityHost, "/") + "/" + b.d.ep.TenantID + "/oauth2/v2.0/token"
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {b.d.ep.AdminClientID},
		"client_secret": {b.d.ep.AdminClientSecret}, "scope": {armScope}}.Encode()
	var size atomic.Int64
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		r.Err = err
		return []Result{r}
	}
	stop := b.profile(ctx, "tokens", 2*b.opts.Duration)
	stopClient := b.selfProfile("tokens-client")
	// The child is idle during the baseline's slices: its CPU over the pair
	// is its CPU for the tokens (beside one RS256 signature each). This
	// process's CPU over each side's slices is the clients' per token and the
	// baseline's per signature: on a busy machine the rates swing, but the
	// CPU each side spends per unit of work says what two idle cores allow.
	srv0, srvErr0 := processCPU(b.child.pid())
	cob, base := runPairCPU(ctx, 16, b.opts.Duration, func() worker {
		tr := newTransport(b.d.roots, 1)
		return func(ctx context.Context) error {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := tr.RoundTrip(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("token: status %d: %.200s", resp.StatusCode, body)
			}
			size.Store(int64(len(body)))
			return nil
		}
	}, signer(key), selfCPU, selfCPU)
	srv1, srvErr1 := processCPU(b.child.pid())
	stopClient()
	stop()
	if srvErr0 == nil && srvErr1 == nil && cob.N > 0 && base.N > 0 {
		srv := (srv1 - srv0).Seconds() * 1000 / float64(cob.N)
		cli := cob.CPU.Seconds() * 1000 / float64(cob.N)
		sig := base.CPU.Seconds() * 1000 / float64(base.N)
		b.logf("tokens: control plane CPU %.3f ms per token, client CPU %.3f ms per token; baseline CPU %.3f ms per signature (CPU ratio %.2f)",
			srv, cli, sig, sig/(srv+cli))
	}
	if base.Errors > 0 {
		r.Err = fmt.Errorf("RS256 signing: %s", base.FirstErr)
		return []Result{r}
	}
	if cob.Errors > 0 || cob.N == 0 {
		r.Err = fmt.Errorf("%d of %d requests failed: %s", cob.Errors, cob.N+cob.Errors, cob.FirstErr)
		return []Result{r}
	}
	r.Figure = fmt.Sprintf("%.0f/s, p50 %s, p99 %s", cob.Rate(), ms(cob.P50), ms(cob.P99))
	r.Baseline = fmt.Sprintf("RS256-2048 signing, 16 goroutines: %.0f/s", base.Rate())
	r.Ratio = fmt.Sprintf("%.2f", cob.Rate()/base.Rate())
	r.OK = cob.Rate()/base.Rate() >= 0.9
	return []Result{r}
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
