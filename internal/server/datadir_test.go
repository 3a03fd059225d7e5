package server

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDataDirIsPrivate checks that an installation made with the older,
// traversable mode (0711) and a world-readable database is tightened at start:
// the data directory becomes 0700 and every database file 0600.
func TestDataDirIsPrivate(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, dbFile)
	if err := os.WriteFile(db, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(db, 0o644); err != nil {
		t.Fatal(err)
	}
	s := StartTest(t, Options{DataDir: dir})
	st, err := os.Stat(s.DataDir())
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Errorf("data directory mode = %v, want 0700", st.Mode().Perm())
	}
	for _, name := range []string{dbFile, dbFile + "-wal", dbFile + "-shm", sealKeyFile, adminFile, endpointsFile, storeURLFile} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode = %v, want 0600", name, st.Mode().Perm())
		}
	}
}
