package server

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cobaltbatch/cobalt/internal/pki"
	"github.com/cobaltbatch/cobalt/internal/store"
)

// File names in the data directory.
const (
	lockFile      = "cobalt.lock"
	sealKeyFile   = "seal.key"
	adminFile     = "admin.json"
	endpointsFile = "endpoints.json"
	dbFile        = "cobalt.db"
	tlsDir        = "tls"
	portsFile     = "ports.json"
	storeURLFile  = "store.url"
)

// dataDir is a locked data directory.
type dataDir struct {
	path string
	lock *os.File
}

// ErrDataDirInUse is returned when another process holds the data directory.
var ErrDataDirInUse = errors.New("data directory in use")

// openDataDir creates dir if needed and takes its lock, so that two `cobalt up`
// processes never share one directory.
func openDataDir(dir string) (*dataDir, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	// The directory is private to the user that runs Cobalt (0700): it holds
	// the seal key, the admin credentials, endpoints.json, the TLS keys and
	// the SQLite database with its WAL. Nothing in it is meant for tasks:
	// sandboxed nodes get their directories (DATA/nodes) as open mounts, and
	// process nodes of a root installation keep theirs outside it (see
	// nodeRootDir), where non-admin task users can reach them. An
	// installation made by an older version (0711) is tightened here.
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	if err := os.Chmod(abs, 0o700); err != nil {
		return nil, fmt.Errorf("data directory permissions: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(abs, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := lockDataDir(f); err != nil {
		who := recordedHolder(f)
		f.Close()
		if who == "" {
			who = "another process"
		} else {
			who = "process " + who
		}
		return nil, fmt.Errorf("%w: %s is locked by %s; stop it or choose another --data directory", ErrDataDirInUse, abs, who)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return &dataDir{path: abs, lock: f}, nil
}

// deadHolderWait bounds how long openDataDir waits for a lock whose
// recorded holder has already exited.
var deadHolderWait = 10 * time.Second

// lockDataDir takes f's exclusive lock. When the lock is held but the
// process that took it (its pid is in the file) has exited, the lock is on
// its way out: an open description of the file outlives its process for as
// long as the kernel takes to tear down what the process left (a SIGKILLed
// `cobalt up` restarted at once by its supervisor or a test met this), so
// it tries again for up to deadHolderWait. A live holder fails at once.
func lockDataDir(f *os.File) error {
	deadline := time.Now().Add(deadHolderWait)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil || !errors.Is(err, syscall.EWOULDBLOCK) || holderAlive(f) || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// recordedHolder is the pid the lock's holder wrote in the lock file, or "".
func recordedHolder(f *os.File) string {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	return strings.TrimSpace(string(b[:n]))
}

// holderAlive says whether the pid written in the lock file names a live
// process (or cannot be read: then it is taken to be alive).
func holderAlive(f *os.File) bool {
	pid, err := strconv.Atoi(recordedHolder(f))
	if err != nil || pid <= 0 {
		return true
	}
	return syscall.Kill(pid, 0) != syscall.ESRCH
}

func (d *dataDir) file(name string) string { return filepath.Join(d.path, name) }

// close releases the lock.
func (d *dataDir) close() error {
	_ = d.lock.Truncate(0)
	return d.lock.Close()
}

// sealKey returns the 32-byte key that seals private keys at rest, creating it once.
func (d *dataDir) sealKey() ([]byte, error) {
	name := d.file(sealKeyFile)
	b, err := os.ReadFile(name)
	if err == nil {
		if len(b) != 32 {
			return nil, fmt.Errorf("%s: want 32 bytes, found %d", name, len(b))
		}
		return b, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	b = make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if err := pki.WriteFileAtomic(name, b, 0o600); err != nil {
		return nil, err
	}
	return b, nil
}

// adminCredentials is the admin service principal's client credential, kept in
// the data directory (0600) so that a restart publishes the same one.
type adminCredentials struct {
	ObjectID     string `json:"objectId"`
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
}

func (d *dataDir) loadAdmin() (adminCredentials, bool, error) {
	var a adminCredentials
	b, err := os.ReadFile(d.file(adminFile))
	if errors.Is(err, os.ErrNotExist) {
		return a, false, nil
	}
	if err != nil {
		return a, false, err
	}
	if err := json.Unmarshal(b, &a); err != nil {
		return a, false, fmt.Errorf("%s: %w", adminFile, err)
	}
	return a, true, nil
}

func (d *dataDir) saveAdmin(a adminCredentials) error {
	b, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return err
	}
	return pki.WriteFileAtomic(d.file(adminFile), append(b, '\n'), 0o600)
}

// loadPorts returns the listener ports of the previous run, if recorded.
func (d *dataDir) loadPorts() map[string]int {
	ports := map[string]int{}
	if b, err := os.ReadFile(d.file(portsFile)); err == nil {
		_ = json.Unmarshal(b, &ports)
	}
	return ports
}

// savePorts records the listener ports of this run.
func (d *dataDir) savePorts(ports map[string]int) error {
	b, err := json.Marshal(ports)
	if err != nil {
		return err
	}
	return pki.WriteFileAtomic(d.file(portsFile), b, 0o600)
}

// OpenInstallationStore opens the store of the installation in dir (its
// SQLite database, or the PostgreSQL store named in DIR/store.url) and returns
// it with the seal key, for administrative commands that run beside `cobalt up`.
func OpenInstallationStore(ctx context.Context, dir string) (store.Store, []byte, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, nil, err
	}
	d := &dataDir{path: abs}
	seal, err := os.ReadFile(d.file(sealKeyFile))
	if err != nil {
		return nil, nil, fmt.Errorf("read seal key (is %s a Cobalt data directory?): %w", abs, err)
	}
	dsn := ""
	if b, err := os.ReadFile(d.file(storeURLFile)); err == nil {
		dsn = strings.TrimSpace(string(b))
	}
	st, err := openStore(ctx, dsn, d.file(dbFile), nil, seal)
	if err != nil {
		return nil, nil, err
	}
	return st, seal, nil
}
