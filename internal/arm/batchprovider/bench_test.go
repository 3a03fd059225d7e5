package batchprovider

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/bearer"
	"github.com/cobaltbatch/cobalt/internal/login"
	"github.com/cobaltbatch/cobalt/internal/pki/pkitest"
	"github.com/cobaltbatch/cobalt/internal/rbac"
	"github.com/cobaltbatch/cobalt/internal/store/sqlite"
)

// BenchmarkGetPool measures GET-pool requests/s over TLS through the ARM
// front door (real RS256 bearer validation, RBAC, store read, rendering)
// beside a bare net/http TLS handler returning the same bytes, in the same
// run, with 16 concurrent keep-alive clients. Target: arm/bare >= 0.5.
func BenchmarkGetPool(b *testing.B) {
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "cobalt.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ca := pkitest.NewCA(b)
	seal := make([]byte, 32)
	_, _ = rand.Read(seal)
	lg, err := login.New(context.Background(), login.Config{Store: st, AuthorityURL: "https://127.0.0.1:1", SealKey: seal})
	if err != nil {
		b.Fatal(err)
	}
	val := bearer.New(bearer.Config{Keys: lg, TenantID: testTenant, Issuers: []string{lg.IssuerV1(testTenant), lg.IssuerV2(testTenant)}})
	// Set-up requests use the test tokens; the measured ones real JWTs.
	f := newFixtureOn(b, st, false, eitherValidator{val})
	f.setup()
	sp, _, err := lg.CreateServicePrincipal(context.Background(), testTenant, "bench")
	if err != nil {
		b.Fatal(err)
	}
	f.assign("/subscriptions/"+testSub, rbac.RoleReader, sp.ObjectID)
	tok, err := lg.IssueToken(context.Background(), login.IssueRequest{ObjectID: sp.ObjectID, Resource: "https://management.azure.com"})
	if err != nil {
		b.Fatal(err)
	}
	f.mustOK(f.do(adminOID, "PUT", acctPath+"/pools/pool1", poolJSON(0, uami("id1"))), 200)
	path := acctPath + "/pools/pool1?api-version=" + apiVersion

	armSrv := httptest.NewUnstartedServer(f.h)
	armSrv.TLS = ca.ServerTLSConfig()
	armSrv.StartTLS()
	defer armSrv.Close()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.CertPool()}, MaxIdleConnsPerHost: 64, ForceAttemptHTTP2: false}}
	get := func(base string) ([]byte, http.Header, error) {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		r, err := client.Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer r.Body.Close()
		body, err := io.ReadAll(r.Body)
		if r.StatusCode != 200 {
			return nil, nil, cobalt.Errorf(cobalt.EInternal, "status %d: %s", r.StatusCode, body)
		}
		return body, r.Header, err
	}
	body, hdr, err := get(armSrv.URL)
	if err != nil {
		b.Fatal(err)
	}
	bare := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("ETag", hdr.Get("ETag"))
		_, _ = w.Write(body)
	}))
	bare.TLS = ca.ServerTLSConfig()
	bare.StartTLS()
	defer bare.Close()

	// Each side gets the same number of requests in alternating rounds, so
	// that a change in the machine's load affects both alike.
	run := func(base string, n int) time.Duration {
		const workers = 16
		var next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(n) {
					if _, _, err := get(base); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		return time.Since(start)
	}
	run(armSrv.URL, 200) // warm connections and caches
	run(bare.URL, 200)
	const rounds = 10
	per := max(b.N/rounds, 200)
	var armTime, bareTime time.Duration
	b.ResetTimer()
	for range rounds {
		armTime += run(armSrv.URL, per)
		bareTime += run(bare.URL, per)
	}
	b.StopTimer()
	armRate := float64(rounds*per) / armTime.Seconds()
	bareRate := float64(rounds*per) / bareTime.Seconds()
	b.ReportMetric(armRate, "arm_req/s")
	b.ReportMetric(bareRate, "bare_req/s")
	b.ReportMetric(armRate/bareRate, "arm/bare")
}

type eitherValidator struct{ real *bearer.Validator }

func (v eitherValidator) Validate(ctx context.Context, raw string, auds ...string) (cobalt.Caller, error) {
	if strings.HasPrefix(raw, "tok-") {
		return tokenValidator{}.Validate(ctx, raw, auds...)
	}
	return v.real.Validate(ctx, raw, auds...)
}
