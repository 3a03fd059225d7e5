package imds

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Through a real net/http server, a cached token's response carries
// Content-Length (not chunked), its headers and the body, both for a body
// net/http buffers whole and for one larger than its buffer.
func TestServeTokenContentLength(t *testing.T) {
	t.Parallel()
	for _, n := range []int{100, netHTTPBuffered - 600, netHTTPBuffered, 5000, 70000} {
		tok := Token{NotBefore: testNow, IssuedAt: testNow, ExpiresOn: testNow.Add(time.Hour), ClientID: idA.ClientID,
			AccessToken: strings.Repeat("a", n)}
		h := New(Config{Now: func() time.Time { return testNow }, Tokens: staticTokens{tok}})
		srv := httptest.NewServer(h)
		for range 2 { // the first writes the body, the second comes from the cache
			req, _ := http.NewRequest("GET", srv.URL+tokenURL, nil)
			req.Header.Set("Metadata", "true")
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("token of %d bytes: %d %v", n, resp.StatusCode, err)
			}
			want := string(tokenBody(testNow, "https://management.azure.com/", tok, "", ""))
			if string(b) != want {
				t.Fatalf("token of %d bytes: body %.100q", n, b)
			}
			if resp.ContentLength != int64(len(want)) || resp.Header.Get("Content-Length") != strconv.Itoa(len(want)) ||
				len(resp.TransferEncoding) != 0 {
				t.Errorf("token of %d bytes: Content-Length %q (%d), Transfer-Encoding %q; want %d",
					n, resp.Header.Get("Content-Length"), resp.ContentLength, resp.TransferEncoding, len(want))
			}
			if resp.Header.Get("Content-Type") != "application/json; charset=utf-8" || resp.Header.Get("Server") != serverHeader {
				t.Errorf("token of %d bytes: headers %v", n, resp.Header)
			}
		}
		srv.Close()
	}
}
