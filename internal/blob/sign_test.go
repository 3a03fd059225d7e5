package blob

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// specStringToSign is the Storage SharedKey string-to-sign of a client
// request, written from the "Authorize with Shared Key" text independently of
// the server's canonicalizer: Content-Length empty for 0, the Date line empty
// when x-ms-date is sent, x-ms-* headers lowercased and sorted with values
// comma-joined, then "/account" + the escaped path and each query parameter
// as "\nname:v1,v2" (names lowercased and sorted, values decoded and sorted).
func specStringToSign(req *http.Request, account string) string {
	h := req.Header
	cl := ""
	if req.ContentLength > 0 {
		cl = strconv.FormatInt(req.ContentLength, 10)
	}
	date := h.Get("Date")
	if h.Get("x-ms-date") != "" {
		date = ""
	}
	lines := []string{req.Method, h.Get("Content-Encoding"), h.Get("Content-Language"), cl,
		h.Get("Content-MD5"), h.Get("Content-Type"), date, h.Get("If-Modified-Since"), h.Get("If-Match"),
		h.Get("If-None-Match"), h.Get("If-Unmodified-Since"), h.Get("Range")}
	var s strings.Builder
	s.WriteString(strings.Join(lines, "\n") + "\n")
	var names []string
	for k := range h {
		if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-ms-") {
			names = append(names, lk)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		s.WriteString(n + ":" + strings.Join(h.Values(n), ",") + "\n")
	}
	s.WriteString("/" + account + req.URL.EscapedPath())
	q := map[string][]string{}
	for k, v := range req.URL.Query() {
		q[strings.ToLower(k)] = append(q[strings.ToLower(k)], v...)
	}
	var qn []string
	for k := range q {
		qn = append(qn, k)
	}
	sort.Strings(qn)
	for _, n := range qn {
		v := q[n]
		sort.Strings(v)
		s.WriteString("\n" + n + ":" + strings.Join(v, ","))
	}
	return s.String()
}

// signString returns base64(HMAC-SHA256(base64decode(key), s)).
func signString(key, s string) string {
	k, _ := base64.StdEncoding.DecodeString(key)
	m := hmac.New(sha256.New, k)
	m.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// signRequest signs req with SharedKey as the spec describes.
func signRequest(req *http.Request, account, key string) {
	req.Header.Set("Authorization", "SharedKey "+account+":"+signString(key, specStringToSign(req, account)))
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

func parseQuery(s string) (url.Values, error) { return url.ParseQuery(s) }
