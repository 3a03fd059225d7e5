package blob

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// sendSigned sends a bodiless GET of path, with the given date headers,
// signed by sts(req) under testKey1.
func (e *env) sendSigned(t *testing.T, path string, dates map[string]string, sts func(*http.Request) string) rawResp {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-ms-version", "2026-12-06")
	for k, v := range dates {
		req.Header.Set(k, v)
	}
	req.Header.Set("Authorization", "SharedKey "+testAccount+":"+signString(testKey1, sts(req)))
	resp, err := e.httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return rawResp{resp.StatusCode, resp.Header.Get("x-ms-error-code"), resp.Header, string(b)}
}

// TestSharedKeyRequestDate checks that a SharedKey request needs an
// x-ms-date or Date within 15 minutes of the server's clock, with Azure's
// 403 AuthenticationFailed and its detail otherwise.
func TestSharedKeyRequestDate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if r := e.do(t, http.MethodPut, "/acct1/dates?restype=container", nil, nil, 0, true); r.status != 201 {
		t.Fatalf("create container: %+v", r)
	}
	now := time.Now().UTC()
	at := func(d time.Duration) string { return now.Add(d).Format(http.TimeFormat) }
	tests := []struct {
		name   string
		dates  map[string]string
		status int
		detail string
	}{
		{"x-ms-date now", map[string]string{"x-ms-date": at(0)}, 200, ""},
		{"Date now", map[string]string{"Date": at(0)}, 200, ""},
		{"x-ms-date 10 minutes ago", map[string]string{"x-ms-date": at(-10 * time.Minute)}, 200, ""},
		{"no date", nil, 403, "Request date header not specified"},
		{"x-ms-date 20 minutes ago", map[string]string{"x-ms-date": at(-20 * time.Minute)}, 403, "Request date header too old"},
		{"Date a day ago", map[string]string{"Date": at(-24 * time.Hour)}, 403, "Request date header too old"},
		{"x-ms-date 20 minutes ahead", map[string]string{"x-ms-date": at(20 * time.Minute)}, 403, "too far in the future"},
		{"stale x-ms-date wins over a fresh Date", map[string]string{"x-ms-date": at(-time.Hour), "Date": at(0)}, 403, "too old"},
		{"not a date", map[string]string{"x-ms-date": "yesterday"}, 403, "The Date header in the request is incorrect."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.sendSigned(t, "/acct1/dates?restype=container", tt.dates, func(req *http.Request) string {
				return specStringToSign(req, testAccount)
			})
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.status == 403 && (r.code != codeAuthFailed || !strings.Contains(r.body, tt.detail)) {
				t.Fatalf("code %q body %s, want AuthenticationFailed with %q", r.code, r.body, tt.detail)
			}
		})
	}
}

// TestSharedKeyDecodedPath checks that only the escaped path is signed: a
// signature over the decoded path is refused.
func TestSharedKeyDecodedPath(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if r := e.do(t, http.MethodPut, "/acct1/paths?restype=container", nil, nil, 0, true); r.status != 201 {
		t.Fatalf("create container: %+v", r)
	}
	body := "x"
	if r := e.do(t, http.MethodPut, "/acct1/paths/a%20b", map[string]string{"x-ms-blob-type": "BlockBlob"},
		strings.NewReader(body), 1, true); r.status != 201 {
		t.Fatalf("put blob: %+v", r)
	}
	dates := map[string]string{"x-ms-date": time.Now().UTC().Format(http.TimeFormat)}
	escaped := e.sendSigned(t, "/acct1/paths/a%20b", dates, func(req *http.Request) string {
		return specStringToSign(req, testAccount)
	})
	if escaped.status != 200 || escaped.body != body {
		t.Fatalf("escaped path: %+v", escaped)
	}
	decoded := e.sendSigned(t, "/acct1/paths/a%20b", dates, func(req *http.Request) string {
		return strings.Replace(specStringToSign(req, testAccount), "/a%20b", "/a b", 1)
	})
	if decoded.status != 403 || decoded.code != codeAuthFailed {
		t.Fatalf("decoded path signature: status %d code %q, want 403 AuthenticationFailed", decoded.status, decoded.code)
	}
}

// TestSharedKeyAzblobHeaderOrder drives the azblob SDK's own SharedKey
// signer with metadata names that its culture-style order sorts differently
// from byte order ("a_1" before "a1").
func TestSharedKeyAzblobHeaderOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.sharedKeyClient(t)
	ctx := context.Background()
	meta := map[string]*string{"a_1": ptr("1"), "a1": ptr("2"), "ab": ptr("3"), "aa": ptr("4")}
	if _, err := c.CreateContainer(ctx, "order", &container.CreateOptions{Metadata: meta}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ServiceClient().NewContainerClient("order").SetMetadata(ctx, &container.SetMetadataOptions{Metadata: meta}); err != nil {
		t.Fatal(err)
	}
}

func ptr[T any](v T) *T { return &v }
