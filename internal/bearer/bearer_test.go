package bearer

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/cobaltbatch/cobalt"
)

const (
	tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	issV1  = "https://127.0.0.1:8443/" + tenant + "/"
	issV2  = "https://127.0.0.1:8443/" + tenant + "/v2.0"
	arm    = "https://management.azure.com/"
)

var now = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

// keys is a KeySource over a mutable key set that counts fetches.
type keys struct {
	mu      sync.Mutex
	set     jose.JSONWebKeySet
	fetches int
	err     error
}

func (k *keys) KeySet(context.Context) (jose.JSONWebKeySet, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.fetches++
	return k.set, k.err
}

func (k *keys) add(j jose.JSONWebKey) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.set.Keys = append(k.set.Keys, j)
}

var (
	keyOnce sync.Once
	priv    *rsa.PrivateKey
	other   *rsa.PrivateKey
)

func testKeys(t testing.TB) (*rsa.PrivateKey, *rsa.PrivateKey) {
	keyOnce.Do(func() {
		var err error
		if priv, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if other, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return priv, other
}

func publicJWK(k *rsa.PrivateKey, kid string) jose.JSONWebKey {
	return jose.JSONWebKey{Key: &k.PublicKey, KeyID: kid, Algorithm: "RS256", Use: "sig"}
}

// sign returns a compact JWS of claims, signed by k with the given kid and alg.
func sign(t testing.TB, k any, kid string, alg jose.SignatureAlgorithm, claims any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: k, KeyID: kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func v1Claims(mut func(map[string]any)) map[string]any {
	c := map[string]any{
		"aud": arm, "iss": issV1, "iat": now.Add(-5 * time.Minute).Unix(), "nbf": now.Add(-5 * time.Minute).Unix(),
		"exp": now.Add(time.Hour).Unix(), "appid": "client-1", "appidacr": "1", "idp": issV1, "idtyp": "app",
		"oid": "object-1", "sub": "object-1", "tid": tenant, "ver": "1.0", "uti": "u", "rh": "r", "aio": "a",
	}
	if mut != nil {
		mut(c)
	}
	return c
}

func newValidator(t testing.TB) (*Validator, *keys) {
	p, _ := testKeys(t)
	ks := &keys{}
	ks.add(publicJWK(p, "k1"))
	return New(Config{Keys: ks, TenantID: tenant, Issuers: []string{issV1, issV2}, Now: func() time.Time { return now }}), ks
}

// unsigned builds a token with an arbitrary header and signature.
func unsigned(header, claims any, sig []byte) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding
	return enc.EncodeToString(h) + "." + enc.EncodeToString(c) + "." + enc.EncodeToString(sig)
}

func TestValidate(t *testing.T) {
	t.Parallel()
	p, o := testKeys(t)
	hsKey := p.PublicKey.N.Bytes() // the classic RS256/HS256 confusion: the public key as an HMAC secret
	hsInput := func() string {
		h, _ := json.Marshal(map[string]string{"alg": "HS256", "kid": "k1", "typ": "JWT"})
		c, _ := json.Marshal(v1Claims(nil))
		in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
		m := hmac.New(sha256.New, hsKey)
		m.Write([]byte(in))
		return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}()
	valid := sign(t, p, "k1", jose.RS256, v1Claims(nil))
	parts := strings.Split(valid, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"aud":"https://management.azure.com/","iss":"`+issV1+`","exp":9999999999,"oid":"attacker","tid":"`+tenant+`"}`)) + "." + parts[2]

	cases := []struct {
		name      string
		raw       string
		audiences []string
		msg       string // "" means valid
		reason    string
		caller    cobalt.Caller
	}{
		{"v1", valid, []string{arm}, "", "", cobalt.Caller{ObjectID: "object-1", ClientID: "client-1", TenantID: tenant}},
		{"audience without slash accepts aud with slash", valid, []string{"https://management.azure.com"}, "", "", cobalt.Caller{ObjectID: "object-1", ClientID: "client-1", TenantID: tenant}},
		{"aud without slash", sign(t, p, "k1", jose.RS256, v1Claims(func(c map[string]any) { c["aud"] = "https://management.azure.com" })), []string{arm}, "", "", cobalt.Caller{ObjectID: "object-1", ClientID: "client-1", TenantID: tenant}},
		{"aud array", sign(t, p, "k1", jose.RS256, v1Claims(func(c map[string]any) { c["aud"] = []string{"x", arm} })), []string{arm}, "", "", cobalt.Caller{ObjectID: "object-1", ClientID: "client-1", TenantID: tenant}},
		{"one of several audiences", valid, []string{"https://storage.azure.com/", arm}, "", "", cobalt.Caller{ObjectID: "object-1", ClientID: "client-1", TenantID: tenant}},
		{"v2 azp", sign(t, p, "k1", jose.RS256, v1Claims(func(c map[string]any) {
			delete(c, "appid")
			c["azp"], c["iss"], c["ver"], c["aud"] = "client-2", issV2, "2.0", "api://x"
		})), []string{"api://x"}, "", "", cobalt.Caller{ObjectID: "object-1", ClientID: "client-2", TenantID: tenant}},
		{"managed identity", sign(t, p, "k1", jose.RS256, v1Claims(func(c map[string]any) { c["xms_mirid"] = "/subscriptions/s/mi" })), []string{arm}, "", "",
			cobalt.Caller{ObjectID: "object-1", ClientID: "client-1", TenantID: tenant, ManagedIdentityID: "/subscriptions/s/mi"}},
		{"expired within leeway", sign(t, p, "k1", jose.RS256, v1Claims(func(c map[string]any) { c["exp"] = now.Add(-DefaultLeeway + time.Second).Unix() })), []string{arm}, "", "", cobalt.Caller{ObjectID: "object-1", ClientID: "client-1", TenantID: tenant}},
		{"nbf within leeway", sign(t, p, "k1", jose.RS256, v1Claims(func(c map[string]any) { c["nbf"] = now.Add(DefaultLeeway - time.Second).Unix() })), []string{arm}, "", "", cobalt.Caller{ObjectID: "object-1", ClientID: "client-1", TenantID: tenant}},

		{"expired", sign(t, p, "k1", jose.RS256, v1Claims(func(c map[string]any) { c["exp"] = now.Add(-DefaultLeeway - time.Second).Unix() })), []string{arm}, MsgExpired, "ExpiredAuthenticationToken", cobalt.Caller{}},
		{"no exp", sign(t, p, "k1", jose.RS256, v1Claims(func(c map[string]any) { delete(c, "exp") })), []string{arm}, MsgExpired, "ExpiredAuthenticationToken", cobalt.Caller{}},
		{"exp is a string", sign(t, p, "k1", jose.RS256, v1Claims(func(c map[string]any) { c["exp"] = "9999999999" })), []string{arm}, MsgMalformed, "", cobalt.Caller{}},
		{"not yet valid", sign(t, p, "k1", jose.RS256, v1Claims(func(c map[string]any) { c["nbf"] = now.Add(DefaultLeeway + time.Second).Unix() })), []string{arm}, MsgNotYet, "", cobalt.Caller{}},
		{"wrong issuer", sign(t, p, "k1", jose.RS256, v1Claims(func(c map[string]any) { c["iss"] = "https://sts.windows.net/" + tenant + "/" })), []string{arm}, MsgIssuer, "", cobalt.Caller{}},
		{"issuer without trailing slash", sign(t, p, "k1", jose.RS256, v1Claims(func(c map[string]any) { c["iss"] = strings.TrimSuffix(issV1, "/") })), []string{arm}, MsgIssuer, "", cobalt.Caller{}},
		{"other audience", valid, []string{"https://storage.azure.com/"}, MsgAudience, "InvalidAuthenticationTokenAudience", cobalt.Caller{}},
		{"no audience accepted", valid, nil, MsgAudience, "InvalidAuthenticationTokenAudience", cobalt.Caller{}},
		{"empty aud", sign(t, p, "k1", jose.RS256, v1Claims(func(c map[string]any) { c["aud"] = "" })), []string{""}, MsgAudience, "InvalidAuthenticationTokenAudience", cobalt.Caller{}},
		{"audience prefix", sign(t, p, "k1", jose.RS256, v1Claims(func(c map[string]any) { c["aud"] = "https://management.azure.com.evil/" })), []string{arm}, MsgAudience, "InvalidAuthenticationTokenAudience", cobalt.Caller{}},
		{"other tenant", sign(t, p, "k1", jose.RS256, v1Claims(func(c map[string]any) { c["tid"] = "other" })), []string{arm}, MsgTenant, "InvalidAuthenticationTokenTenant", cobalt.Caller{}},
		{"no tenant", sign(t, p, "k1", jose.RS256, v1Claims(func(c map[string]any) { delete(c, "tid") })), []string{arm}, MsgTenant, "InvalidAuthenticationTokenTenant", cobalt.Caller{}},
		{"no oid", sign(t, p, "k1", jose.RS256, v1Claims(func(c map[string]any) { delete(c, "oid") })), []string{arm}, MsgMalformed, "", cobalt.Caller{}},
		{"unknown key", sign(t, o, "k9", jose.RS256, v1Claims(nil)), []string{arm}, MsgSignature, "", cobalt.Caller{}},
		{"known kid, other key", sign(t, o, "k1", jose.RS256, v1Claims(nil)), []string{arm}, MsgSignature, "", cobalt.Caller{}},
		{"no kid", sign(t, p, "", jose.RS256, v1Claims(nil)), []string{arm}, MsgSignature, "", cobalt.Caller{}},
		{"RS512", sign(t, p, "k1", jose.RS512, v1Claims(nil)), []string{arm}, MsgSignature, "", cobalt.Caller{}},
		{"PS256", sign(t, p, "k1", jose.PS256, v1Claims(nil)), []string{arm}, MsgSignature, "", cobalt.Caller{}},
		{"HS256 with the public key", hsInput, []string{arm}, MsgSignature, "", cobalt.Caller{}},
		{"alg none", unsigned(map[string]string{"alg": "none", "kid": "k1"}, v1Claims(nil), nil), []string{arm}, MsgSignature, "", cobalt.Caller{}},
		{"alg none, no signature part", strings.TrimSuffix(unsigned(map[string]string{"alg": "none"}, v1Claims(nil), nil), "."), []string{arm}, MsgMalformed, "", cobalt.Caller{}},
		{"tampered payload", tampered, []string{arm}, MsgSignature, "", cobalt.Caller{}},
		{"signature removed", parts[0] + "." + parts[1] + ".", []string{arm}, MsgSignature, "", cobalt.Caller{}},
		{"empty", "", []string{arm}, MsgMalformed, "", cobalt.Caller{}},
		{"garbage", "not a token", []string{arm}, MsgMalformed, "", cobalt.Caller{}},
		{"four parts", valid + ".x", []string{arm}, MsgMalformed, "", cobalt.Caller{}},
		{"JSON serialization", `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`, []string{arm}, MsgMalformed, "", cobalt.Caller{}},
		{"payload not JSON", unsigned(map[string]string{"alg": "RS256", "kid": "k1"}, "x", []byte("sig")), []string{arm}, MsgSignature, "", cobalt.Caller{}},
		{"huge", strings.Repeat("a", maxTokenBytes) + ".b.c", []string{arm}, MsgMalformed, "", cobalt.Caller{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			v, _ := newValidator(t)
			got, err := v.Validate(context.Background(), c.raw, c.audiences...)
			if c.msg == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if got != c.caller {
					t.Fatalf("caller %+v, want %+v", got, c.caller)
				}
				return
			}
			var ce *cobalt.Error
			if !errors.As(err, &ce) || ce.Code != cobalt.EUnauthorized || ce.Message != c.msg {
				t.Fatalf("Validate: %v (%#v), want EUnauthorized %q", err, err, c.msg)
			}
			if c.reason != "" && ce.Reason != c.reason {
				t.Errorf("reason %q, want %q", ce.Reason, c.reason)
			}
			if got != (cobalt.Caller{}) {
				t.Errorf("a failed validation returned caller %+v", got)
			}
		})
	}
}

func TestValidatePayloadNotJSON(t *testing.T) {
	t.Parallel()
	p, _ := testKeys(t)
	v, _ := newValidator(t)
	s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: p, KeyID: "k1"}}, nil)
	jws, _ := s.Sign([]byte("not json"))
	raw, _ := jws.CompactSerialize()
	if _, err := v.Validate(context.Background(), raw, arm); cobalt.ErrorMessage(err) != MsgMalformed {
		t.Fatalf("Validate: %v, want %q", err, MsgMalformed)
	}
}

func TestIssuersAndTenantConfig(t *testing.T) {
	t.Parallel()
	p, _ := testKeys(t)
	ks := &keys{}
	ks.add(publicJWK(p, "k1"))
	raw := sign(t, p, "k1", jose.RS256, v1Claims(nil))
	// No issuers configured: nothing is accepted.
	v := New(Config{Keys: ks, TenantID: tenant, Now: func() time.Time { return now }})
	if _, err := v.Validate(context.Background(), raw, arm); cobalt.ErrorMessage(err) != MsgIssuer {
		t.Errorf("no issuers: %v", err)
	}
	// An issuer outside the list is asked about, and accepted only when known
	// (another replica's authority), never when unknown.
	asked := ""
	v = New(Config{Keys: ks, TenantID: tenant, Now: func() time.Time { return now },
		IssuerKnown: func(_ context.Context, iss string) bool { asked = iss; return iss == "https://other/" }})
	if _, err := v.Validate(context.Background(), raw, arm); cobalt.ErrorMessage(err) != MsgIssuer || asked != issV1 {
		t.Errorf("unknown issuer: %v (asked about %q)", err, asked)
	}
	v = New(Config{Keys: ks, TenantID: tenant, Now: func() time.Time { return now },
		IssuerKnown: func(_ context.Context, iss string) bool { return iss == issV1 }})
	if _, err := v.Validate(context.Background(), raw, arm); err != nil {
		t.Errorf("known issuer: %v", err)
	}
	// No tenant configured: any tenant is accepted.
	v = New(Config{Keys: ks, Issuers: []string{issV1}, Now: func() time.Time { return now }})
	if _, err := v.Validate(context.Background(), raw, arm); err != nil {
		t.Errorf("no tenant: %v", err)
	}
	// Negative leeway: none.
	late := sign(t, p, "k1", jose.RS256, v1Claims(func(c map[string]any) { c["exp"] = now.Add(-time.Second).Unix() }))
	v = New(Config{Keys: ks, Issuers: []string{issV1}, Now: func() time.Time { return now }, Leeway: -1})
	if _, err := v.Validate(context.Background(), late, arm); cobalt.ErrorMessage(err) != MsgExpired {
		t.Errorf("no leeway: %v", err)
	}
	// A key meant for encryption does not verify signatures.
	enc := &keys{}
	j := publicJWK(p, "k1")
	j.Use = "enc"
	enc.add(j)
	v = New(Config{Keys: enc, Issuers: []string{issV1}, Now: func() time.Time { return now }})
	if _, err := v.Validate(context.Background(), raw, arm); cobalt.ErrorMessage(err) != MsgSignature {
		t.Errorf("enc key: %v", err)
	}
}

func TestKeyRefresh(t *testing.T) {
	t.Parallel()
	_, o := testKeys(t)
	v, ks := newValidator(t)
	ctx := context.Background()
	valid := sign(t, priv, "k1", jose.RS256, v1Claims(nil))
	for i := 0; i < 5; i++ {
		if _, err := v.Validate(ctx, valid, arm); err != nil {
			t.Fatal(err)
		}
	}
	if ks.fetches != 1 {
		t.Fatalf("%d fetches for 5 tokens with a known key, want 1 (cached)", ks.fetches)
	}
	// A key published after the first fetch is found by a refresh.
	ks.add(publicJWK(o, "k2"))
	if _, err := v.Validate(ctx, sign(t, o, "k2", jose.RS256, v1Claims(nil)), arm); err != nil {
		t.Fatalf("a newly published key: %v", err)
	}
	// Unknown kids cannot make the validator fetch without limit.
	before := ks.fetches
	for i := 0; i < 50; i++ {
		raw := sign(t, o, "unknown-"+string(rune('a'+i%26)), jose.RS256, v1Claims(nil))
		if _, err := v.Validate(ctx, raw, arm); cobalt.ErrorMessage(err) != MsgSignature {
			t.Fatalf("unknown kid: %v", err)
		}
	}
	if n := ks.fetches - before; n > unknownKIDBurst {
		t.Fatalf("%d fetches for 50 unknown kids, want at most %d", n, unknownKIDBurst)
	}
}

func TestKeySourceError(t *testing.T) {
	t.Parallel()
	ks := &keys{err: errors.New("store down")}
	v := New(Config{Keys: ks, Issuers: []string{issV1}})
	p, _ := testKeys(t)
	_, err := v.Validate(context.Background(), sign(t, p, "k1", jose.RS256, v1Claims(nil)), arm)
	if !cobalt.IsCode(err, cobalt.EInternal) || strings.Contains(err.Error(), "store down") {
		t.Fatalf("Validate with a failing key source: %v, want an EInternal that hides the cause", err)
	}
}

func TestFromHeader(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		values  []string
		token   string
		present bool
		err     bool
	}{
		{"absent", nil, "", false, false},
		{"bearer", []string{"Bearer abc.def.ghi"}, "abc.def.ghi", true, false},
		{"lowercase scheme", []string{"bearer abc"}, "abc", true, false},
		{"extra spaces", []string{"  Bearer   abc  "}, "abc", true, false},
		{"basic", []string{"Basic dXNlcjpwYXNz"}, "", true, true},
		{"SharedKey", []string{"SharedKey acct:sig"}, "", true, true},
		{"no token", []string{"Bearer"}, "", true, true},
		{"blank token", []string{"Bearer   "}, "", true, true},
		{"two tokens", []string{"Bearer a b"}, "", true, true},
		{"empty header", []string{""}, "", true, true},
		{"two headers", []string{"Bearer a", "Bearer b"}, "", true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			for _, v := range c.values {
				r.Header.Add("Authorization", v)
			}
			tok, present, err := FromHeader(r)
			if tok != c.token || present != c.present || (err != nil) != c.err {
				t.Fatalf("FromHeader = %q, %v, %v; want %q, %v, error %v", tok, present, err, c.token, c.present, c.err)
			}
			if err != nil && !cobalt.IsCode(err, cobalt.EUnauthorized) {
				t.Fatalf("error %v is not EUnauthorized", err)
			}
		})
	}
}
