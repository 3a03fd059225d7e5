package agent

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/login"
	"github.com/cobaltbatch/cobalt/internal/nodeproto"
	"github.com/cobaltbatch/cobalt/internal/store/sqlite"
)

// loadResult is what one load run measured.
type loadResult struct {
	rate     float64 // responses per second
	p50, p99 time.Duration
	// cpuPerOp is this process's CPU time (user+system) per response, which
	// stays meaningful when other work shares the machine.
	cpuPerOp time.Duration
}

// cpuTime is the CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// load sends n GETs from `clients` concurrent keep-alive clients; url(i)
// gives the i-th request's URL. Every response must be 200.
func load(b *testing.B, n, clients int, url func(i int) string, hdr http.Header) loadResult {
	b.Helper()
	tr := &http.Transport{MaxIdleConns: clients * 2, MaxIdleConnsPerHost: clients * 2, DisableCompression: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	var next atomic.Int64
	lat := make([][]time.Duration, clients)
	var failed atomic.Value
	var wg sync.WaitGroup
	start, cpu0 := time.Now(), cpuTime()
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				req, _ := http.NewRequest("GET", url(i), nil)
				req.Header = hdr
				t0 := time.Now()
				resp, err := c.Do(req)
				if err != nil {
					failed.Store(err.Error())
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat[w] = append(lat[w], time.Since(t0))
				if resp.StatusCode != 200 {
					failed.Store("status " + strconv.Itoa(resp.StatusCode))
					return
				}
			}
		}()
	}
	wg.Wait()
	el, cpu := time.Since(start), cpuTime()-cpu0
	if f := failed.Load(); f != nil {
		b.Fatalf("load: %v", f)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	return loadResult{
		rate:     float64(len(all)) / el.Seconds(),
		p50:      all[len(all)/2],
		p99:      all[min(len(all)-1, len(all)*99/100)],
		cpuPerOp: cpu / time.Duration(len(all)),
	}
}

// BenchmarkIMDSCached measures IMDS token responses served from the agent's
// cache (process-mode node, rate limit off, 32 concurrent keep-alive
// clients) beside a bare net/http handler returning the same JSON, both in
// the same run.
func BenchmarkIMDSCached(b *testing.B) {
	f := newFakeControlPlane(b, nodeConfig(identityA))
	a, _ := startAgent(b, f, IsolationProcess, nil)
	const q = "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F"
	hdr := http.Header{"Metadata": {"true"}, "X-Identity-Header": {envValue(a.TaskEnv(), "IDENTITY_HEADER")}}
	// Warm the cache and capture the body for the baseline.
	resp, err := http.Get(a.IMDSURL() + "/metadata/versions")
	if err == nil {
		resp.Body.Close()
	}
	req, _ := http.NewRequest("GET", a.IMDSURL()+q, nil)
	req.Header = hdr
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		b.Fatalf("warm-up: %v %v", err, resp)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	base := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	}))
	defer base.Close()
	n := max(b.N, 2000)
	b.ResetTimer()
	// Interleave halves so that neither side gets the warmer machine.
	bl1 := load(b, n/2, 32, func(int) string { return base.URL + q }, hdr)
	im1 := load(b, n/2, 32, func(int) string { return a.IMDSURL() + q }, hdr)
	im2 := load(b, n/2, 32, func(int) string { return a.IMDSURL() + q }, hdr)
	bl2 := load(b, n/2, 32, func(int) string { return base.URL + q }, hdr)
	b.StopTimer()
	imRate, blRate := (im1.rate+im2.rate)/2, (bl1.rate+bl2.rate)/2
	imP50, blP50 := (im1.p50+im2.p50)/2, (bl1.p50+bl2.p50)/2
	imP99, blP99 := (im1.p99+im2.p99)/2, (bl1.p99+bl2.p99)/2
	b.ReportMetric(imRate, "imds_req/s")
	b.ReportMetric(blRate, "baseline_req/s")
	b.ReportMetric(imRate/blRate, "rate_ratio")
	b.ReportMetric(float64(imP50.Microseconds()), "imds_p50_us")
	b.ReportMetric(float64(blP50.Microseconds()), "baseline_p50_us")
	b.ReportMetric(float64(imP99.Microseconds()), "imds_p99_us")
	b.ReportMetric(float64(blP99.Microseconds()), "baseline_p99_us")
	b.ReportMetric(float64(imP99)/float64(blP99), "p99_ratio")
	b.ReportMetric(float64((im1.cpuPerOp+im2.cpuPerOp).Microseconds())/2, "imds_cpu_us/op")
	b.ReportMetric(float64((bl1.cpuPerOp+bl2.cpuPerOp).Microseconds())/2, "baseline_cpu_us/op")
	f.mu.Lock()
	if len(f.tokenReqs) != 1 {
		b.Errorf("%d token requests reached the control plane; want 1 (cached)", len(f.tokenReqs))
	}
	f.mu.Unlock()
}

// BenchmarkIMDSColdIssuance measures tokens issued with a new audience per
// request, so that each one misses the cache and goes through the node API
// (HTTPS) to a real login.Service, beside direct IssueToken calls on the
// same service as the baseline.
func BenchmarkIMDSColdIssuance(b *testing.B) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "cobalt.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	seal := make([]byte, 32)
	_, _ = rand.Read(seal)
	svc, err := login.New(ctx, login.Config{Store: st, AuthorityURL: "https://127.0.0.1:1", SealKey: seal})
	if err != nil {
		b.Fatal(err)
	}
	const tenant = "8f2b6a4e-3c1d-4e5f-9a7b-1c2d3e4f5a6b"
	p, err := svc.CreateManagedIdentityPrincipal(ctx, tenant, "bench", identityA.ResourceID)
	if err != nil {
		b.Fatal(err)
	}
	id := nodeproto.Identity{ResourceID: identityA.ResourceID, ClientID: p.ClientID, PrincipalID: p.ObjectID}
	f := newFakeControlPlane(b, nodeConfig(id))
	f.issue = func(ctx context.Context, id nodeproto.Identity, r nodeproto.TokenRequest) (nodeproto.TokenResponse, error) {
		tok, err := svc.IssueToken(ctx, login.IssueRequest{ObjectID: id.PrincipalID, Resource: r.Resource,
			Audit: map[string]string{"node": r.NodeID, "pool": "pool1"}})
		if err != nil {
			return nodeproto.TokenResponse{}, err
		}
		return nodeproto.TokenResponse{AccessToken: tok.AccessToken, IssuedAt: tok.IssuedAt, NotBefore: tok.NotBefore,
			ExpiresOn: tok.ExpiresAt, Resource: r.Resource, Identity: id}, nil
	}
	a, _ := startAgent(b, f, IsolationProcess, nil)
	hdr := http.Header{"Metadata": {"true"}, "X-Identity-Header": {envValue(a.TaskEnv(), "IDENTITY_HEADER")}}
	n := max(b.N, 1000)
	var seq atomic.Int64
	b.ResetTimer()
	cold := load(b, n, 32, func(i int) string {
		return fmt.Sprintf("%s/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%%3A%%2F%%2Fbench-%d.example.com", a.IMDSURL(), seq.Add(1))
	}, hdr)
	// Baseline: the same number of direct IssueToken calls, 32 at a time.
	var next atomic.Int64
	var wg sync.WaitGroup
	start, cpu0 := time.Now(), cpuTime()
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				if _, err := svc.IssueToken(ctx, login.IssueRequest{ObjectID: p.ObjectID, Resource: "https://direct-" + strconv.FormatInt(i, 10)}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	direct := float64(n) / time.Since(start).Seconds()
	directCPU := (cpuTime() - cpu0) / time.Duration(n)
	b.StopTimer()
	b.ReportMetric(cold.rate, "cold_tokens/s")
	b.ReportMetric(float64(cold.p50.Microseconds()), "cold_p50_us")
	b.ReportMetric(float64(cold.p99.Microseconds()), "cold_p99_us")
	b.ReportMetric(direct, "direct_issue_tokens/s")
	// CPU cost per token, and the rate it implies with every core of this
	// machine free: comparable across runs on a shared machine.
	b.ReportMetric(float64(cold.cpuPerOp.Microseconds()), "cold_cpu_us/token")
	b.ReportMetric(float64(directCPU.Microseconds()), "direct_cpu_us/token")
	b.ReportMetric(float64(runtime.GOMAXPROCS(0))*float64(time.Second)/float64(cold.cpuPerOp), "cold_tokens/s_if_idle")
}
