package hostfiles

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/hostproto"
	"github.com/cobaltbatch/cobalt/internal/nodefiles"
	"github.com/cobaltbatch/cobalt/internal/pki"
	"github.com/cobaltbatch/cobalt/internal/pki/pkitest"
)

// hostCert issues a host's file API certificate as the heartbeat does.
func hostCert(t *testing.T, ca *pki.CA, hostID string) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := x509.MarshalPKIXPublicKey(key.Public())
	der, err := ca.IssueFor(pub, hostproto.FilesServerName(hostID), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// testHost is a host's file API on loopback with one node, "node-1", whose
// task directory holds stdout.txt and a link to a secret outside the node.
type testHost struct {
	srv  *Server
	url  *httptest.Server
	dir  string
	port int
}

func newTestHost(t *testing.T, ca *pki.CA, hostID string) *testHost {
	t.Helper()
	base := t.TempDir()
	nodes := filepath.Join(base, "nodes")
	task := filepath.Join(nodes, "node-1", "workitems", "job", "job-1", "task1")
	if err := os.MkdirAll(filepath.Join(task, "wd"), 0o755); err != nil {
		t.Fatal(err)
	}
	must(t, os.WriteFile(filepath.Join(task, "stdout.txt"), []byte("0123456789"), 0o600))
	must(t, os.WriteFile(filepath.Join(base, "secret"), []byte("secret"), 0o600))
	must(t, os.Symlink(filepath.Join(base, "secret"), filepath.Join(task, "wd", "escape")))
	must(t, os.Symlink("../../../../../../secret", filepath.Join(task, "wd", "relescape")))
	h := &testHost{srv: &Server{NodesDir: nodes, Owns: func(id string) bool { return id == "node-1" }}, dir: task}
	h.srv.SetCertificate(hostCert(t, ca, hostID))
	h.url = httptest.NewUnstartedServer(h.srv)
	h.url.TLS = h.srv.TLSConfig(ca.CertPool())
	h.url.StartTLS()
	t.Cleanup(h.url.Close)
	_, p, _ := net.SplitHostPort(h.url.Listener.Addr().String())
	h.port, _ = strconv.Atoi(p)
	return h
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func loopback(context.Context, string) (string, error) { return "127.0.0.1", nil }

func newClient(t *testing.T, ca *pki.CA, port int) *Client {
	cert, err := ca.IssueClient("test control plane")
	if err != nil {
		t.Fatal(err)
	}
	return NewClient(cert, ca.CertPool(), loopback, port)
}

const taskRel = "workitems/job/job-1/task1"

func TestRoundTrip(t *testing.T) {
	ca := pkitest.NewCA(t)
	h := newTestHost(t, ca, "host-a")
	src := newClient(t, ca, h.port).Source("host-a", "node-1")
	ctx := context.Background()
	files, err := src.List(ctx, taskRel, true)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
	}
	if len(names) != 2 || names[0] != "stdout.txt" || names[1] != "wd" {
		t.Fatalf("list = %v, want stdout.txt and wd (the escaping links left out)", names)
	}
	info, err := src.Stat(ctx, taskRel, "stdout.txt")
	if err != nil || info.Size != 10 || info.IsDir {
		t.Fatalf("stat = %+v, %v", info, err)
	}
	rc, err := src.Open(ctx, taskRel, "stdout.txt", 2, 5)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "23456" {
		t.Fatalf("read = %q, want 23456", b)
	}
	if err := src.Remove(ctx, taskRel, "wd", false); !errors.Is(err, nodefiles.ErrIsDir) {
		t.Fatalf("delete dir without recursive = %v, want ErrIsDir", err)
	}
	if err := src.Remove(ctx, taskRel, "stdout.txt", false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(h.dir, "stdout.txt")); !os.IsNotExist(err) {
		t.Fatalf("stdout.txt not deleted: %v", err)
	}
	if _, err := src.Stat(ctx, taskRel, "stdout.txt"); !errors.Is(err, nodefiles.ErrNotExist) {
		t.Fatalf("stat of deleted = %v, want ErrNotExist", err)
	}
}

// TestEscapesRefused: neither ".." nor a symbolic link reaches outside the
// node's directory, and only the host's own nodes are served.
func TestEscapesRefused(t *testing.T) {
	ca := pkitest.NewCA(t)
	h := newTestHost(t, ca, "host-a")
	c := newClient(t, ca, h.port)
	src := c.Source("host-a", "node-1")
	ctx := context.Background()
	for _, name := range []string{"wd/escape", "wd/relescape"} {
		if _, err := src.Stat(ctx, taskRel, name); !errors.Is(err, nodefiles.ErrNotExist) {
			t.Errorf("stat %s = %v, want ErrNotExist", name, err)
		}
		if _, err := src.Open(ctx, taskRel, name, 0, 6); !errors.Is(err, nodefiles.ErrNotExist) {
			t.Errorf("read %s = %v, want ErrNotExist", name, err)
		}
	}
	// Raw requests, as a hostile client with a valid certificate would send.
	for _, q := range []string{
		"read?node=node-1&name=../../secret&offset=0&length=6",
		"read?node=node-1&dir=..&name=secret&offset=0&length=6",
		"read?node=..&name=secret&offset=0&length=6",
		"list?node=node-1&dir=/etc",
		"read?node=node-2&name=x&offset=0&length=1",
		"read?node=node-1&name=" + taskRel + "/stdout.txt&offset=-1&length=1",
	} {
		resp, err := c.http.Get("https://" + net.JoinHostPort(hostproto.FilesServerName("host-a"), strconv.Itoa(h.port)) + Prefix + q)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %s %s, want 400 or 404", q, resp.Status, b)
		}
	}
	// Another node of the host: refused as unknown.
	if _, err := c.Source("host-a", "node-2").Stat(ctx, "", "x"); !errors.Is(err, nodefiles.ErrNotExist) {
		t.Errorf("another node = %v, want ErrNotExist", err)
	}
}

// TestWrongHostRefused: a request meant for host A that reaches host B
// (B's address in A's record, or B answering at A's address) fails the TLS
// handshake: B's certificate names B only.
func TestWrongHostRefused(t *testing.T) {
	ca := pkitest.NewCA(t)
	b := newTestHost(t, ca, "host-b")
	src := newClient(t, ca, b.port).Source("host-a", "node-1")
	if _, err := src.Stat(context.Background(), taskRel, "stdout.txt"); !errors.Is(err, nodefiles.ErrUnreachable) {
		t.Fatalf("host A's request answered by host B: %v, want ErrUnreachable (certificate name mismatch)", err)
	}
	// A host certificate from another CA is refused too.
	other := pkitest.NewCA(t)
	o := newTestHost(t, other, "host-a")
	if _, err := newClient(t, ca, o.port).Source("host-a", "node-1").Stat(context.Background(), taskRel, "stdout.txt"); !errors.Is(err, nodefiles.ErrUnreachable) {
		t.Fatalf("host certificate of another CA: %v, want ErrUnreachable", err)
	}
}

// TestClientCertificatesRefused: only a CA-issued, unexpired client
// certificate opens the API: none, a self-signed one, one of another CA, a
// host's own (server) certificate and an expired one are refused.
func TestClientCertificatesRefused(t *testing.T) {
	ca := pkitest.NewCA(t)
	h := newTestHost(t, ca, "host-a")
	other := pkitest.NewCA(t)
	otherClient, _ := other.IssueClient("intruder")
	hostB := hostCert(t, ca, "host-b") // a host trying another host's files
	cases := map[string][]tls.Certificate{
		"none":             nil,
		"another CA":       {otherClient},
		"a host's own":     {*hostB},
		"self-signed":      {selfSigned(t, time.Now().Add(time.Hour))},
		"expired, from CA": {caSigned(t, ca, time.Now().Add(-time.Minute))},
	}
	good, _ := ca.IssueClient("control plane")
	cases["the control plane's"] = []tls.Certificate{good}
	for name, certs := range cases {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.CertPool(), Certificates: certs,
			ServerName: hostproto.FilesServerName("host-a")}}
		cl := &http.Client{Transport: tr, Timeout: 5 * time.Second}
		resp, err := cl.Get("https://127.0.0.1:" + strconv.Itoa(h.port) + Prefix + "list?node=node-1")
		ok := err == nil && resp.StatusCode == http.StatusOK
		if err == nil {
			resp.Body.Close()
		}
		if want := name == "the control plane's"; ok != want {
			t.Errorf("%s client certificate: served = %v (%v), want %v", name, ok, err, want)
		}
		tr.CloseIdleConnections()
	}
	// The handler refuses a request that did not come over verified TLS.
	w := httptest.NewRecorder()
	h.srv.ServeHTTP(w, httptest.NewRequest("GET", Prefix+"list?node=node-1", nil))
	if w.Code != http.StatusUnauthorized {
		t.Fatalf("plain request: %d, want 401", w.Code)
	}
}

func certTemplate(notAfter time.Time) *x509.Certificate {
	return &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "x"},
		NotBefore: notAfter.Add(-48 * time.Hour), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
}

func selfSigned(t *testing.T, notAfter time.Time) tls.Certificate {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificate(rand.Reader, certTemplate(notAfter), certTemplate(notAfter), key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// caSigned signs a client certificate with the CA's key, read from its
// directory as a replica would.
func caSigned(t *testing.T, ca *pki.CA, notAfter time.Time) tls.Certificate {
	pair, err := tls.LoadX509KeyPair(ca.CAFile(), filepath.Join(filepath.Dir(ca.CAFile()), pki.CAKeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificate(rand.Reader, certTemplate(notAfter), ca.Certificate(), key.Public(), pair.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
