package server

import (
	"crypto/tls"
	"crypto/x509"
	"testing"
)

func tlsConfigFor(t *testing.T, caPEM []byte) *tls.Config {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("CA file holds no certificate")
	}
	return &tls.Config{RootCAs: pool}
}
