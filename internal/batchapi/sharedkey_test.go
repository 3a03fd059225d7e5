package batchapi

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
)

const testKey = "a2V5MTIzNDU2Nzg5MGtleTEyMzQ1Njc4OTBrZXkxMjM0NTY3ODkw" // base64

func sign(t *testing.T, key, s string) string {
	t.Helper()
	k, err := base64.StdEncoding.DecodeString(key)
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, k)
	m.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// TestStringsToSignNodeCapture checks the string @azure/batch 10.2.0 was
// captured signing (azure-sdk-clients.md §5) is among the candidates.
func TestStringsToSignNodeCapture(t *testing.T) {
	t.Parallel()
	body := strings.Repeat("x", 226)
	r := httptest.NewRequest("POST", "https://127.0.0.1:18443/pools?api-version=2022-10-01.16.0", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json; odata=minimalmetadata; charset=utf-8")
	r.Header.Set("ocp-date", "Sun, 29 Nov 2026 17:00:22 GMT")
	r.Header.Set("Content-Length", "226")
	want := "POST\n\n\n226\n\napplication/json; odata=minimalmetadata; charset=utf-8\n\n\n\n\n\n\nocp-date:Sun, 29 Nov 2026 17:00:22 GMT\n/acct1/pools\napi-version:2022-10-01.16.0"
	if got := stringsToSign(r, "acct1"); !slices.Contains(got, want) {
		t.Fatalf("candidates do not contain the captured string:\n%q", got)
	}
}

// Reference signers, one per client family, written from each client's
// documented behaviour.
type signer func(r *http.Request, account string) string

func base(r *http.Request, cl string) string {
	h := r.Header
	return r.Method + "\n" + h.Get("Content-Encoding") + "\n" + h.Get("Content-Language") + "\n" + cl + "\n" +
		h.Get("Content-MD5") + "\n" + h.Get("Content-Type") + "\n" + h.Get("Date") + "\n" +
		h.Get("If-Modified-Since") + "\n" + h.Get("If-Match") + "\n" + h.Get("If-None-Match") + "\n" +
		h.Get("If-Unmodified-Since") + "\n" + h.Get("Range") + "\n"
}

func ocpHeaders(r *http.Request, contains bool) string {
	var names []string
	for k := range r.Header {
		lk := strings.ToLower(k)
		if (contains && strings.Contains(lk, "ocp-")) || strings.HasPrefix(lk, "ocp-") {
			names = append(names, lk)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		b.WriteString(n + ":" + r.Header.Get(n) + "\n")
	}
	return b.String()
}

// dotnetSigner: empty Content-Length for 0, lowercase query names, values
// joined.
func dotnetSigner(r *http.Request, account string) string {
	cl := r.Header.Get("Content-Length")
	if cl == "0" {
		cl = ""
	}
	q := r.URL.Query()
	var names []string
	lower := map[string][]string{}
	for k, v := range q {
		lk := strings.ToLower(k)
		if _, ok := lower[lk]; !ok {
			names = append(names, lk)
		}
		lower[lk] = append(lower[lk], v...)
	}
	sort.Strings(names)
	s := base(r, cl) + ocpHeaders(r, false) + "/" + account + r.URL.EscapedPath()
	for _, n := range names {
		v := lower[n]
		sort.Strings(v)
		s += "\n" + n + ":" + strings.Join(v, ",")
	}
	return s
}

// pythonSigner: "0" for a bodiless non-GET, names as sent, skip empty values,
// headers containing ocp-.
func pythonSigner(r *http.Request, account string) string {
	cl := r.Header.Get("Content-Length")
	if cl == "" && r.Method != "GET" && r.Method != "HEAD" {
		cl = "0"
	}
	q := r.URL.Query()
	var names []string
	for k := range q {
		names = append(names, k)
	}
	sort.Strings(names)
	s := base(r, cl) + ocpHeaders(r, true) + "/" + account + r.URL.EscapedPath()
	for _, n := range names {
		if v := q.Get(n); v != "" {
			s += "\n" + n + ":" + v
		}
	}
	return s
}

// nodeSigner: "0" for a bodiless POST, names as sent with empty values kept.
func nodeSigner(r *http.Request, account string) string {
	cl := r.Header.Get("Content-Length")
	if cl == "" && r.Method == "POST" {
		cl = "0"
	}
	q := r.URL.Query()
	var names []string
	for k := range q {
		names = append(names, k)
	}
	sort.Strings(names)
	s := base(r, cl) + ocpHeaders(r, false) + "/" + account + r.URL.EscapedPath()
	for _, n := range names {
		s += "\n" + n + ":" + q.Get(n)
	}
	return s
}

func TestVerifySharedKeyClientVariants(t *testing.T) {
	t.Parallel()
	type req struct {
		name, method, url, body string
		headers                 map[string]string
	}
	reqs := []req{
		{"get with query", "GET", "/jobs/j1/tasks?api-version=2024-07-01.20.0&timeOut=30&$filter=state%20eq%20%27active%27&maxresults=10", "", nil},
		{"post with body", "POST", "/jobs?api-version=2022-10-01.16.0", `{"id":"j1","poolInfo":{"poolId":"p"}}`,
			map[string]string{"Content-Type": "application/json; odata=minimalmetadata; charset=utf-8"}},
		{"bodiless post", "POST", "/jobs/j1/tasks/t1/terminate?api-version=2022-10-01.16.0", "", nil},
		{"escaped file path", "GET", "/jobs/j1/tasks/t1/files/wd%2Fout.txt?api-version=2024-07-01.20.0", "",
			map[string]string{"ocp-range": "bytes=0-9", "If-Modified-Since": "Sun, 29 Nov 2026 17:00:00 GMT"}},
		{"empty query value", "GET", "/pools?api-version=2022-10-01.16.0&$select=", "", nil},
		{"client request id", "DELETE", "/jobs/j1?api-version=2022-10-01.16.0", "",
			map[string]string{"client-request-id": "abc", "If-Match": "\"0x1\""}},
		{"date and ocp-date", "GET", "/pools?api-version=2024-07-01.20.0", "",
			map[string]string{"Date": "Sun, 29 Nov 2026 17:00:22 GMT"}},
	}
	docsSigner := func(r *http.Request, account string) string {
		c := r.Clone(r.Context())
		if c.Header.Get("ocp-date") != "" {
			c.Header.Del("Date")
		}
		return dotnetSigner(c, account)
	}
	signers := map[string]signer{"dotnet": dotnetSigner, "python": pythonSigner, "node": nodeSigner, "docs": docsSigner}
	for _, rq := range reqs {
		for sname, sg := range signers {
			t.Run(rq.name+"/"+sname, func(t *testing.T) {
				t.Parallel()
				r := httptest.NewRequest(rq.method, "https://127.0.0.1:1"+rq.url, bytes.NewReader([]byte(rq.body)))
				if rq.body != "" {
					r.Header.Set("Content-Length", itoa64(int64(len(rq.body))))
				}
				r.Header.Set("ocp-date", "Sun, 29 Nov 2026 17:00:22 GMT")
				for k, v := range rq.headers {
					r.Header.Set(k, v)
				}
				sig, _ := base64.StdEncoding.DecodeString(sign(t, testKey, sg(r, "acct1")))
				if !verifySharedKey(r, "acct1", []string{"", testKey}, sig) {
					t.Fatalf("signature of %s not accepted; string was %q", sname, sg(r, "acct1"))
				}
				// A different key, account or method must fail.
				if verifySharedKey(r, "acct2", []string{testKey}, sig) {
					t.Fatal("accepted for another account")
				}
				other := base64.StdEncoding.EncodeToString([]byte("another key entirely, 32 bytes.."))
				if verifySharedKey(r, "acct1", []string{other}, sig) {
					t.Fatal("accepted with another key")
				}
				r.Method = "PUT"
				if verifySharedKey(r, "acct1", []string{testKey}, sig) {
					t.Fatal("accepted with another method")
				}
			})
		}
	}
}
