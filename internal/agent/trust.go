package agent

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
)

// systemBundles are the system CA bundles, in the order distributions put them.
var systemBundles = []string{
	"/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu
	"/etc/pki/tls/certs/ca-bundle.crt",   // Fedora, RHEL
	"/etc/ssl/cert.pem",                  // Alpine, macOS
}

// writeCABundle writes the node's CA bundle, the host's trusted roots followed
// by the installation's CA, readable by every task user, and returns the task
// environment that makes common clients trust it. On Azure the services'
// certificates chain to public roots every image trusts; on Cobalt they chain
// to the installation's CA, so this bundle is what keeps `curl https://...`,
// Python requests, Go and Node programs in tasks working unchanged.
func writeCABundle(nodeRoot, caFile string) ([]string, error) {
	if caFile == "" {
		return nil, nil
	}
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read the installation CA: %w", err)
	}
	var bundle bytes.Buffer
	for _, f := range systemBundles {
		if b, err := os.ReadFile(f); err == nil {
			bundle.Write(b)
			if len(b) > 0 && b[len(b)-1] != '\n' {
				bundle.WriteByte('\n')
			}
			break
		}
	}
	bundle.Write(ca)
	dir := filepath.Join(nodeRoot, "certs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "ca-bundle.pem")
	if err := os.WriteFile(path, bundle.Bytes(), 0o644); err != nil {
		return nil, err
	}
	caPath := filepath.Join(dir, "cobalt-ca.pem")
	if err := os.WriteFile(caPath, ca, 0o644); err != nil {
		return nil, err
	}
	return caEnv(path, caPath), nil
}

// caEnv is the task environment that makes common clients trust the bundle
// (the host's roots and the installation CA) and the installation CA.
func caEnv(bundle, ca string) []string {
	return []string{
		"SSL_CERT_FILE=" + bundle,
		"CURL_CA_BUNDLE=" + bundle,
		"REQUESTS_CA_BUNDLE=" + bundle,
		"NODE_EXTRA_CA_CERTS=" + ca,
	}
}
