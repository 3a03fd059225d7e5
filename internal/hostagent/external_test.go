package hostagent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// An external host starts no agent: it keeps the node's credential for the
// agent that runs elsewhere, 0600 in a 0700 directory, and deletes it when
// the node is stopped.
func TestExternalKeepsOnlyTheCredential(t *testing.T) {
	p := New(Config{ControlPlaneURL: "https://127.0.0.1:1", Isolation: IsolationExternal})
	root := filepath.Join(t.TempDir(), "nodes", "tvmps_1")
	ctx := context.Background()
	if err := p.StartNode(ctx, NodeLaunch{NodeID: "tvmps_1", PoolID: "p", Credential: "secret-1", RootDir: root}); err != nil {
		t.Fatal(err)
	}
	if a := p.Agent("tvmps_1"); a != nil {
		t.Fatal("an external host ran an agent")
	}
	if got, err := ReadCredential(root); err != nil || got != "secret-1" {
		t.Fatalf("credential = %q, %v", got, err)
	}
	st, err := os.Stat(CredentialPath(root))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("credential file: %v %v", st, err)
	}
	if st, err := os.Stat(filepath.Dir(CredentialPath(root))); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("credential directory: %v %v", st, err)
	}
	if _, err := os.Stat(root); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("an external host made the node's directory: %v", err)
	}
	if err := p.StopNode(ctx, "tvmps_1"); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadCredential(root); !errors.Is(err, ErrNoCredential) {
		t.Fatalf("credential after stop: %v", err)
	}
	// Started again after a restart of the control plane (empty credential):
	// nothing persisted, so it fails as a local node would.
	if err := p.StartNode(ctx, NodeLaunch{NodeID: "tvmps_1", PoolID: "p", RootDir: root}); !errors.Is(err, ErrNoCredential) {
		t.Fatalf("restart without a credential: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}

// A pool's nodes start concurrently: every external node is kept (run with
// -race; this crashed the control plane with concurrent map writes).
func TestExternalNodesStartConcurrently(t *testing.T) {
	p := New(Config{ControlPlaneURL: "https://127.0.0.1:1", Isolation: IsolationExternal})
	dir := filepath.Join(t.TempDir(), "nodes")
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("tvmps_%d", i)
			if err := p.StartNode(ctx, NodeLaunch{NodeID: id, PoolID: "p", Credential: "secret", RootDir: filepath.Join(dir, id)}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for i := range 64 {
		id := fmt.Sprintf("tvmps_%d", i)
		if got, err := ReadCredential(filepath.Join(dir, id)); err != nil || got != "secret" {
			t.Fatalf("%s: credential %q, %v", id, got, err)
		}
	}
	p.mu.Lock()
	n := len(p.nodes)
	p.mu.Unlock()
	if n != 64 {
		t.Fatalf("%d of 64 nodes kept", n)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}
