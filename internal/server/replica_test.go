package server

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cobaltbatch/cobalt/internal/pki"
	"github.com/cobaltbatch/cobalt/internal/store/sqlite"
)

// testBundle returns a well-formed bundle with a fresh CA.
func testBundle(t *testing.T) replicaBundle {
	t.Helper()
	dir := t.TempDir()
	if _, err := pki.LoadOrCreate(dir); err != nil {
		t.Fatal(err)
	}
	cert, _ := os.ReadFile(filepath.Join(dir, pki.CAFileName))
	key, _ := os.ReadFile(filepath.Join(dir, pki.CAKeyFileName))
	return replicaBundle{Format: replicaBundleFormat, SealKey: make([]byte, 32), CACert: string(cert), CAKey: string(key),
		Admin: adminCredentials{ObjectID: "o", ClientID: "c", ClientSecret: "s"}}
}

func TestReplicaBundleParse(t *testing.T) {
	t.Parallel()
	good := testBundle(t)
	other := testBundle(t)
	for _, tc := range []struct {
		name string
		edit func(b *replicaBundle)
		ok   bool
	}{
		{"good", func(*replicaBundle) {}, true},
		{"format", func(b *replicaBundle) { b.Format = "x" }, false},
		{"short seal", func(b *replicaBundle) { b.SealKey = b.SealKey[:31] }, false},
		{"no secret", func(b *replicaBundle) { b.Admin.ClientSecret = "" }, false},
		{"key of another CA", func(b *replicaBundle) { b.CAKey = other.CAKey }, false},
		{"no CA", func(b *replicaBundle) { b.CACert = "" }, false},
	} {
		b := good
		b.SealKey = append([]byte(nil), good.SealKey...)
		tc.edit(&b)
		raw, _ := json.Marshal(b)
		_, err := parseReplicaBundle(raw)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err %v, want ok %v", tc.name, err, tc.ok)
		}
	}
	raw, _ := json.Marshal(good)
	withExtra := strings.Replace(string(raw), "{", `{"extra":1,`, 1)
	if _, err := parseReplicaBundle([]byte(withExtra)); err == nil {
		t.Error("an unknown field was accepted")
	}
}

// A data directory of one installation never takes another's secrets.
func TestReplicaJoinRefusesAnotherInstallation(t *testing.T) {
	t.Parallel()
	d := &dataDir{path: t.TempDir()}
	b := testBundle(t)
	if err := d.join(b); err != nil {
		t.Fatal(err)
	}
	if err := d.join(b); err != nil {
		t.Fatalf("joining again with the same bundle: %v", err)
	}
	seal, _ := os.ReadFile(d.file(sealKeyFile))
	if string(seal) != string(b.SealKey) {
		t.Fatal("seal key not written")
	}
	b2 := testBundle(t)
	if err := d.join(b2); err == nil {
		t.Fatal("a directory of another installation took a new bundle")
	}
}

// A seal key other than the installation's never opens its store.
func TestCheckSealRefusesAnotherKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a, b := make([]byte, 32), make([]byte, 32)
	b[0] = 1
	if err := checkSeal(ctx, st, a); err != nil {
		t.Fatal(err)
	}
	if err := checkSeal(ctx, st, a); err != nil {
		t.Fatalf("the same key again: %v", err)
	}
	if err := checkSeal(ctx, st, b); err == nil {
		t.Fatal("another seal key opened the store")
	}
}

// Only issuers a replica recorded are the installation's.
func TestIssuersKnown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a, b := &issuers{st: st}, &issuers{st: st}
	if err := a.register(ctx, "https://127.0.0.1:1/t/"); err != nil {
		t.Fatal(err)
	}
	if !b.Known(ctx, "https://127.0.0.1:1/t/") {
		t.Error("another replica's issuer is unknown")
	}
	if b.Known(ctx, "https://127.0.0.1:2/t/") {
		t.Error("an unrecorded issuer is known")
	}
}

func FuzzParseReplicaBundle(f *testing.F) {
	f.Add([]byte(`{"format":"cobalt-replica-bundle/1","sealKey":"AAAA","caCert":"","caKey":"","admin":{}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = parseReplicaBundle(data)
	})
}
