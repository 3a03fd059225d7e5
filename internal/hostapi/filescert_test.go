package hostapi

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/cobaltbatch/cobalt/internal/hostproto"
	"github.com/cobaltbatch/cobalt/internal/pki/pkitest"
)

// TestFilesCertificate: a heartbeat with a file API key gets a certificate
// of the CA for that key and the host's own name only; a heartbeat without
// one gets none, and a key that is not one is refused.
func TestFilesCertificate(t *testing.T) {
	f := newFixture(t)
	ca := pkitest.NewCA(t)
	f.svc.cfg.IssueFilesCert = ca.IssueFor
	a, b := f.join(t, "a"), f.join(t, "b")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := x509.MarshalPKIXPublicKey(key.Public())
	hb := func(cred string, filesKey []byte) (int, hostproto.HeartbeatResponse) {
		code, body := f.post(t, hostproto.HeartbeatPath, cred, hostproto.HeartbeatRequest{
			Capacity: hostproto.Capacity{Cores: 4, MemoryBytes: 8 << 30, MaxNodes: 8}, FilesKey: filesKey})
		var out hostproto.HeartbeatResponse
		_ = json.Unmarshal(body, &out)
		return code, out
	}
	if code, out := hb(a.Credential, nil); code != http.StatusOK || out.FilesCertificate != nil {
		t.Fatalf("heartbeat without a key: %d, certificate %v", code, out.FilesCertificate != nil)
	}
	code, out := hb(a.Credential, pub)
	if code != http.StatusOK || out.FilesCertificate == nil {
		t.Fatalf("heartbeat with a key: %d", code)
	}
	leaf, err := x509.ParseCertificate(out.FilesCertificate)
	if err != nil {
		t.Fatal(err)
	}
	opts := x509.VerifyOptions{Roots: ca.CertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	opts.DNSName = hostproto.FilesServerName(a.HostID)
	if _, err := leaf.Verify(opts); err != nil {
		t.Fatalf("certificate for host A: %v", err)
	}
	opts.DNSName = hostproto.FilesServerName(b.HostID)
	if _, err := leaf.Verify(opts); err == nil {
		t.Fatal("host A's certificate is good for host B's name")
	}
	opts.DNSName, opts.KeyUsages = "", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	if _, err := leaf.Verify(opts); err == nil {
		t.Fatal("a host's certificate authenticates a client")
	}
	if code, _ := hb(a.Credential, []byte("not a key")); code != http.StatusBadRequest {
		t.Fatalf("heartbeat with garbage for a key: %d, want 400", code)
	}
}
