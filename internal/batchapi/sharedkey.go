package batchapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// sharedKeyHeader is a parsed "SharedKey <account>:<signature>" header.
type sharedKeyHeader struct {
	Account   string
	Signature []byte
}

// errSharedKeyFormat is returned for an Authorization header that says
// SharedKey but is not "SharedKey account:base64signature".
var errSharedKeyFormat = errors.New("malformed SharedKey authorization header")

// parseSharedKey parses the value of an Authorization header whose scheme is
// SharedKey. The scheme is matched case-insensitively; the account name and
// the base64 signature must both be present.
func parseSharedKey(v string) (sharedKeyHeader, error) {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.EqualFold(scheme, "SharedKey") {
		return sharedKeyHeader{}, errSharedKeyFormat
	}
	rest = strings.TrimSpace(rest)
	i := strings.LastIndexByte(rest, ':')
	if i <= 0 || i == len(rest)-1 {
		return sharedKeyHeader{}, errSharedKeyFormat
	}
	acct, sig64 := rest[:i], rest[i+1:]
	if strings.ContainsAny(acct, " \t") || len(acct) > 64 {
		return sharedKeyHeader{}, errSharedKeyFormat
	}
	sig, err := base64.StdEncoding.DecodeString(sig64)
	if err != nil || len(sig) != sha256.Size {
		return sharedKeyHeader{}, errSharedKeyFormat
	}
	return sharedKeyHeader{Account: acct, Signature: sig}, nil
}

// stringsToSign returns every string-to-sign a documented Batch client could
// have signed for r (deduplicated). The variants, from the REST docs, the
// Python and .NET SDKs and @azure/batch:
//
//   - Content-Length: the header value; when it is 0 or absent, both "" (.NET,
//     and GET in every client) and "0" (Python and Node for a bodiless POST).
//   - Canonicalized headers: names that start with "ocp-" (.NET, Node) or
//     that contain it (Python), lowercased, sorted.
//   - Query: names lowercased with repeated values sorted and comma-joined
//     (REST docs, .NET); or names as sent, sorted case-sensitively, first value
//     only (Node), also skipping empty values (Python). Values are URL-decoded.
//   - Path: the escaped path exactly as sent, and its decoded form.
//   - Date: the header, and empty when ocp-date is sent too.
func stringsToSign(r *http.Request, account string) []string {
	h := r.Header
	var cls []string
	switch {
	case r.ContentLength > 0:
		cls = []string{h.Get("Content-Length")}
		if cls[0] == "" {
			cls[0] = itoa64(r.ContentLength)
		}
	default:
		cls = []string{"", "0"}
	}
	// The Date line: the header as sent, and empty when ocp-date is also
	// sent (the documented rule: ocp-date replaces Date).
	dates := []string{h.Get("Date")}
	if dates[0] != "" && h.Get("ocp-date") != "" {
		dates = append(dates, "")
	}
	head := func(cl, date string) string {
		var b strings.Builder
		b.WriteString(strings.ToUpper(r.Method))
		b.WriteByte('\n')
		for _, name := range []string{"Content-Encoding", "Content-Language"} {
			b.WriteString(h.Get(name))
			b.WriteByte('\n')
		}
		b.WriteString(cl)
		b.WriteByte('\n')
		for _, name := range []string{"Content-MD5", "Content-Type", "Date", "If-Modified-Since",
			"If-Match", "If-None-Match", "If-Unmodified-Since", "Range"} {
			v := h.Get(name)
			if name == "Date" {
				v = date
			}
			b.WriteString(v)
			b.WriteByte('\n')
		}
		return b.String()
	}
	headerSets := []string{canonicalHeaders(h, strings.HasPrefix), canonicalHeaders(h, strings.Contains)}
	paths := []string{requestPath(r)}
	if dec, err := url.PathUnescape(paths[0]); err == nil && dec != paths[0] {
		paths = append(paths, dec)
	}
	queries := canonicalQueries(r.URL.RawQuery)

	seen := map[string]bool{}
	var out []string
	for _, date := range dates {
		for _, cl := range cls {
			hd := head(cl, date)
			for _, hs := range headerSets {
				for _, p := range paths {
					for _, q := range queries {
						s := hd + hs + "/" + account + p + q
						if !seen[s] {
							seen[s] = true
							out = append(out, s)
						}
					}
				}
			}
		}
	}
	return out
}

// requestPath is the request path exactly as the client sent it (escaped).
func requestPath(r *http.Request) string {
	p := r.URL.EscapedPath()
	if r.RequestURI != "" && strings.HasPrefix(r.RequestURI, "/") {
		raw := r.RequestURI
		if i := strings.IndexByte(raw, '?'); i >= 0 {
			raw = raw[:i]
		}
		p = raw
	}
	if p == "" {
		p = "/"
	}
	return p
}

// canonicalHeaders builds the CanonicalizedHeaders block from headers whose
// lowercase name satisfies match(name, "ocp-").
func canonicalHeaders(h http.Header, match func(s, sub string) bool) string {
	var names []string
	vals := map[string]string{}
	for k, v := range h {
		lk := strings.ToLower(k)
		if !match(lk, "ocp-") || len(v) == 0 || v[0] == "" {
			continue
		}
		if _, dup := vals[lk]; !dup {
			names = append(names, lk)
		}
		vals[lk] = strings.TrimSpace(v[0])
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		b.WriteString(n)
		b.WriteByte(':')
		b.WriteString(vals[n])
		b.WriteByte('\n')
	}
	return b.String()
}

// canonicalQueries returns the query part of CanonicalizedResource in every
// client variant.
func canonicalQueries(raw string) []string {
	if raw == "" {
		return []string{""}
	}
	type pair struct{ name, value string }
	var pairs []pair
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		dk, err := url.QueryUnescape(k)
		if err != nil {
			dk = k
		}
		dv, err := url.QueryUnescape(v)
		if err != nil {
			dv = v
		}
		pairs = append(pairs, pair{dk, dv})
	}

	// Docs / .NET: lowercase names, all values sorted and comma-joined.
	byLower := map[string][]string{}
	var lowerNames []string
	for _, p := range pairs {
		ln := strings.ToLower(p.name)
		if _, ok := byLower[ln]; !ok {
			lowerNames = append(lowerNames, ln)
		}
		byLower[ln] = append(byLower[ln], p.value)
	}
	sort.Strings(lowerNames)
	var docs strings.Builder
	for _, n := range lowerNames {
		v := append([]string(nil), byLower[n]...)
		sort.Strings(v)
		docs.WriteString("\n" + n + ":" + strings.Join(v, ","))
	}

	// Node / Python: names as sent, sorted case-sensitively, first value.
	first := map[string]string{}
	var names []string
	for _, p := range pairs {
		if _, ok := first[p.name]; !ok {
			names = append(names, p.name)
			first[p.name] = p.value
		}
	}
	sort.Strings(names)
	var node, py strings.Builder
	for _, n := range names {
		node.WriteString("\n" + n + ":" + first[n])
		if first[n] != "" {
			py.WriteString("\n" + n + ":" + first[n])
		}
	}
	return dedupe([]string{docs.String(), node.String(), py.String()})
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	out := in[:0]
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// signString returns base64(HMAC-SHA256(key, s)).
func signString(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}

// verifySharedKey reports whether sig is a valid signature of r by one of the
// base64 account keys under any documented string-to-sign variant.
func verifySharedKey(r *http.Request, account string, keys []string, sig []byte) bool {
	var raw [][]byte
	for _, k := range keys {
		if k == "" {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(k)
		if err != nil {
			continue
		}
		raw = append(raw, b)
	}
	if len(raw) == 0 {
		return false
	}
	// Each comparison is constant-time; stopping at the first match tells
	// only which public variant the client used.
	for _, s := range stringsToSign(r, account) {
		for _, k := range raw {
			if hmac.Equal(signString(k, s), sig) {
				return true
			}
		}
	}
	return false
}

func itoa64(n int64) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
