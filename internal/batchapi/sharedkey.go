package batchapi

import (
	"encoding/base64"
	"net/http"
	"strconv"

	"github.com/cobaltbatch/cobalt/internal/sharedkey"
)

// sharedKeyHeader is a parsed "SharedKey <account>:<signature>" header.
type sharedKeyHeader = sharedkey.Header

// parseSharedKey parses the value of an Authorization header whose scheme is
// SharedKey (see sharedkey.Parse).
func parseSharedKey(v string) (sharedKeyHeader, error) { return sharedkey.Parse(v) }

// stringsToSign returns every string-to-sign a documented Batch client could
// have signed for r: the REST docs, the Python and .NET SDKs and
// @azure/batch (see sharedkey.Batch).
func stringsToSign(r *http.Request, account string) []string {
	return sharedkey.Batch.Strings(r, account)
}

// signString returns HMAC-SHA256(key, s).
func signString(key []byte, s string) []byte { return sharedkey.Sign(key, s) }

// verifySharedKey reports whether sig is a valid signature of r by one of the
// base64 account keys under any documented string-to-sign variant.
func verifySharedKey(r *http.Request, account string, keys []string, sig []byte) bool {
	var raw [][]byte
	for _, k := range keys {
		if b, err := base64.StdEncoding.DecodeString(k); err == nil && len(b) > 0 {
			raw = append(raw, b)
		}
	}
	return sharedkey.Batch.Verify(r, account, raw, sig)
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }
