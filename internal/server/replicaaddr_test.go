package server

import (
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestReplicaAddressesInTheCertificate: the server certificate names the
// other replicas' addresses besides the public address (a client or node
// moved from a dead replica verifies this one), and a bad one is refused.
func TestReplicaAddressesInTheCertificate(t *testing.T) {
	t.Parallel()
	s := StartTest(t, Options{Isolation: "process", ReplicaAddresses: []string{"10.0.0.6", "cp2.example"}})
	b, err := os.ReadFile(filepath.Join(s.DataDir(), tlsDir, "server.pem"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatal("no PEM in the server certificate file")
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(cert.IPAddresses, net.ParseIP("10.0.0.6").Equal) || !slices.Contains(cert.DNSNames, "cp2.example") ||
		!slices.ContainsFunc(cert.IPAddresses, net.ParseIP("127.0.0.1").Equal) {
		t.Fatalf("certificate names %v %v", cert.IPAddresses, cert.DNSNames)
	}
	_, err = Start(t.Context(), Options{DataDir: t.TempDir(), Isolation: "process", ReplicaAddresses: []string{"not an address!"}})
	if err == nil || !strings.Contains(err.Error(), "replica address") {
		t.Fatalf("a bad replica address: %v", err)
	}
}
