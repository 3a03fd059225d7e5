package benchrun

import (
	"bufio"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// serveBareForTest runs serveBare with body and returns the address it
// prints; the server ends, and its error is checked, when the test ends.
func serveBareForTest(t *testing.T, body bareBody) string {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- serveBare(inR, outW, "") }()
	if err := json.NewEncoder(inW).Encode(body); err != nil {
		t.Fatal(err)
	}
	addr, err := bufio.NewReader(outR).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		inW.Close()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return strings.TrimSpace(addr)
}

// A client that would take HTTP/2, as ggcr's default transport would.
func bareTestClient(cert *benchCert) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: cert.roots}, ForceAttemptHTTP2: true}}
}

// The bare server serves the body it was handed on the address it prints,
// and returns when its input is closed.
func TestServeBare(t *testing.T) {
	addr := serveBareForTest(t, bareBody{ContentType: "application/json; charset=utf-8", Body: []byte(`{"a":1}`)})
	resp, err := http.Get("http://" + addr + "/metadata/identity/oauth2/token?x=1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(b) != `{"a":1}` || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("got %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
}

// The bare token endpoint signs the claims it was handed afresh for each
// client-credential request, over TLS and HTTP/1.1 alone, and refuses what
// is not one in OAuth's error format.
func TestServeBareToken(t *testing.T) {
	cert, err := newBenchCert()
	if err != nil {
		t.Fatal(err)
	}
	addr := serveBareForTest(t, bareBody{Mode: bareToken, Body: []byte(`{"aud":"https://management.azure.com","iat":1,"uti":"x"}`), Cert: cert.der, Key: cert.key})
	hc := bareTestClient(cert)
	post := func(form string) (*http.Response, []byte) {
		t.Helper()
		resp, err := hc.Post("https://"+addr+"/token", "application/x-www-form-urlencoded", strings.NewReader(form))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"c"}, "client_secret": {"s"}}.Encode()
	var tokens []string
	for range 2 {
		resp, body := post(form)
		if resp.StatusCode != http.StatusOK || resp.Proto != "HTTP/1.1" {
			t.Fatalf("status %d over %s: %s", resp.StatusCode, resp.Proto, body)
		}
		claims, err := tokenClaims(body)
		if err != nil {
			t.Fatal(err)
		}
		var out tokenResponse
		json.Unmarshal(body, &out)
		jws, err := jose.ParseSignedCompact(out.AccessToken, []jose.SignatureAlgorithm{jose.RS256})
		if err != nil {
			t.Fatal(err)
		}
		if jws.Signatures[0].Header.KeyID != "bare" {
			t.Errorf("kid %q", jws.Signatures[0].Header.KeyID)
		}
		var c struct {
			Aud string `json:"aud"`
			Iat int64  `json:"iat"`
			Uti string `json:"uti"`
		}
		if err := json.Unmarshal(claims, &c); err != nil {
			t.Fatal(err)
		}
		if c.Aud != "https://management.azure.com" || time.Since(time.Unix(c.Iat, 0)).Abs() > time.Minute || len(c.Uti) != 22 {
			t.Errorf("claims %s", claims)
		}
		tokens = append(tokens, out.AccessToken)
	}
	if tokens[0] == tokens[1] {
		t.Error("two requests got the same token")
	}
	for form, want := range map[string]string{"grant_type=password": "unsupported_grant_type", "%zz": "invalid_request"} {
		resp, body := post(form)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"error":"`+want+`"`) {
			t.Errorf("%q: status %d %s, want 400 %s", form, resp.StatusCode, body, want)
		}
	}
}

// The bare blob server stores a blob only when its SHA-256 matches, leaves
// nothing behind when it does not, and serves what it stored.
func TestServeBareBlobs(t *testing.T) {
	cert, err := newBenchCert()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	addr := serveBareForTest(t, bareBody{Mode: bareBlobs, Dir: dir, Cert: cert.der, Key: cert.key})
	hc := bareTestClient(cert)
	do := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "https://"+addr+path, strings.NewReader(body))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.Proto != "HTTP/1.1" {
			t.Errorf("%s %s over %s", method, path, resp.Proto)
		}
		return resp.StatusCode, string(b)
	}
	content := strings.Repeat("layer bytes ", 10000)
	sum := sha256.Sum256([]byte(content))
	digest := hex.EncodeToString(sum[:])
	if code, body := do(http.MethodPut, "/blobs/l0?digest="+strings.Repeat("0", 64), content); code != http.StatusBadRequest {
		t.Fatalf("PUT with a wrong digest: %d %s", code, body)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("a refused upload left %v", ents)
	}
	if code, body := do(http.MethodPut, "/blobs/l0?digest="+digest, content); code != http.StatusCreated {
		t.Fatalf("PUT: %d %s", code, body)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "l0")); string(got) != content {
		t.Fatalf("stored %d bytes, want %d", len(got), len(content))
	}
	if code, body := do(http.MethodGet, "/blobs/l0", ""); code != http.StatusOK || body != content {
		t.Fatalf("GET: %d, %d bytes", code, len(body))
	}
	if code, _ := do(http.MethodGet, "/blobs/l1", ""); code != http.StatusNotFound {
		t.Errorf("GET of a missing blob: %d", code)
	}
	if code, _ := do(http.MethodPut, "/blobs/L.x?digest="+digest, content); code != http.StatusBadRequest {
		t.Errorf("PUT of a bad name: %d", code)
	}
}
