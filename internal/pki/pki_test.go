package pki

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

func TestServerCertificateVerifiesForLoopbackNames(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	leaf := ca.server.Leaf
	for _, name := range []string{"127.0.0.1", "::1", "localhost"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: ca.CertPool()}); err != nil {
			t.Errorf("verify for %s: %v", name, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "example.com", Roots: ca.CertPool()}); err == nil {
		t.Error("certificate verified for a name outside its SANs")
	}
}

func TestReloadKeepsCAAndServerCertificate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !a.cert.Equal(b.cert) || !a.server.Leaf.Equal(b.server.Leaf) {
		t.Fatal("a reload created new certificates")
	}
	st, err := os.Stat(filepath.Join(dir, CAKeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("CA key mode = %v, want 0600", st.Mode().Perm())
	}
}

func TestHTTPSWithTheCA(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	srv.TLS = ca.ServerTLSConfig()
	srv.StartTLS()
	defer srv.Close()
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: ca.ClientTLSConfig()}}
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// A client that trusts only the system roots must refuse the server.
	bare := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: x509.NewCertPool()}}}
	if _, err := bare.Get(srv.URL); err == nil {
		t.Fatal("a client without the CA accepted the server certificate")
	}
}

// newTestCA returns a CA in a temporary directory. The package's own tests
// cannot import pkitest (it imports this package), so they load the CA the
// same way it does.
func newTestCA(t testing.TB) *CA {
	t.Helper()
	ca, err := LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// TestServerSANsFollowPublicAddress: the server certificate names the
// public address; a new SAN set issues a new leaf from the same CA, and the
// same set keeps the leaf.
func TestServerSANsFollowPublicAddress(t *testing.T) {
	dir := t.TempDir()
	a, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadOrCreate(dir, "10.77.0.1", "cobalt.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !a.Certificate().Equal(b.Certificate()) {
		t.Fatal("the CA changed with the public address")
	}
	leaf := b.server.Leaf
	if a.server.Leaf.Equal(leaf) {
		t.Fatal("the leaf was kept although its SANs changed")
	}
	for _, h := range []string{"10.77.0.1", "cobalt.example.com", "127.0.0.1", "::1", "localhost"} {
		if err := leaf.VerifyHostname(h); err != nil {
			t.Errorf("leaf does not cover %s: %v", h, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: b.CertPool(), DNSName: "10.77.0.1"}); err != nil {
		t.Errorf("leaf does not verify for the public address: %v", err)
	}
	c, err := LoadOrCreate(dir, "cobalt.example.com", "10.77.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if !c.server.Leaf.Equal(leaf) {
		t.Error("the same SAN set issued a new leaf")
	}
	d, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d.server.Leaf.VerifyHostname("10.77.0.1") == nil {
		t.Error("back to the default, the leaf still names the old public address")
	}
}
