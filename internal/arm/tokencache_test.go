package arm

import (
	"context"
	"encoding/base64"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
)

// countingValidator accepts JWT-shaped tokens whose payload names an oid,
// counting its calls.
type countingValidator struct{ calls atomic.Int32 }

func (v *countingValidator) Validate(_ context.Context, raw string, _ ...string) (cobalt.Caller, error) {
	v.calls.Add(1)
	parts := strings.Split(raw, ".")
	if len(parts) != 3 || parts[2] != "sig" {
		return cobalt.Caller{}, cobalt.Errorf(cobalt.EUnauthorized, "Signature validation failed.")
	}
	return cobalt.Caller{ObjectID: adminOID, TenantID: testTenant}, nil
}

func jwtWithExp(exp time.Time) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256"}`)) + "." + enc([]byte(`{"exp":`+strconv.FormatInt(exp.Unix(), 10)+`}`)) + ".sig"
}

func TestTokenCache(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	v := &countingValidator{}
	f.srv.cfg.Validator = v
	now := time.Now()
	f.srv.cfg.Now = func() time.Time { return now }
	get := func(tok string) int {
		return f.do("", "GET", subPath+rgV, nil, "Authorization", "Bearer "+tok).Code
	}
	tok := jwtWithExp(now.Add(time.Hour))
	for range 3 {
		if c := get(tok); c != 200 {
			t.Fatalf("status %d", c)
		}
	}
	if n := v.calls.Load(); n != 1 {
		t.Fatalf("%d validations for one token, want 1", n)
	}
	// After tokenCacheFor the token is validated again.
	now = now.Add(tokenCacheFor + time.Second)
	get(tok)
	if n := v.calls.Load(); n != 2 {
		t.Fatalf("%d validations after the cache period, want 2", n)
	}
	// A token about to expire is cached only until its exp.
	short := jwtWithExp(now.Add(2 * time.Second))
	get(short)
	now = now.Add(3 * time.Second)
	get(short)
	if n := v.calls.Load(); n != 4 {
		t.Fatalf("%d validations, want 4: an expired token was served from the cache", n)
	}
	// Failures are never cached.
	bad := strings.TrimSuffix(jwtWithExp(now.Add(time.Hour)), "sig") + "bad"
	for range 2 {
		if c := get(bad); c != 401 {
			t.Fatalf("bad token: %d", c)
		}
	}
	if n := v.calls.Load(); n != 6 {
		t.Fatalf("%d validations, want 6", n)
	}
}

func TestNewGUIDFormat(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 100 {
		g := newGUID()
		if !re.MatchString(g) || seen[g] {
			t.Fatalf("newGUID() = %q (seen before: %v)", g, seen[g])
		}
		seen[g] = true
	}
}

func TestBodyLength(t *testing.T) {
	for _, c := range []struct {
		headers string
		n       int64
		opaque  bool
	}{
		{"Host: h\r\n\r\n", 0, false},
		{"Host: h\r\ncontent-LENGTH:  17 \r\n\r\n", 17, false},
		{"Content-Length: 5\nX: y\n\n", 5, false},
		{"Content-Length: -1\r\n\r\n", 0, true},
		{"Content-Length: x\r\n\r\n", 0, true},
		{"Transfer-Encoding: chunked\r\n\r\n", 0, true},
		{"UPGRADE: websocket\r\n\r\n", 0, true},
		{"Content-Lengthx: 5\r\n\r\n", 0, false},
		{"Content-Length: 3\r\nContent-Length: 9\r\n\r\n", 9, false},
		{"Tran\u017ffer-Encoding: chunked\r\n\r\n", 0, false}, // no Unicode folding, as net/http
	} {
		n, opaque := bodyLength([]byte(c.headers))
		if n != c.n || opaque != c.opaque {
			t.Errorf("bodyLength(%q) = %d, %v; want %d, %v", c.headers, n, opaque, c.n, c.opaque)
		}
	}
}
