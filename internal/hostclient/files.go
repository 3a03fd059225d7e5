package hostclient

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/cobaltbatch/cobalt/internal/hostfiles"
	"github.com/cobaltbatch/cobalt/internal/hostproto"
	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/nodefiles"
	"github.com/cobaltbatch/cobalt/internal/pki"
)

// Files of the host's file API in its data directory: the key the host
// made (never sent anywhere) and the certificate the control plane issued
// for it.
const (
	filesKeyFile  = "files-key.pem"
	filesCertFile = "files-cert.pem"
)

// FilesListenOff turns the host's file API off.
const FilesListenOff = "off"

// startFiles loads or makes the file API key, loads its certificate if one
// was issued before, and serves the API on Config.FilesListen until ctx is
// done. The API answers only control-plane client certificates of the CA.
func (a *Agent) startFiles(ctx context.Context) error {
	if a.cfg.FilesListen == FilesListenOff {
		return nil
	}
	key, err := loadOrCreateKey(filepath.Join(a.cfg.DataDir, filesKeyFile))
	if err != nil {
		return fmt.Errorf("file API key: %w", err)
	}
	a.filesKey = key
	a.files = &hostfiles.Server{NodesDir: NodesDir(a.cfg.DataDir), Owns: a.owns, Logger: a.log}
	if der, err := os.ReadFile(filepath.Join(a.cfg.DataDir, filesCertFile)); err == nil {
		if err := a.useFilesCert(der, false); err != nil {
			a.log.Warn("file API certificate not used: a new one is asked for", logkey.Err, err)
		}
	}
	addr := a.cfg.FilesListen
	if addr == "" {
		addr = net.JoinHostPort(a.address(), strconv.Itoa(hostproto.FilesPort))
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("file API listener (--files-listen): %w", err)
	}
	srv := &http.Server{Handler: a.files, TLSConfig: a.files.TLSConfig(a.pool),
		ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelDebug)}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	a.log.Info("host file API listening", logkey.Addr, ln.Addr().String())
	return nil
}

// owns reports whether the host runs the node.
func (a *Agent) owns(nodeID string) bool {
	return a.cfg.Provider != nil && nodefiles.ValidNodeID(nodeID) && slices.Contains(a.cfg.Provider.Nodes(), nodeID)
}

// filesKeyRequest is the public key to send in a heartbeat when the file
// API has no certificate, or one with less than a third of its life left.
func (a *Agent) filesKeyRequest() []byte {
	if a.files == nil {
		return nil
	}
	if c := a.files.Certificate(); c != nil && c.Leaf != nil &&
		time.Until(c.Leaf.NotAfter) > hostproto.FilesCertLifetime/3 {
		return nil
	}
	der, _ := x509.MarshalPKIXPublicKey(a.filesKey.Public())
	return der
}

// useFilesCert checks that der certifies the host's file API key for its
// name under the CA, and serves it (saving it when save is set).
func (a *Agent) useFilesCert(der []byte, save bool) error {
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return err
	}
	want, _ := x509.MarshalPKIXPublicKey(a.filesKey.Public())
	got, _ := x509.MarshalPKIXPublicKey(leaf.PublicKey)
	if !bytes.Equal(want, got) {
		return errors.New("the certificate is not for this host's key")
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: a.pool, DNSName: hostproto.FilesServerName(a.id.HostID),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return err
	}
	a.files.SetCertificate(&tls.Certificate{Certificate: [][]byte{der}, PrivateKey: a.filesKey, Leaf: leaf})
	if save {
		return pki.WriteFileAtomic(filepath.Join(a.cfg.DataDir, filesCertFile), der, 0o600)
	}
	return nil
}

func loadOrCreateKey(path string) (*ecdsa.PrivateKey, error) {
	if b, err := os.ReadFile(path); err == nil {
		blk, _ := pem.Decode(b)
		if blk == nil {
			return nil, fmt.Errorf("%s holds no PEM key", path)
		}
		return x509.ParseECPrivateKey(blk.Bytes)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return key, pki.WriteFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
}
