package cli

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/cobaltbatch/cobalt/internal/agent"
)

// signedToken returns an RS256 JWT with the given claims, signed by key as kid.
func signedToken(t *testing.T, key *rsa.PrivateKey, kid string, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(claims)
	obj, err := s.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestVerifyToken(t *testing.T) {
	t.Parallel()
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /tenant1/v2.0/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"jwks_uri": "https://" + r.Host + "/tenant1/discovery/v2.0/keys"})
	})
	mux.HandleFunc("GET /tenant1/discovery/v2.0/keys", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	srv := httptest.NewTLSServer(mux)
	defer srv.Close()
	c := testClient(t, srv, nil)
	c.profile.AuthorityHost, c.profile.TenantID = srv.URL, "tenant1"
	ctx := context.Background()

	info, err := c.verifyToken(ctx, signedToken(t, key, "k1", map[string]any{"aud": "https://storage.azure.com", "xms_mirid": "/x"}))
	if err != nil || !info.SignatureVerified || info.Claims["xms_mirid"] != "/x" || info.Header["kid"] != "k1" {
		t.Fatalf("good token: %+v %v", info, err)
	}
	info, err = c.verifyToken(ctx, signedToken(t, other, "k1", map[string]any{"aud": "a"}))
	if e, ok := err.(*apiError); !ok || e.Code != "InvalidSignature" || info == nil || info.SignatureVerified {
		t.Fatalf("forged token: %+v %v", info, err)
	}
	if _, err := c.verifyToken(ctx, "not.a.jwt"); err == nil {
		t.Fatal("garbage accepted")
	}
}

func TestAskIMDS(t *testing.T) {
	t.Parallel()
	imds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Metadata") != "true" {
			w.WriteHeader(400)
			io.WriteString(w, `{"error":"bad_request_102","error_description":"Required metadata header not specified"}`)
			return
		}
		io.WriteString(w, `{"access_token":"x","resource":"`+r.URL.Query().Get("resource")+`"}`)
	}))
	defer imds.Close()
	c := &client{http: imds.Client(), profile: &profile{}}
	g := &globals{DataDir: t.TempDir()}
	ctx := context.Background()

	// What a node writes into its own directory is never read: there an
	// admin task could point the operator at any loopback port or at
	// another node's namespace.
	nodeDir := filepath.Join(g.DataDir, "nodes", "tvm-1")
	os.MkdirAll(nodeDir, 0o700)
	planted, _ := json.Marshal(nodeIMDSFile{URL: "http://127.0.0.1:1"})
	os.WriteFile(filepath.Join(nodeDir, "imds.json"), planted, 0o600)
	if _, _, _, err := c.askIMDS(ctx, g, "tvm-1", "", "/metadata/x"); err == nil {
		t.Fatal("the node's own imds.json was used")
	}
	// The file the agent publishes beside the node's credential.
	creds := filepath.Join(g.DataDir, "nodes", ".credentials")
	os.MkdirAll(creds, 0o700)
	b, _ := json.Marshal(nodeIMDSFile{URL: imds.URL})
	os.WriteFile(filepath.Join(creds, "tvm-1.imds"), b, 0o600)
	status, body, src, err := c.askIMDS(ctx, g, "tvm-1", "", "/metadata/identity/oauth2/token?resource=r")
	if err != nil || status != 200 || src != imds.URL || string(body) != `{"access_token":"x","resource":"r"}` {
		t.Fatalf("got %d %s %s %v", status, body, src, err)
	}
	// An unknown node, and an override that is not loopback.
	if _, _, _, err := c.askIMDS(ctx, g, "tvm-2", "", "/metadata/x"); err == nil {
		t.Fatal("unknown node found")
	}
	if _, _, _, err := c.askIMDS(ctx, g, "tvm-1", "http://"+imdsHost, "/metadata/x"); err == nil {
		t.Fatal("link-local override used from the host network")
	}
	// A namespace named in the file must be this node's.
	other, _ := json.Marshal(nodeIMDSFile{URL: "http://" + imdsHost, Namespace: "cobalt-1-00000000"})
	os.WriteFile(filepath.Join(creds, "tvm-3.imds"), other, 0o600)
	if f := findNodeIMDS([]string{g.DataDir}, "tvm-3"); f.Namespace != "" {
		t.Fatalf("another node's namespace used: %+v", f)
	}
	if agent.InNodeNamespace("cobalt-0-nope") {
		t.Fatal("InNodeNamespace of a namespace that does not exist")
	}
}

func FuzzTokenClaims(f *testing.F) {
	for _, s := range []string{"e30.eyJvaWQiOiJ4In0.sig", "a.b", "..", "x.!!!.y", "eyJhbGciOiJSUzI1NiJ9.e30.", "x.bnVsbA.y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if m, err := tokenClaims(raw); err == nil && m == nil {
			t.Fatalf("%q: no claims and no error", raw)
		}
		_, _ = tokenHeader(raw)
	})
}
