package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/cobaltbatch/cobalt/internal/store/sqlite"
)

// TestFilesArePrivate checks that the database, its WAL and its shared-memory
// file are 0600 on a new installation and are tightened on an existing one.
func TestFilesArePrivate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "cobalt.db")
	check := func(when string) {
		t.Helper()
		for _, name := range []string{path, path + "-wal", path + "-shm"} {
			st, err := os.Stat(name)
			if err != nil {
				t.Fatalf("%s: %v", when, err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Errorf("%s: %s mode = %v, want 0600", when, filepath.Base(name), st.Mode().Perm())
			}
		}
	}
	s, err := sqlite.Open(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.MetaPutIfAbsent(context.Background(), "k", "v"); err != nil {
		t.Fatal(err)
	}
	check("new database")
	// An installation made before the files were private: open it again
	// while its files are world-readable.
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(name, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s2, err := sqlite.Open(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	check("existing database")
	s.Close()
}
