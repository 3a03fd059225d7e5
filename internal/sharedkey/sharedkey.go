package sharedkey

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Variant is a set of client deviations from the documented string-to-sign
// that a Scheme accepts in addition to the documented form.
type Variant uint

const (
	// HeadersContainingPrefix also canonicalizes headers whose lowercase name
	// contains the prefix anywhere, not only at the start (Python azure-batch).
	HeadersContainingPrefix Variant = 1 << iota
	// CultureHeaderOrder also sorts the canonicalized headers in the
	// culture-style order of the azblob Go SDK (see cultureLess).
	CultureHeaderOrder
	// ZeroContentLength also signs "0" as the Content-Length of an empty body
	// (Python and Node azure-batch for a bodiless POST).
	ZeroContentLength
	// ClientQueryOrder also canonicalizes the query with names as sent, sorted
	// case-sensitively, first value only: once keeping empty values (Node
	// @azure/batch) and once skipping them (Python azure-batch).
	ClientQueryOrder
	// DecodedPath also signs the percent-decoded path.
	DecodedPath
	// OmitEmptyHeaders also leaves out prefixed headers whose value is empty.
	OmitEmptyHeaders
)

// Scheme is the SharedKey dialect of one service.
type Scheme struct {
	// Prefix is the lowercase prefix of the canonicalized headers: "x-ms-"
	// for Storage, "ocp-" for Batch. The service's date header is Prefix+"date".
	Prefix string
	// Variants are the client deviations accepted besides the documented form.
	Variants Variant
}

// Storage is the Azure Storage dialect as the azblob SDKs sign it.
var Storage = Scheme{Prefix: "x-ms-", Variants: CultureHeaderOrder}

// Batch is the Azure Batch data-plane dialect as the REST docs, .NET,
// Python and Node clients sign it.
var Batch = Scheme{Prefix: "ocp-", Variants: HeadersContainingPrefix | ZeroContentLength | ClientQueryOrder | DecodedPath | OmitEmptyHeaders}

// Header is a parsed "SharedKey <account>:<signature>" Authorization value.
type Header struct {
	// Account is the storage or Batch account name the client signed for.
	Account string
	// Signature is the decoded HMAC-SHA256 signature (32 bytes).
	Signature []byte
}

// ErrFormat is returned by Parse for a value that is not
// "SharedKey account:base64signature".
var ErrFormat = errors.New("malformed SharedKey authorization header")

// Parse parses the value of an Authorization header whose scheme is
// SharedKey. The scheme is matched case-insensitively; the account name (no
// blanks, at most 64 bytes) and a base64 32-byte signature must be present.
// It returns ErrFormat otherwise.
func Parse(v string) (Header, error) {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.EqualFold(scheme, "SharedKey") {
		return Header{}, ErrFormat
	}
	rest = strings.TrimSpace(rest)
	i := strings.LastIndexByte(rest, ':')
	if i <= 0 || i == len(rest)-1 {
		return Header{}, ErrFormat
	}
	acct, sig64 := rest[:i], rest[i+1:]
	if strings.ContainsAny(acct, " \t") || len(acct) > 64 {
		return Header{}, ErrFormat
	}
	sig, err := base64.StdEncoding.DecodeString(sig64)
	if err != nil || len(sig) != sha256.Size {
		return Header{}, ErrFormat
	}
	return Header{Account: acct, Signature: sig}, nil
}

// RequestDate returns the date the request was signed with: the service's
// date header (Prefix+"date") if present, else Date, else "".
func (s Scheme) RequestDate(h http.Header) string {
	if d := h.Get(s.Prefix + "date"); d != "" {
		return d
	}
	return h.Get("Date")
}

// Sign returns HMAC-SHA256(key, stringToSign).
func Sign(key []byte, stringToSign string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(stringToSign))
	return m.Sum(nil)
}

// Verify reports whether sig is a signature of r for account, by one of keys
// (raw, not base64; empty keys are skipped), under any candidate string of
// s.Strings. Each comparison is constant-time; stopping at the first match
// reveals only which public variant the client used.
func (s Scheme) Verify(r *http.Request, account string, keys [][]byte, sig []byte) bool {
	var usable [][]byte
	for _, k := range keys {
		if len(k) > 0 {
			usable = append(usable, k)
		}
	}
	if len(usable) == 0 {
		return false
	}
	for _, c := range s.Strings(r, account) {
		for _, k := range usable {
			if hmac.Equal(Sign(k, c), sig) {
				return true
			}
		}
	}
	return false
}

// Strings returns every candidate string-to-sign of r for account under s,
// the documented form first, without duplicates. r is a server-side request
// (RequestURI holds the path as sent; when empty, the URL's escaped path is used).
func (s Scheme) Strings(r *http.Request, account string) []string {
	var out []string
	for _, date := range s.dates(r.Header) {
		for _, cl := range s.contentLengths(r) {
			head := head(r, cl, date)
			for _, hs := range s.headerBlocks(r.Header) {
				for _, p := range s.paths(r) {
					for _, q := range s.queries(r.URL.RawQuery) {
						out = appendUnique(out, head+hs+"/"+account+p+q)
					}
				}
			}
		}
	}
	return out
}

func (s Scheme) has(v Variant) bool { return s.Variants&v != 0 }

// head renders the verb and the eleven standard header lines.
func head(r *http.Request, contentLength, date string) string {
	h := r.Header
	var b strings.Builder
	b.WriteString(strings.ToUpper(r.Method))
	b.WriteByte('\n')
	for _, v := range []string{
		h.Get("Content-Encoding"), h.Get("Content-Language"), contentLength,
		h.Get("Content-MD5"), h.Get("Content-Type"), date,
		h.Get("If-Modified-Since"), h.Get("If-Match"), h.Get("If-None-Match"),
		h.Get("If-Unmodified-Since"), h.Get("Range"),
	} {
		b.WriteString(v)
		b.WriteByte('\n')
	}
	return b.String()
}

// dates is the Date line: the header, and empty when the service's date
// header is sent (the documented rule; some clients still sign Date).
func (s Scheme) dates(h http.Header) []string {
	d := h.Get("Date")
	if h.Get(s.Prefix+"date") == "" {
		return []string{d}
	}
	return appendUnique([]string{""}, d)
}

// contentLengths is the Content-Length line: empty for an empty body.
func (s Scheme) contentLengths(r *http.Request) []string {
	cl := r.Header.Get("Content-Length")
	if cl == "" && r.ContentLength > 0 {
		cl = strconv.FormatInt(r.ContentLength, 10)
	}
	if cl != "" && cl != "0" {
		return []string{cl}
	}
	if s.has(ZeroContentLength) {
		return []string{"", "0"}
	}
	return []string{""}
}

// headerBlocks returns the CanonicalizedHeaders candidates.
func (s Scheme) headerBlocks(h http.Header) []string {
	var out []string
	matchers := []func(string, string) bool{strings.HasPrefix}
	if s.has(HeadersContainingPrefix) {
		matchers = append(matchers, strings.Contains)
	}
	omit := []bool{false}
	if s.has(OmitEmptyHeaders) {
		omit = append(omit, true)
	}
	for _, match := range matchers {
		for _, skipEmpty := range omit {
			vals := map[string][]string{}
			var names []string
			for k, v := range h {
				n := strings.ToLower(strings.TrimSpace(k))
				if !match(n, s.Prefix) {
					continue
				}
				if _, dup := vals[n]; !dup {
					names = append(names, n)
				}
				for _, x := range v {
					vals[n] = append(vals[n], strings.TrimSpace(x))
				}
			}
			if skipEmpty {
				names = slices.DeleteFunc(names, func(n string) bool { return strings.Join(vals[n], "") == "" })
			}
			sort.Strings(names)
			out = appendUnique(out, headerBlock(names, vals))
			if s.has(CultureHeaderOrder) {
				alt := slices.Clone(names)
				sort.SliceStable(alt, func(i, j int) bool { return cultureLess(alt[i], alt[j]) })
				out = appendUnique(out, headerBlock(alt, vals))
			}
		}
	}
	return out
}

// cultureLess orders header names the way the azblob Go SDK's weight tables
// do for ASCII names: first with hyphens and apostrophes ignored, punctuation
// before digits before letters; names equal that way compare position by
// position, a hyphen after any other character.
func cultureLess(a, b string) bool {
	ka, kb := cultureKey(a), cultureKey(b)
	if c := slices.Compare(ka, kb); c != 0 {
		return c < 0
	}
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] == b[i] {
			continue
		}
		switch {
		case a[i] == '-':
			return false
		case b[i] == '-':
			return true
		}
		return a[i] < b[i]
	}
	return len(a) < len(b)
}

// cultureKey is the first-level weight sequence of name.
func cultureKey(name string) []int {
	k := make([]int, 0, len(name))
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '-' || c == '\'':
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			k = append(k, 3<<8|int(c|0x20))
		case c >= '0' && c <= '9':
			k = append(k, 2<<8|int(c))
		default:
			k = append(k, 1<<8|int(c))
		}
	}
	return k
}

func headerBlock(names []string, vals map[string][]string) string {
	var b strings.Builder
	for _, n := range names {
		b.WriteString(n)
		b.WriteByte(':')
		b.WriteString(strings.Join(vals[n], ","))
		b.WriteByte('\n')
	}
	return b.String()
}

// paths is the path part of CanonicalizedResource: as sent, as Go
// re-escapes it, and (DecodedPath) decoded.
func (s Scheme) paths(r *http.Request) []string {
	var out []string
	raw := r.RequestURI
	if i := strings.IndexByte(raw, '?'); i >= 0 {
		raw = raw[:i]
	}
	if strings.HasPrefix(raw, "/") {
		out = append(out, raw)
	}
	esc := r.URL.EscapedPath()
	if esc == "" {
		esc = "/"
	}
	out = appendUnique(out, esc)
	if s.has(DecodedPath) {
		if dec, err := url.PathUnescape(out[0]); err == nil {
			out = appendUnique(out, dec)
		}
	}
	return out
}

// queries is the query part of CanonicalizedResource.
func (s Scheme) queries(raw string) []string {
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
		if dk, err := url.QueryUnescape(k); err == nil {
			k = dk
		}
		if dv, err := url.QueryUnescape(v); err == nil {
			v = dv
		}
		pairs = append(pairs, pair{k, v})
	}

	// Documented: lowercase names, all values sorted and comma-joined.
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
		v := byLower[n]
		sort.Strings(v)
		docs.WriteString("\n" + n + ":" + strings.Join(v, ","))
	}
	out := []string{docs.String()}
	if !s.has(ClientQueryOrder) {
		return out
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
	out = appendUnique(out, node.String())
	return appendUnique(out, py.String())
}

func appendUnique(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}
