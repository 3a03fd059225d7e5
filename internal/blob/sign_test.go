package blob

import (
	"encoding/base64"
	"net/http"
	"net/url"
)

// signRequest signs req with SharedKey, the way the SDKs do (x-ms-date set, Date empty).
func signRequest(req *http.Request, account, key string) {
	k, _ := base64.StdEncoding.DecodeString(key)
	// Build a server-side view of the request to reuse the canonicalization.
	sreq := req.Clone(req.Context())
	sreq.RequestURI = req.URL.RequestURI()
	if req.ContentLength > 0 {
		sreq.Header.Set("Content-Length", itoa64(req.ContentLength))
	}
	sts := sharedKeyStrings(sreq, account)[0]
	req.Header.Set("Authorization", "SharedKey "+account+":"+base64.StdEncoding.EncodeToString(hmacSHA256(k, sts)))
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

func parseQuery(s string) (url.Values, error) { return url.ParseQuery(s) }
