package login

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/pki/pkitest"
)

// BenchmarkTokenEndpoint measures client-credential tokens per second over
// TLS with keep-alive, from parallel clients, against the real handler
// (secret check, RS256 signing, audit record in SQLite) and, in the same run,
// against a baseline handler of the same shape that parses the form and
// returns a pre-signed token.
func BenchmarkTokenEndpoint(b *testing.B) {
	ts := newTestService(b, nil)
	ca := pkitest.NewCA(b)
	pre, err := ts.IssueToken(context.Background(), IssueRequest{ObjectID: ts.objectID, Resource: "https://management.azure.com/"})
	if err != nil {
		b.Fatal(err)
	}
	baseline := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "client_credentials" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
			return
		}
		writeJSON(w, http.StatusOK, tokenResponseV2{TokenType: "Bearer", ExpiresIn: 4500, ExtExpiresIn: 4500, AccessToken: pre.AccessToken})
	})
	mux := http.NewServeMux()
	mux.Handle("/baseline/", http.StripPrefix("/baseline", baseline))
	mux.Handle("/", ts.Handler())
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = ca.ServerTLSConfig()
	srv.StartTLS()
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: ca.ClientTLSConfig(), MaxIdleConnsPerHost: 64}}
	body := url.Values{"grant_type": {"client_credentials"}, "client_id": {ts.clientID}, "client_secret": {ts.secret},
		"scope": {"https://management.azure.com/.default openid offline_access profile"}}.Encode()

	// The floor: RS256 signatures alone, one per token, in parallel.
	b.Run("rs256-sign-only", func(b *testing.B) {
		sk, err := ts.signer(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		cpu0 := cpuTime()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := sk.signerV1.Sign([]byte(`{"aud":"https://management.azure.com"}`)); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
		if cpu := (cpuTime() - cpu0).Seconds(); cpu > 0 {
			b.ReportMetric(float64(b.N)/cpu, "tokens/cpu-s")
		}
	})
	for _, c := range []struct{ name, path string }{
		{"baseline", "/baseline/" + ts.tenant + "/oauth2/v2.0/token"},
		{"login", "/" + ts.tenant + "/oauth2/v2.0/token"},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetParallelism(8) // 8 × GOMAXPROCS client goroutines
			cpu0 := cpuTime()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Post(srv.URL+c.path, "application/x-www-form-urlencoded", strings.NewReader(body))
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
			// CPU seconds of this process (server and clients together) per token:
			// on a shared machine this tells what two idle cores would sustain.
			if cpu := (cpuTime() - cpu0).Seconds(); cpu > 0 {
				b.ReportMetric(float64(b.N)/cpu, "tokens/cpu-s")
			}
		})
	}
}

// cpuTime returns the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
