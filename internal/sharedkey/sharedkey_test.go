package sharedkey

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
)

const date = "Sun, 29 Nov 2026 17:00:22 GMT"

func TestStrings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		scheme  Scheme
		method  string
		target  string
		body    string
		headers map[string]string
		// first is the documented string-to-sign; also lists other
		// candidates that must be present, absent those that must not.
		first   string
		also    []string
		without []string
	}{
		{
			name: "storage put blob", scheme: Storage, method: "PUT", target: "/acct1/c1/b%20x?comp=block&blockid=QQ%3D%3D",
			body:    "hello",
			headers: map[string]string{"x-ms-date": date, "x-ms-version": "2026-12-06", "x-ms-blob-type": "BlockBlob", "Content-Type": "text/plain"},
			first: "PUT\n\n\n5\n\ntext/plain\n\n\n\n\n\n\nx-ms-blob-type:BlockBlob\nx-ms-date:" + date + "\nx-ms-version:2026-12-06\n" +
				"/acct1/acct1/c1/b%20x\nblockid:QQ==\ncomp:block",
			without: []string{"PUT\n\n\n5\n\ntext/plain\n\n\n\n\n\n\nx-ms-blob-type:BlockBlob\nx-ms-date:" + date + "\nx-ms-version:2026-12-06\n" +
				"/acct1/acct1/c1/b x\nblockid:QQ==\ncomp:block"},
		},
		{
			name: "storage empty body, Date only, repeated query", scheme: Storage, method: "GET", target: "/acct1/c1?restype=container&comp=list&include=metadata&include=deleted",
			headers: map[string]string{"Date": date, "Content-Length": "0"},
			first:   "GET\n\n\n\n\n\n" + date + "\n\n\n\n\n\n/acct1/acct1/c1\ncomp:list\ninclude:deleted,metadata\nrestype:container",
			without: []string{"GET\n\n\n0\n\n\n" + date + "\n\n\n\n\n\n/acct1/acct1/c1\ncomp:list\ninclude:deleted,metadata\nrestype:container"},
		},
		{
			name: "storage culture order", scheme: Storage, method: "GET", target: "/acct1/c1",
			headers: map[string]string{"x-ms-meta-a1": "2", "x-ms-meta-a_1": "1", "x-ms-date": date},
			first:   "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:" + date + "\nx-ms-meta-a1:2\nx-ms-meta-a_1:1\n/acct1/acct1/c1",
			also:    []string{"GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:" + date + "\nx-ms-meta-a_1:1\nx-ms-meta-a1:2\n/acct1/acct1/c1"},
		},
		{
			name: "batch node capture", scheme: Batch, method: "POST", target: "/pools?api-version=2022-10-01.16.0",
			body:    strings.Repeat("x", 226),
			headers: map[string]string{"Content-Type": "application/json; odata=minimalmetadata; charset=utf-8", "ocp-date": date},
			first:   "POST\n\n\n226\n\napplication/json; odata=minimalmetadata; charset=utf-8\n\n\n\n\n\n\nocp-date:" + date + "\n/acct1/pools\napi-version:2022-10-01.16.0",
		},
		{
			name: "batch bodiless post and client query order", scheme: Batch, method: "POST", target: "/jobs/j1/tasks/t1/terminate?timeOut=30&api-version=2024-07-01.20.0&$select=",
			headers: map[string]string{"ocp-date": date, "Date": date, "client-request-id": "abc"},
			first:   "POST\n\n\n\n\n\n\n\n\n\n\n\nocp-date:" + date + "\n/acct1/jobs/j1/tasks/t1/terminate\n$select:\napi-version:2024-07-01.20.0\ntimeout:30",
			also: []string{
				"POST\n\n\n0\n\n\n\n\n\n\n\n\nocp-date:" + date + "\n/acct1/jobs/j1/tasks/t1/terminate\n$select:\napi-version:2024-07-01.20.0\ntimeout:30",
				"POST\n\n\n0\n\n\n" + date + "\n\n\n\n\n\nocp-date:" + date + "\n/acct1/jobs/j1/tasks/t1/terminate\napi-version:2024-07-01.20.0\ntimeOut:30",
			},
		},
		{
			name: "batch headers containing ocp- and decoded path", scheme: Batch, method: "GET", target: "/jobs/j1/tasks/t1/files/wd%2Fout.txt",
			headers: map[string]string{"ocp-date": date, "x-ocp-trace": "1"},
			first:   "GET\n\n\n\n\n\n\n\n\n\n\n\nocp-date:" + date + "\n/acct1/jobs/j1/tasks/t1/files/wd%2Fout.txt",
			also: []string{
				"GET\n\n\n\n\n\n\n\n\n\n\n\nocp-date:" + date + "\nx-ocp-trace:1\n/acct1/jobs/j1/tasks/t1/files/wd%2Fout.txt",
				"GET\n\n\n\n\n\n\n\n\n\n\n\nocp-date:" + date + "\n/acct1/jobs/j1/tasks/t1/files/wd/out.txt",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(tt.method, "https://127.0.0.1:1"+tt.target, strings.NewReader(tt.body))
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			got := tt.scheme.Strings(r, "acct1")
			if len(got) == 0 || got[0] != tt.first {
				t.Fatalf("first candidate:\n%q\nwant\n%q", got, tt.first)
			}
			for _, s := range tt.also {
				if !slices.Contains(got, s) {
					t.Errorf("missing candidate %q in\n%q", s, got)
				}
			}
			for _, s := range tt.without {
				if slices.Contains(got, s) {
					t.Errorf("unexpected candidate %q", s)
				}
			}
			// Verify agrees with Strings, for either key, and only for the right account.
			key := []byte("0123456789abcdef0123456789abcdef")
			for _, s := range got {
				if !tt.scheme.Verify(r, "acct1", [][]byte{nil, []byte("other"), key}, Sign(key, s)) {
					t.Fatalf("Verify rejected candidate %q", s)
				}
			}
			if tt.scheme.Verify(r, "acct2", [][]byte{key}, Sign(key, got[0])) {
				t.Fatal("Verify accepted the signature for another account")
			}
			if tt.scheme.Verify(r, "acct1", nil, Sign(key, got[0])) {
				t.Fatal("Verify accepted with no keys")
			}
		})
	}
}

func TestCultureLess(t *testing.T) {
	t.Parallel()
	// Orders the azblob Go SDK produces.
	for _, want := range [][]string{
		{"x-ms-client-request-id", "x-ms-date", "x-ms-meta-a_1", "x-ms-meta-a1", "x-ms-meta-aa", "x-ms-version"},
		{"x-ms-meta-a_c", "x-ms-meta-aa", "x-ms-meta-ab", "x-ms-meta-a-b"},
		{"x-ms-blob-content-type", "x-ms-blob-type", "x-ms-blobtypez"},
	} {
		got := slices.Clone(want)
		slices.Reverse(got)
		sort.SliceStable(got, func(i, j int) bool { return cultureLess(got[i], got[j]) })
		if !slices.Equal(got, want) {
			t.Errorf("order %q, want %q", got, want)
		}
	}
}

func TestRequestDate(t *testing.T) {
	t.Parallel()
	h := http.Header{}
	if Storage.RequestDate(h) != "" {
		t.Fatal("date without headers")
	}
	h.Set("Date", "d1")
	if Storage.RequestDate(h) != "d1" || Batch.RequestDate(h) != "d1" {
		t.Fatal("Date not used")
	}
	h.Set("x-ms-date", "d2")
	h.Set("ocp-date", "d3")
	if Storage.RequestDate(h) != "d2" || Batch.RequestDate(h) != "d3" {
		t.Fatal("the service's date header does not win")
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	good := base64.StdEncoding.EncodeToString(make([]byte, 32))
	tests := []struct {
		in      string
		account string
		ok      bool
	}{
		{"SharedKey acct1:" + good, "acct1", true},
		{"sharedkey acct1:" + good, "acct1", true},
		{"  SharedKey   acct1:" + good + " ", "acct1", true},
		{"SharedKey acct1:", "", false},
		{"SharedKey :" + good, "", false},
		{"SharedKey acct1" + good, "", false},
		{"SharedKey acct1:not-base64!", "", false},
		{"SharedKey acct1:" + base64.StdEncoding.EncodeToString([]byte("short")), "", false},
		{"Bearer acct1:" + good, "", false},
		{"SharedKeyLite acct1:" + good, "", false},
		{"SharedKey", "", false},
		{"", "", false},
		{"SharedKey a b:" + good, "", false},
		{"SharedKey " + strings.Repeat("a", 65) + ":" + good, "", false},
	}
	for _, tt := range tests {
		h, err := Parse(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("Parse(%q) err = %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if tt.ok && h.Account != tt.account {
			t.Errorf("Parse(%q) account = %q, want %q", tt.in, h.Account, tt.account)
		}
	}
}

func FuzzParse(f *testing.F) {
	good := base64.StdEncoding.EncodeToString(make([]byte, 32))
	for _, s := range []string{"SharedKey acct1:" + good, "SharedKey :", "SharedKey a:b:c", "Bearer x", "SharedKey \x00:" + good} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := Parse(s)
		if err != nil {
			return
		}
		if h.Account == "" || len(h.Signature) != sha256.Size || strings.ContainsAny(h.Account, " \t") {
			t.Fatalf("accepted a bad header %q: %+v", s, h)
		}
	})
}

// FuzzStrings checks that any request canonicalizes without panicking, to a
// bounded number of candidates that all start with the method line.
func FuzzStrings(f *testing.F) {
	f.Add("GET", "/pools", "api-version=2024-07-01.20.0&$filter=state%20eq%20'x'", "ocp-x", "")
	f.Add("POST", "/jobs/a%2Fb", "a=1&a=2&B=&%zz=1", "x-ocp-y", "")
	f.Add("PUT", "/acct/c/b", "comp=block", "x-ms-meta-a_1", "x-ms-meta-a1")
	f.Fuzz(func(t *testing.T, method, path, query, h1, h2 string) {
		r := httptest.NewRequest("GET", "https://127.0.0.1:1/", nil)
		r.Method = method
		r.URL.RawPath = ""
		r.URL.Path = path
		r.URL.RawQuery = query
		r.RequestURI = ""
		for _, h := range []string{h1, h2} {
			if h != "" && !strings.ContainsAny(h, "\r\n:\x00 ") {
				r.Header[h] = []string{"v", ""}
			}
		}
		for _, s := range []Scheme{Storage, Batch} {
			got := s.Strings(r, "acct")
			if len(got) == 0 || len(got) > 96 {
				t.Fatalf("got %d candidates", len(got))
			}
			for _, c := range got {
				if !strings.HasPrefix(c, strings.ToUpper(method)+"\n") {
					t.Fatalf("candidate %q does not start with the method", c)
				}
			}
		}
	})
}
