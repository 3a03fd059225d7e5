package blob

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/cobaltbatch/cobalt"
)

// parseSharedKey parses "SharedKey account:base64signature".
func parseSharedKey(v string) (account string, sig []byte, err error) {
	scheme, cred, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || scheme != "SharedKey" {
		return "", nil, badAuthHeader()
	}
	account, s, ok := strings.Cut(strings.TrimSpace(cred), ":")
	if !ok || account == "" || s == "" {
		return "", nil, badAuthHeader()
	}
	sig, err = base64.StdEncoding.DecodeString(s)
	if err != nil || len(sig) != sha256.Size {
		return "", nil, badAuthHeader()
	}
	return account, sig, nil
}

func badAuthHeader() error {
	return apiErr(cobalt.EInvalid, codeInvalidAuthInfo, "Authentication information is not given in the correct format. Check the value of Authorization header.")
}

// sharedKeyStrings returns the candidate strings-to-sign of a SharedKey
// request: clients differ in how they escape the path and sort x-ms-*
// headers, and a request is accepted if it matches any of them.
func sharedKeyStrings(r *http.Request, account string) []string {
	h := r.Header
	contentLength := h.Get("Content-Length")
	if contentLength == "" && r.ContentLength > 0 {
		contentLength = itoa64(r.ContentLength)
	}
	if contentLength == "0" {
		contentLength = ""
	}
	date := ""
	if h.Get("x-ms-date") == "" {
		date = h.Get("Date")
	}
	head := strings.Join([]string{
		r.Method,
		h.Get("Content-Encoding"),
		h.Get("Content-Language"),
		contentLength,
		h.Get("Content-MD5"),
		h.Get("Content-Type"),
		date,
		h.Get("If-Modified-Since"),
		h.Get("If-Match"),
		h.Get("If-None-Match"),
		h.Get("If-Unmodified-Since"),
		h.Get("Range"),
	}, "\n") + "\n"
	var out []string
	query := canonicalQuery(r.URL.RawQuery)
	for _, hdrs := range canonicalHeaders(h) {
		for _, p := range requestPaths(r) {
			out = appendUnique(out, head+hdrs+"/"+account+p+query)
		}
	}
	return out
}

func appendUnique(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

// requestPaths returns the request path as sent, as Go re-escapes it, and decoded.
func requestPaths(r *http.Request) []string {
	var out []string
	raw := r.RequestURI
	if i := strings.IndexByte(raw, '?'); i >= 0 {
		raw = raw[:i]
	}
	if strings.HasPrefix(raw, "/") {
		out = append(out, raw)
	}
	out = appendUnique(out, r.URL.EscapedPath())
	out = appendUnique(out, r.URL.Path)
	return out
}

// canonicalHeaders returns the x-ms-* block ("name:value\n" lines), sorted
// bytewise and, if that differs, sorted with hyphens ignored first (the Go
// SDK's culture-aware order).
func canonicalHeaders(h http.Header) []string {
	m := map[string]string{}
	var names []string
	for k, v := range h {
		n := strings.ToLower(strings.TrimSpace(k))
		if strings.HasPrefix(n, "x-ms-") {
			if _, dup := m[n]; !dup {
				names = append(names, n)
			}
			m[n] = strings.Join(v, ",")
		}
	}
	build := func(ns []string) string {
		var b strings.Builder
		for _, n := range ns {
			b.WriteString(n)
			b.WriteByte(':')
			b.WriteString(m[n])
			b.WriteByte('\n')
		}
		return b.String()
	}
	sort.Strings(names)
	plain := build(names)
	alt := append([]string(nil), names...)
	sort.SliceStable(alt, func(i, j int) bool {
		a, b := strings.ReplaceAll(alt[i], "-", ""), strings.ReplaceAll(alt[j], "-", "")
		if a != b {
			return a < b
		}
		return alt[i] < alt[j]
	})
	if other := build(alt); other != plain {
		return []string{plain, other}
	}
	return []string{plain}
}

// canonicalQuery renders the query parameters for the canonicalized resource.
func canonicalQuery(raw string) string {
	q, err := url.ParseQuery(raw)
	if err != nil || len(q) == 0 {
		return ""
	}
	lower := map[string][]string{}
	var names []string
	for k, v := range q {
		n := strings.ToLower(k)
		if _, ok := lower[n]; !ok {
			names = append(names, n)
		}
		lower[n] = append(lower[n], v...)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		vs := lower[n]
		sort.Strings(vs)
		b.WriteString("\n" + n + ":" + strings.Join(vs, ","))
	}
	return b.String()
}

// verifySharedKey checks the signature against both account keys.
func verifySharedKey(r *http.Request, account string, keys [][]byte, sig []byte) bool {
	for _, s := range sharedKeyStrings(r, account) {
		for _, k := range keys {
			if len(k) > 0 && hmac.Equal(hmacSHA256(k, s), sig) {
				return true
			}
		}
	}
	return false
}

func hmacSHA256(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}
