// Package sharedkey verifies Azure SharedKey request signatures, the scheme
// shared by Azure Storage (headers prefixed "x-ms-") and the Azure Batch data
// plane (headers prefixed "ocp-").
//
// A SharedKey request carries "Authorization: SharedKey <account>:<sig>",
// where sig is base64(HMAC-SHA256(key, StringToSign)) and StringToSign is:
//
//	VERB\n
//	Content-Encoding\n Content-Language\n Content-Length\n Content-MD5\n
//	Content-Type\n Date\n If-Modified-Since\n If-Match\n If-None-Match\n
//	If-Unmodified-Since\n Range\n
//	CanonicalizedHeaders   (each prefixed header "name:value\n", names lowercased and sorted)
//	CanonicalizedResource  ("/" + account + escaped path, then "\nname:v1,v2" per query
//	                        parameter, names lowercased and sorted, values decoded and sorted)
//
// Content-Length is empty for an empty body, and the Date line is empty when
// the service's own date header (x-ms-date, ocp-date) is sent.
//
// Real clients deviate from that text in a few documented ways. A [Scheme]
// names the header prefix and the deviations a service accepts; [Scheme.Strings]
// returns every candidate string-to-sign of a request and [Scheme.Verify]
// accepts a signature that matches any of them under any of the keys. The
// package does no I/O and holds no state: a Scheme is a plain value, safe for
// concurrent use.
//
// Freshness (the request date within 15 minutes of the server's clock) is the
// caller's check, since each service answers it in its own error format;
// [RequestDate] finds the date a request was signed with.
package sharedkey
