package registry

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt"
)

// TestTokenPayloadStdBase64 checks the Azure Go SDK quirk: the payload of
// every token decodes with base64.StdEncoding (after padding), whatever
// characters its claims hold.
func TestTokenPayloadStdBase64(t *testing.T) {
	s := &Service{cfg: Config{SealKey: crashSeal}, now: time.Now}
	reg := cobalt.Registry{ID: registryID("quirk"), Name: "quirk"}
	subjects := []string{"plain", "a?b~c>d<e&f\x7f", strings.Repeat("?", 50), strings.Repeat("~>", 33), "ü€😀"}
	for i := 0; i < 300; i++ {
		subjects = append(subjects, strings.Repeat("?~>x", i%7)+string(rune('a'+i%26))+strings.Repeat("~", i%5))
	}
	for _, sub := range subjects {
		c := s.newClaims("127.0.0.1:5000", sub, refreshTTL)
		c.GrantType = "refresh_token"
		tok, err := s.sign(kindRefresh, reg, c)
		if err != nil {
			t.Fatal(err)
		}
		p := strings.Split(tok, ".")[1]
		if strings.ContainsAny(p, "-_") {
			t.Fatalf("payload of %q has base64url-only characters: %s", sub, p)
		}
		for len(p)%4 != 0 {
			p += "="
		}
		raw, err := base64.StdEncoding.DecodeString(p)
		var got tokenClaims
		if err != nil || json.Unmarshal(raw, &got) != nil || got.Sub != sub || got.EXP == 0 {
			t.Fatalf("std base64 payload of %q: %v %+v", sub, err, got)
		}
		if v, err := s.verify(kindRefresh, reg, "127.0.0.1:5000", tok); err != nil || v.Sub != sub {
			t.Fatalf("verify %q: %v", sub, err)
		}
	}
}

// TestTokenKeys: replicas sharing the seal key accept each other's tokens;
// another seal key, another registry or the other kind of token is refused.
func TestTokenKeys(t *testing.T) {
	a := &Service{cfg: Config{SealKey: crashSeal}, now: time.Now}
	b := &Service{cfg: Config{SealKey: append([]byte{}, crashSeal...)}, now: time.Now}
	other := &Service{cfg: Config{SealKey: []byte("another seal key of at least 32 bytes...")}, now: time.Now}
	reg := cobalt.Registry{ID: registryID("keys"), Name: "keys"}
	c := a.newClaims("h:1", "sub", accessTTL)
	tok, err := a.sign(kindAccess, reg, c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.verify(kindAccess, reg, "h:1", tok); err != nil {
		t.Fatalf("replica: %v", err)
	}
	if _, err := other.verify(kindAccess, reg, "h:1", tok); err == nil {
		t.Fatal("another seal key accepted the token")
	}
	if _, err := b.verify(kindAccess, cobalt.Registry{ID: registryID("keys2"), Name: "keys2"}, "h:1", tok); err == nil {
		t.Fatal("another registry accepted the token")
	}
	if _, err := b.verify(kindRefresh, reg, "h:1", tok); err == nil {
		t.Fatal("an access token was accepted as a refresh token")
	}
	if _, err := b.verify(kindAccess, reg, "h:2", tok); err == nil {
		t.Fatal("another audience accepted the token")
	}
}
