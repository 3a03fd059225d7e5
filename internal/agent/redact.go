package agent

import (
	"net/url"
	"strings"
)

// redactSAS removes the SAS of rawURL from msg: node errors are readable by
// whoever may read the pool.
func redactSAS(msg, rawURL string) string {
	_, query, ok := strings.Cut(rawURL, "?")
	if !ok || query == "" {
		return msg
	}
	msg = strings.ReplaceAll(msg, query, "REDACTED")
	if u, err := url.Parse(rawURL); err == nil {
		if sig := u.Query().Get("sig"); sig != "" {
			msg = strings.ReplaceAll(msg, sig, "REDACTED")
			msg = strings.ReplaceAll(msg, url.QueryEscape(sig), "REDACTED")
		}
	}
	return msg
}
