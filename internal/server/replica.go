package server

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/cobaltbatch/cobalt"
	"github.com/cobaltbatch/cobalt/internal/pki"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// A replica is one more `cobalt up` on the PostgreSQL store of an existing
// installation. Everything the installation is lives in the database except
// the secrets that open it: the seal key (under which the database keeps the
// signing keys, account keys and registry secrets), the CA that signs every
// server certificate, and the admin credential that endpoints.json
// publishes. A replica gets those from a bundle the first replica exports
// (`cobalt replica export`), never from the database: a copy of the database
// alone does not unseal anything.

// replicaBundleFormat names the bundle's format.
const replicaBundleFormat = "cobalt-replica-bundle/1"

// maxReplicaBundle bounds the size of a bundle file.
const maxReplicaBundle = 64 << 10

// replicaBundle is what a new replica needs to serve the installation.
type replicaBundle struct {
	Format  string           `json:"format"`
	SealKey []byte           `json:"sealKey"`
	CACert  string           `json:"caCert"`
	CAKey   string           `json:"caKey"`
	Admin   adminCredentials `json:"admin"`
}

// ErrNotReplicable is returned by ExportReplica for an installation on SQLite.
var ErrNotReplicable = errors.New("replicas share a PostgreSQL store; this installation uses SQLite")

// ExportReplica returns the replica bundle of the installation in dir: the
// seal key, the CA and the admin credential. The bundle is a secret; write it
// with mode 0600 and hand it over as a private key.
func ExportReplica(dir string) ([]byte, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	d := &dataDir{path: abs}
	dsn := ""
	if b, err := os.ReadFile(d.file(storeURLFile)); err == nil {
		dsn = strings.TrimSpace(string(b))
	}
	if !isPostgres(dsn) {
		return nil, ErrNotReplicable
	}
	seal, err := os.ReadFile(d.file(sealKeyFile))
	if err != nil {
		return nil, fmt.Errorf("read seal key (is %s a Cobalt data directory?): %w", abs, err)
	}
	caCert, err := os.ReadFile(filepath.Join(abs, tlsDir, pki.CAFileName))
	if err != nil {
		return nil, err
	}
	caKey, err := os.ReadFile(filepath.Join(abs, tlsDir, pki.CAKeyFileName))
	if err != nil {
		return nil, err
	}
	admin, ok, err := d.loadAdmin()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%s has no admin credential: start `cobalt up` there first", abs)
	}
	b := replicaBundle{Format: replicaBundleFormat, SealKey: seal, CACert: string(caCert), CAKey: string(caKey), Admin: admin}
	if _, err := b.check(); err != nil {
		return nil, err
	}
	return json.MarshalIndent(b, "", "  ")
}

// parseReplicaBundle decodes and checks a bundle.
func parseReplicaBundle(data []byte) (replicaBundle, error) {
	var b replicaBundle
	if len(data) > maxReplicaBundle {
		return b, errors.New("replica bundle: too large")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return b, fmt.Errorf("replica bundle: %w", err)
	}
	return b.check()
}

// check verifies that every part of the bundle is present and well formed.
func (b replicaBundle) check() (replicaBundle, error) {
	switch {
	case b.Format != replicaBundleFormat:
		return b, fmt.Errorf("replica bundle: format %q, want %q", b.Format, replicaBundleFormat)
	case len(b.SealKey) != 32:
		return b, errors.New("replica bundle: the seal key is not 32 bytes")
	case b.Admin.ObjectID == "" || b.Admin.ClientID == "" || b.Admin.ClientSecret == "":
		return b, errors.New("replica bundle: the admin credential is incomplete")
	}
	pair, err := tls.X509KeyPair([]byte(b.CACert), []byte(b.CAKey))
	if err != nil || pair.Leaf == nil || !pair.Leaf.IsCA {
		return b, errors.New("replica bundle: the CA certificate and key are not a CA's pair")
	}
	return b, nil
}

// join writes the bundle's secrets into a data directory. A directory that
// already holds other secrets belongs to another installation: refused.
func (d *dataDir) join(b replicaBundle) error {
	files := []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{d.file(sealKeyFile), b.SealKey, 0o600},
		{filepath.Join(d.path, tlsDir, pki.CAFileName), []byte(b.CACert), 0o644},
		{filepath.Join(d.path, tlsDir, pki.CAKeyFileName), []byte(b.CAKey), 0o600},
	}
	for _, f := range files {
		old, err := os.ReadFile(f.name)
		if err == nil && !bytes.Equal(old, f.data) {
			return fmt.Errorf("%s belongs to another installation (%s differs from the bundle's); join with a new --data directory", d.path, filepath.Base(f.name))
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(d.path, tlsDir), 0o700); err != nil {
		return err
	}
	for _, f := range files {
		if err := pki.WriteFileAtomic(f.name, f.data, f.mode); err != nil {
			return err
		}
	}
	return d.saveAdmin(b.Admin)
}

// sealCheckKey is the meta key under which the store records a digest of the
// seal key that the installation's secrets are sealed with.
const sealCheckKey = "seal.check"

// checkSeal records, on first start, a keyed digest of the seal key in the
// store, and on every later start (and on every replica) refuses a seal key
// that does not match it, before anything sealed is read or written.
func checkSeal(ctx context.Context, st store.Store, seal []byte) error {
	m := hmac.New(sha256.New, seal)
	m.Write([]byte("cobalt seal check"))
	want := hex.EncodeToString(m.Sum(nil))
	got, err := st.MetaPutIfAbsent(ctx, sealCheckKey, want)
	if err != nil {
		return fmt.Errorf("seal check: %w", err)
	}
	if !hmac.Equal([]byte(got), []byte(want)) {
		return errors.New("the seal key of this data directory does not open the store: a replica joins with `cobalt up --join-replica FILE` (from `cobalt replica export`) and a new --data directory")
	}
	return nil
}

// refuseUnjoined refuses a fresh data directory on a store that already holds
// an installation: its new seal key could not open the installation's
// secrets, and a second admin would be made.
func refuseUnjoined(ctx context.Context, st store.Store) error {
	_, err := st.MetaGet(ctx, "tenant_id")
	if cobalt.IsCode(err, cobalt.ENotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return errors.New("the store already holds an installation: start this replica with --join-replica FILE, a bundle from `cobalt replica export` run on an existing replica")
}

func isPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// issuerMetaPrefix prefixes the meta keys that record every token issuer of
// the installation: each replica issues under its own authority URL.
const issuerMetaPrefix = "login.issuer/"

// issuers answers whether an issuer belongs to the installation, from the
// store, remembering the ones that do.
type issuers struct {
	st    store.MetaStore
	known sync.Map // issuer -> struct{}
}

// register records this replica's issuers.
func (is *issuers) register(ctx context.Context, list ...string) error {
	for _, iss := range list {
		if _, err := is.st.MetaPutIfAbsent(ctx, issuerMetaPrefix+iss, "1"); err != nil {
			return fmt.Errorf("record issuer: %w", err)
		}
		is.known.Store(iss, struct{}{})
	}
	return nil
}

// Known reports whether iss is an issuer of a replica of the installation.
// The validator asks only about tokens whose signature verified with the
// installation's keys, so an unknown answer costs one indexed read.
func (is *issuers) Known(ctx context.Context, iss string) bool {
	if _, ok := is.known.Load(iss); ok {
		return true
	}
	if len(iss) > 2048 {
		return false
	}
	if _, err := is.st.MetaGet(ctx, issuerMetaPrefix+iss); err != nil {
		return false
	}
	is.known.Store(iss, struct{}{})
	return true
}

// contentDir is where blob and registry content lives.
func (s *Server) contentDir() string {
	if s.opts.ContentDir != "" {
		return s.opts.ContentDir
	}
	return s.dir.path
}

// replicated reports whether other replicas may share this store.
func (s *Server) replicated() bool { return isPostgres(s.opts.Store) }

// replicaPoll is how often this process looks for other replicas' changes,
// or 0 when it has the store to itself.
func (s *Server) replicaPoll() time.Duration {
	if !s.replicated() {
		return 0
	}
	return s.opts.ReplicaPoll
}

// replicaRBACTTL bounds how long a replica reuses a principal's role
// assignments: a change made on another replica (a deleted assignment above
// all) is enforced everywhere within it. A change made on this replica
// clears the cache at once.
const replicaRBACTTL = 1500 * time.Millisecond

// rbacCacheTTL is the RBAC cache's lifetime: rbac's default when this
// process has the store to itself, replicaRBACTTL with replicas.
func (s *Server) rbacCacheTTL() time.Duration {
	if !s.replicated() {
		return 0
	}
	return replicaRBACTTL
}
