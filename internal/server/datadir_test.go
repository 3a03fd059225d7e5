package server

import (
	"database/sql"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/store"
	"github.com/cobaltbatch/cobalt/internal/testenv"
	_ "modernc.org/sqlite" // the "sqlite" driver, to read the database as it is on disk
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

// TestAccountKeysSealedInTheDatabase checks that the installation's store
// seals account keys: a storage account written through the server's store
// does not hold its key in clear in the database file.
func TestAccountKeysSealedInTheDatabase(t *testing.T) {
	t.Parallel()
	s := StartTest(t, Options{})
	const key = "c2VhbGVkLWtleS1vZi1hbi1pbnN0YWxsYXRpb24tdGVzdA=="
	id := "/subscriptions/" + s.subID + "/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/sealed1"
	_, err := s.Store().ResourceCreate(t.Context(), store.Resource{
		ID: id, Key: strings.ToLower(id), Type: "microsoft.storage/storageaccounts", UniqueName: "sealed1",
		ParentKey: strings.ToLower("/subscriptions/" + s.subID + "/resourceGroups/rg"), SubscriptionID: s.subID, ResourceGroup: "rg",
		Body: []byte(`{"keys":[{"value":"` + key + `"}]}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(s.DataDir(), dbFile)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var body []byte
	if err := db.QueryRow(`SELECT body FROM resources WHERE key = $1`, strings.ToLower(id)).Scan(&body); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(body), key) {
		t.Fatalf("the database holds the key in clear: %q", body)
	}
	r, err := s.Store().ResourceGet(t.Context(), id)
	if err != nil || !strings.Contains(string(r.Body), key) {
		t.Fatalf("read back: %q %v", r.Body, err)
	}
}

// TestNodeDirNotHijacked checks that when the node directory of a root
// installation (under the shared temporary directory, with a predictable
// name) was replaced by a symbolic link, Cobalt refuses to start rather than
// put node directories where the link leads.
func TestNodeDirNotHijacked(t *testing.T) {
	t.Parallel()
	// Node directories leave the data directory only when Cobalt runs as root.
	testenv.Require(t, testenv.Root)
	dir := filepath.Join(t.TempDir(), "data")
	s, err := Start(t.Context(), Options{DataDir: dir, Isolation: "process"})
	if err != nil {
		t.Fatal(err)
	}
	alt := filepath.Join(os.TempDir(), "cobalt-nodes-"+s.subID[:8])
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(alt) })
	if err := os.RemoveAll(alt); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(t.TempDir(), alt); err != nil {
		t.Fatal(err)
	}
	if s2, err := Start(t.Context(), Options{DataDir: dir, Isolation: "process"}); err == nil {
		s2.Close()
		t.Fatalf("started with %s a symbolic link", alt)
	}
}

// A lock left on the data directory by a process that has exited (an open
// description of the lock file that outlives it for a moment) is waited
// for, so that a supervisor's restart after a SIGKILL does not fail; a lock
// whose holder still runs fails at once.
func TestDataDirLockOfADeadHolderIsWaitedFor(t *testing.T) {
	dir := t.TempDir()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	held, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := syscall.Flock(int(held.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	writeHolder := func(pid int) {
		t.Helper()
		if err := held.Truncate(0); err != nil {
			t.Fatal(err)
		}
		if _, err := held.WriteAt([]byte(strconv.Itoa(pid)+"\n"), 0); err != nil {
			t.Fatal(err)
		}
	}

	writeHolder(os.Getpid())
	if d, err := openDataDir(dir); !errors.Is(err, ErrDataDirInUse) {
		if d != nil {
			d.close()
		}
		t.Fatalf("with a live holder: %v, want ErrDataDirInUse", err)
	}

	writeHolder(dead.Process.Pid)
	released := make(chan struct{})
	go func() {
		time.Sleep(300 * time.Millisecond)
		_ = syscall.Flock(int(held.Fd()), syscall.LOCK_UN)
		close(released)
	}()
	d, err := openDataDir(dir)
	if err != nil {
		t.Fatalf("with an exited holder whose lock goes: %v", err)
	}
	defer d.close()
	select {
	case <-released:
	default:
		t.Fatal("took the lock before its holder released it")
	}
}
