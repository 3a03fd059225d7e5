package blob

import (
	"crypto/hmac"
	"crypto/sha256"
	"net/http"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/sharedkey"
)

// maxClockSkew is how far a SharedKey request's x-ms-date/Date may be from
// the server's clock, as on Azure Storage.
const maxClockSkew = 15 * time.Minute

// parseSharedKey parses "SharedKey account:base64signature".
func parseSharedKey(v string) (account string, sig []byte, err error) {
	h, err := sharedkey.Parse(v)
	if err != nil {
		return "", nil, badAuthHeader()
	}
	return h.Account, h.Signature, nil
}

func badAuthHeader() error {
	return apiErr(cobalt.EInvalid, codeInvalidAuthInfo, "Authentication information is not given in the correct format. Check the value of Authorization header.")
}

// checkRequestDate requires the x-ms-date (or Date) of a SharedKey request to
// be an HTTP date within maxClockSkew of now, as Azure Storage does.
func checkRequestDate(h http.Header, now time.Time) error {
	v := sharedkey.Storage.RequestDate(h)
	if v == "" {
		return authFailed("Request date header not specified")
	}
	t, err := cobalt.ParseHTTPDate(v)
	if err != nil {
		return authFailed("The Date header in the request is incorrect.")
	}
	switch {
	case now.Sub(t) > maxClockSkew:
		return authFailed("Request date header too old: '" + v + "'")
	case t.Sub(now) > maxClockSkew:
		return authFailed("Request date header too far in the future: '" + v + "'")
	}
	return nil
}

// verifySharedKey checks the signature against both account keys.
func verifySharedKey(r *http.Request, account string, keys [][]byte, sig []byte) bool {
	return sharedkey.Storage.Verify(r, account, keys, sig)
}

func hmacSHA256(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}
