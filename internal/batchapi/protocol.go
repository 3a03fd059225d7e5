package batchapi

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	cobalt "github.com/cobaltbatch/cobalt"
)

// reqCtx is one request being served.
type reqCtx struct {
	s         *Service
	w         http.ResponseWriter
	r         *http.Request
	account   Account
	requestID string
	// query holds the query parameters by lower-case name.
	query      map[string][]string
	apiVersion string
	caller     cobalt.Caller
}

// baseURL is the account endpoint URL as the client addressed it.
func (rc *reqCtx) baseURL() string {
	host := rc.r.Host
	if host == "" {
		host = rc.account.Endpoint
	}
	return "https://" + host
}

// entityURL is the absolute URL of an entity path ("/jobs/j1").
func (rc *reqCtx) entityURL(path string) string { return rc.baseURL() + path }

// param returns the first value of a query parameter, matched case-insensitively.
func (rc *reqCtx) param(name string) (string, bool) {
	v, ok := rc.query[lowerASCII(name)]
	if !ok || len(v) == 0 {
		return "", ok
	}
	return v[0], true
}

// parseQuery reads the query string with case-insensitive names.
func parseQuery(raw string) (map[string][]string, error) {
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return nil, invalidQuery("", raw, "The query string is not correctly encoded.")
	}
	out := make(map[string][]string, len(vals))
	for k, v := range vals {
		lk := lowerASCII(k)
		out[lk] = append(out[lk], v...)
	}
	return out, nil
}

var apiVersionRe = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}\.\d+\.\d+$`)

// checkAPIVersion validates the api-version parameter.
func checkAPIVersion(q map[string][]string) (string, error) {
	v, ok := q["api-version"]
	if !ok || len(v) == 0 || v[0] == "" {
		return "", batchError(cobalt.EInvalid, codeMissingQuery,
			"A query parameter that's mandatory for this request is not specified.",
			"QueryParameterName", "api-version")
	}
	ver := v[0]
	if !apiVersionRe.MatchString(ver) {
		return "", invalidQuery("api-version", ver, "The api-version is not in the form YYYY-MM-DD.MAJOR.MINOR.")
	}
	if !slices.Contains(SupportedAPIVersions, ver) {
		return "", batchError(cobalt.EInvalid, codeUnsupportedVersion,
			"The specified api-version is not supported by the service. Supported versions: "+
				strings.Join(SupportedAPIVersions, ", ")+".",
			"QueryParameterName", "api-version", "QueryParameterValue", ver)
	}
	return ver, nil
}

// timeout returns the request's server timeout: timeOut/timeout seconds,
// default 30, values above 30 are 30.
func (rc *reqCtx) timeout() (time.Duration, error) {
	v, ok := rc.param("timeout")
	if !ok || v == "" {
		return 30 * time.Second, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, invalidQuery("timeout", v, "The timeout must be a positive number of seconds.")
	}
	if n > 30 {
		n = 30
	}
	return time.Duration(n) * time.Second, nil
}

// boolParam reads an optional boolean query parameter.
func (rc *reqCtx) boolParam(name string) (bool, error) {
	v, ok := rc.param(name)
	if !ok || v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, invalidQuery(name, v, "The value must be true or false.")
	}
	return b, nil
}

// maxResults reads maxresults: default 1000, range 1..1000.
func (rc *reqCtx) maxResults() (int, error) {
	v, ok := rc.param("maxresults")
	if !ok || v == "" {
		return 1000, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1000 {
		return 0, invalidQuery("maxresults", v, "The value must be between 1 and 1000.")
	}
	return n, nil
}

// parseHTTPDate parses a date header: the HTTP formats, and RFC1123 with any
// zone name, because azbatch formats its conditional and ocp-date headers
// with time.RFC1123 in the time's own zone ("... UTC").
func parseHTTPDate(v string) (time.Time, error) { return cobalt.ParseHTTPDate(v) }

// etagMatches compares an If-Match/If-None-Match header with an ETag,
// ignoring quotes and the weak prefix (Batch ETags are sent unquoted).
func etagMatches(header, etag string) bool {
	norm := func(s string) string { return strings.Trim(strings.TrimPrefix(strings.TrimSpace(s), "W/"), `"`) }
	for _, part := range strings.Split(header, ",") {
		if p := strings.TrimSpace(part); p == "*" || norm(p) == norm(etag) {
			return true
		}
	}
	return false
}

// checkConditions evaluates If-Match, If-None-Match, If-Modified-Since and
// If-Unmodified-Since against an entity. A failed condition on a read is 304
// (If-None-Match / If-Modified-Since) or 412; on a write always 412.
func (rc *reqCtx) checkConditions(etag string, lastModified time.Time, read bool) error {
	h := rc.r.Header
	failed := func() error {
		return batchError(cobalt.EPreconditionFailed, codeConditionNotMet,
			"The condition specified using HTTP conditional header(s) is not met.")
	}
	if v := h.Get("If-Match"); v != "" && !etagMatches(v, etag) {
		return failed()
	}
	if v := h.Get("If-Unmodified-Since"); v != "" {
		t, err := parseHTTPDate(v)
		if err != nil {
			return batchError(cobalt.EInvalid, codeInvalidHeader, "The value for one of the HTTP headers is not in the correct format.", "HeaderName", "If-Unmodified-Since", "HeaderValue", truncate(v, 100))
		}
		if lastModified.Truncate(time.Second).After(t) {
			return failed()
		}
	}
	if v := h.Get("If-None-Match"); v != "" && etagMatches(v, etag) {
		if read {
			return errNotModified
		}
		return failed()
	}
	if v := h.Get("If-Modified-Since"); v != "" {
		t, err := parseHTTPDate(v)
		if err != nil {
			return batchError(cobalt.EInvalid, codeInvalidHeader, "The value for one of the HTTP headers is not in the correct format.", "HeaderName", "If-Modified-Since", "HeaderValue", truncate(v, 100))
		}
		if !lastModified.Truncate(time.Second).After(t) {
			if read {
				return errNotModified
			}
			return failed()
		}
	}
	return nil
}

// withTimeout applies the request's timeOut parameter to ctx.
func (rc *reqCtx) withTimeout(ctx context.Context) (context.Context, context.CancelFunc, error) {
	d, err := rc.timeout()
	if err != nil {
		return ctx, func() {}, err
	}
	c, cancel := context.WithTimeout(ctx, d)
	return c, cancel, nil
}
