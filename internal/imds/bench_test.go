package imds

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// staticTokens serves one fixed token: the handler's cost alone.
type staticTokens struct{ tok Token }

func (s staticTokens) Token(_ context.Context, req TokenRequest) (Token, error) {
	if _, err := SelectIdentity([]nodeproto.Identity{idA}, req); err != nil {
		return Token{}, err
	}
	return s.tok, nil
}

// BenchmarkHandlerToken measures the IMDS token handler in-process (no
// network) beside a bare handler writing the same bytes.
func BenchmarkHandlerToken(b *testing.B) {
	h, r, body := tokenHandler()
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	})
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{{"imds", h}, {"baseline", bare}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				bc.h.ServeHTTP(w, r)
				if w.Code != 200 {
					b.Fatal(w.Code)
				}
			}
		})
	}
}

// tokenHandler returns a handler serving a token-sized cached token, a
// request for it and the body it answers.
func tokenHandler() (http.Handler, *http.Request, []byte) {
	tok := Token{NotBefore: testNow, IssuedAt: testNow, ExpiresOn: testNow.Add(time.Hour), ClientID: idA.ClientID}
	tok.AccessToken = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9." + strings.Repeat("a", 1100) + ".sig"
	h := New(Config{Now: func() time.Time { return testNow }, Tokens: staticTokens{tok}})
	r := httptest.NewRequest("GET", tokenURL, nil)
	r.Header.Set("Metadata", "true")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return h, r, w.Body.Bytes()
}

// BenchmarkServeToken measures the token handler behind a real net/http
// server on loopback, one keep-alive client, beside a bare handler writing
// the same bytes: the allocations per request (client and server together)
// differ only by the server's, which httptest's recorder hides (net/http
// copies the header map when the handler writes its headers).
func BenchmarkServeToken(b *testing.B) {
	h, _, body := tokenHandler()
	bare := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(body)
	})
	for _, bc := range []struct {
		name string
		h    http.Handler
	}{{"imds", h}, {"baseline", bare}} {
		b.Run(bc.name, func(b *testing.B) {
			srv := httptest.NewServer(bc.h)
			defer srv.Close()
			tr := &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}
			defer tr.CloseIdleConnections()
			req, _ := http.NewRequest("GET", srv.URL+tokenURL, nil)
			req.Header.Set("Metadata", "true")
			buf := make([]byte, 4096)
			b.ReportAllocs()
			for b.Loop() {
				resp, err := tr.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.ReadFull(resp.Body, buf[:len(body)])
				resp.Body.Close()
				if resp.StatusCode != 200 || n != len(body) {
					b.Fatal(resp.StatusCode, n)
				}
			}
		})
	}
}
