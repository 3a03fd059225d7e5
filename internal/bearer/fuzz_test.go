package bearer

import (
	"bytes"
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// segments decodes the three parts of a compact JWS, accepting padded and
// unpadded base64url as a lenient parser might.
func segments(raw string) ([3][]byte, bool) {
	var out [3][]byte
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return out, false
	}
	for i, p := range parts {
		b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(p, "="))
		if err != nil {
			return out, false
		}
		out[i] = b
	}
	return out, true
}

// FuzzValidate feeds random and mutated tokens to the validator: it must never
// panic, and must accept nothing but the validly signed seed tokens.
func FuzzValidate(f *testing.F) {
	p, o := testKeys(f)
	valid := []string{
		sign(f, p, "k1", jose.RS256, v1Claims(nil)),
		sign(f, p, "k1", jose.RS256, v1Claims(func(c map[string]any) {
			delete(c, "appid")
			c["azp"], c["iss"], c["aud"] = "client-2", issV2, []string{"x", arm}
		})),
	}
	var good [][3][]byte
	for _, v := range valid {
		s, _ := segments(v)
		good = append(good, s)
		f.Add(v)
	}
	f.Add(sign(f, o, "k1", jose.RS256, v1Claims(nil)))
	f.Add(sign(f, p, "k1", jose.RS256, v1Claims(func(c map[string]any) { c["exp"] = "x"; c["aud"] = 7 })))
	f.Add(unsigned(map[string]string{"alg": "none", "kid": "k1"}, v1Claims(nil), nil))
	f.Add(unsigned(map[string]any{"alg": "RS256", "kid": []int{1}, "crit": []string{"b64"}, "b64": false}, v1Claims(nil), []byte{1, 2}))
	f.Add("eyJhbGciOiJSUzI1NiJ9..")
	f.Add("..")
	f.Add("")
	f.Add(`{"payload":"e30","signatures":[]}`)
	f.Add(valid[0][:len(valid[0])-3] + "AAA")

	ks := &keys{}
	ks.add(publicJWK(p, "k1"))
	v := New(Config{Keys: ks, TenantID: tenant, Issuers: []string{issV1, issV2}, Now: func() time.Time { return now }})
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := v.Validate(context.Background(), raw, arm)
		if err != nil {
			return
		}
		s, ok := segments(raw)
		if !ok {
			t.Fatalf("validated a token whose parts do not decode: %q", raw)
		}
		for _, g := range good {
			if bytes.Equal(s[0], g[0]) && bytes.Equal(s[1], g[1]) && bytes.Equal(s[2], g[2]) {
				if c.ObjectID == "" {
					t.Fatal("validated without an object ID")
				}
				return
			}
		}
		t.Fatalf("validated a token that was never signed: %q", raw)
	})
}
