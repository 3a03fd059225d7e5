package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// File names inside the PKI directory.
const (
	CAFileName        = "ca.pem"
	CAKeyFileName     = "ca-key.pem"
	serverFileName    = "server.pem"
	serverKeyFileName = "server-key.pem"
)

// CA is a loaded certificate authority with its server certificate.
type CA struct {
	dir    string
	cert   *x509.Certificate
	key    crypto.Signer
	server tls.Certificate
	pool   *x509.CertPool
	// names and ips are the server certificate's SANs.
	names []string
	ips   []net.IP
}

// LoadOrCreate loads the CA and server certificate from dir, creating them on
// first use. The server certificate's SANs are 127.0.0.1, ::1, localhost and
// each of hosts (IP addresses or DNS names). A server certificate that
// expires within 30 days, or whose SANs are another set, is issued again by
// the same CA, so clients that trust the CA keep working.
func LoadOrCreate(dir string, hosts ...string) (*CA, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create pki dir: %w", err)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	ca := &CA{dir: dir, names: []string{"localhost"}, ips: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			if !slices.ContainsFunc(ca.ips, ip.Equal) {
				ca.ips = append(ca.ips, ip)
			}
		} else if h != "" && !slices.Contains(ca.names, strings.ToLower(h)) {
			ca.names = append(ca.names, strings.ToLower(h))
		}
	}
	if err := ca.loadOrCreateCA(); err != nil {
		return nil, err
	}
	if err := ca.loadOrCreateServer(); err != nil {
		return nil, err
	}
	ca.pool = x509.NewCertPool()
	ca.pool.AddCert(ca.cert)
	return ca, nil
}

func (ca *CA) path(name string) string { return filepath.Join(ca.dir, name) }

func (ca *CA) loadOrCreateCA() error {
	cert, key, err := loadPair(ca.path(CAFileName), ca.path(CAKeyFileName))
	if err == nil {
		ca.cert, ca.key = cert, key
		return nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("load CA: %w", err)
	}
	key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	// Certificate validity is checked by TLS clients against their own wall
	// clock, so it is set from the wall clock, never from an injected one.
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "Cobalt local CA", Organization: []string{"Cobalt"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return err
	}
	if err := writePair(ca.path(CAFileName), ca.path(CAKeyFileName), der, key); err != nil {
		return err
	}
	ca.cert, _ = x509.ParseCertificate(der)
	ca.key = key
	return nil
}

func (ca *CA) loadOrCreateServer() error {
	cert, key, err := loadPair(ca.path(serverFileName), ca.path(serverKeyFileName))
	// Reuse a certificate with over 30 days left on the wall clock, the clock TLS clients check.
	if err == nil && time.Until(cert.NotAfter) > 30*24*time.Hour && cert.CheckSignatureFrom(ca.cert) == nil && ca.sameSANs(cert) {
		ca.server = tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}
		return nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("load server certificate: %w", err)
	}
	skey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now() // wall clock, as for the CA
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "localhost", Organization: []string{"Cobalt"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     ca.names,
		IPAddresses:  ca.ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, skey.Public(), ca.key)
	if err != nil {
		return err
	}
	if err := writePair(ca.path(serverFileName), ca.path(serverKeyFileName), der, skey); err != nil {
		return err
	}
	leaf, _ := x509.ParseCertificate(der)
	ca.server = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: skey, Leaf: leaf}
	return nil
}

// sameSANs reports whether cert names exactly the SANs the server
// certificate should carry.
func (ca *CA) sameSANs(cert *x509.Certificate) bool {
	if len(cert.DNSNames) != len(ca.names) || len(cert.IPAddresses) != len(ca.ips) {
		return false
	}
	for _, n := range cert.DNSNames {
		if !slices.Contains(ca.names, strings.ToLower(n)) {
			return false
		}
	}
	for _, ip := range cert.IPAddresses {
		if !slices.ContainsFunc(ca.ips, ip.Equal) {
			return false
		}
	}
	return true
}

// CAFile returns the absolute path of the CA certificate (PEM).
func (ca *CA) CAFile() string { return ca.path(CAFileName) }

// CertPool returns a pool holding only the CA, for clients.
func (ca *CA) CertPool() *x509.CertPool { return ca.pool }

// Certificate returns the CA certificate.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// ServerTLSConfig returns a TLS configuration for HTTPS listeners, with HTTP/2 and HTTP/1.1.
func (ca *CA) ServerTLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{ca.server},
		NextProtos:   []string{"h2", "http/1.1"},
	}
}

// ClientTLSConfig returns a TLS configuration that trusts only the CA.
func (ca *CA) ClientTLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: ca.pool}
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

func loadPair(certFile, keyFile string) (*x509.Certificate, crypto.Signer, error) {
	cb, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, err
	}
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, err
	}
	cblock, _ := pem.Decode(cb)
	kblock, _ := pem.Decode(kb)
	if cblock == nil || kblock == nil {
		return nil, nil, fmt.Errorf("%s or %s is not PEM", certFile, keyFile)
	}
	cert, err := x509.ParseCertificate(cblock.Bytes)
	if err != nil {
		return nil, nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(kblock.Bytes)
	if err != nil {
		return nil, nil, err
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("%s holds no signing key", keyFile)
	}
	return cert, signer, nil
}

// writePair writes the certificate (0644) and key (0600), each atomically.
func writePair(certFile, keyFile string, der []byte, key crypto.Signer) error {
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := WriteFileAtomic(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return err
	}
	return WriteFileAtomic(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// WriteFileAtomic writes data to a temporary file in the same directory, syncs
// it, sets its mode and renames it over name, so readers never see a partial file.
func WriteFileAtomic(name string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

// IssueServer issues a server certificate for the given DNS names (which may
// be wildcards, "*.example.com") signed by the CA, valid for a year from the
// wall clock. It is kept in memory only: the caller issues it again at every
// start.
func (ca *CA) IssueServer(commonName string, dnsNames []string) (tls.Certificate, error) {
	return ca.issueKeyed(commonName, x509.ExtKeyUsageServerAuth, dnsNames)
}

// IssueClient issues a client certificate (only ExtKeyUsageClientAuth) signed
// by the CA, valid for a year, kept in memory: how a control-plane replica
// proves itself to a joined host's file API. No other certificate the CA
// issues may authenticate a client.
func (ca *CA) IssueClient(commonName string) (tls.Certificate, error) {
	return ca.issueKeyed(commonName, x509.ExtKeyUsageClientAuth, nil)
}

// issueKeyed issues a certificate with a fresh P-256 key, for the one
// extended key usage and the DNS names, valid for a year from the wall
// clock, and returns it with its key, in memory only.
func (ca *CA) issueKeyed(commonName string, usage x509.ExtKeyUsage, dnsNames []string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: commonName, Organization: []string{"Cobalt"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		DNSNames:     dnsNames,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue certificate for %s: %w", commonName, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// IssueFor issues a server certificate (only ExtKeyUsageServerAuth) for the
// public key pub (PKIX DER, ECDSA P-256 or Ed25519) and the one DNS name,
// valid for ttl: a joined host's file API certificate, for a key the host
// keeps. It returns the certificate's DER.
func (ca *CA) IssueFor(pubDER []byte, dnsName string, ttl time.Duration) ([]byte, error) {
	pub, err := x509.ParsePKIXPublicKey(pubDER)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, errors.New("public key: want ECDSA P-256")
		}
	case ed25519.PublicKey:
	default:
		return nil, errors.New("public key: want ECDSA P-256 or Ed25519")
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: dnsName, Organization: []string{"Cobalt"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(ttl),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{dnsName},
	}
	return x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
}
