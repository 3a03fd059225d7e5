package sandbox

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// Login users (Batch's node users) get uids from firstLoginUID on; an admin
// login user is node root, as the pool's admin accounts are.
const (
	firstLoginUID = 10000
	lastLoginUID  = 19999
	// SSHPort is the node's SSH server port inside its network namespace.
	SSHPort = 22
	// etcDir is where the node's current passwd and group are written; they
	// are bound over /etc/passwd and /etc/group once.
	etcDir = "/run/.cobalt-etc"
)

// loginUser is a login user of the node with its uid.
type loginUser struct {
	nodeproto.NodeUser
	uid uint32
}

// loginState is the node's login users and what serves them.
type loginState struct {
	mu      sync.Mutex
	users   map[string]loginUser
	uids    map[string]uint32 // uids handed out, by name, for the node's life
	nextUID uint32
	bound   bool // etcDir's files are bound over /etc
}

// loginUserList returns the login users sorted by name.
func (in *initState) loginUserList() []loginUser {
	in.login.mu.Lock()
	defer in.login.mu.Unlock()
	out := make([]loginUser, 0, len(in.login.users))
	for _, u := range in.login.users {
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// lookupLogin returns the login user name, if it exists and has not expired.
func (in *initState) lookupLogin(name string) (loginUser, bool) {
	in.login.mu.Lock()
	u, ok := in.login.users[name]
	in.login.mu.Unlock()
	if !ok || !time.Now().Before(u.ExpiryTime) {
		return loginUser{}, false
	}
	return u, true
}

// setLoginUsers makes the node's login users us: their passwd and group
// entries and home directories. A name that clashes with one of the node's
// own accounts is skipped.
func (in *initState) setLoginUsers(us []nodeproto.NodeUser) error {
	in.login.mu.Lock()
	if in.login.uids == nil {
		in.login.uids, in.login.nextUID = map[string]uint32{}, firstLoginUID
	}
	users := map[string]loginUser{}
	for _, u := range us {
		if !validUserName(u.Name) || slices.ContainsFunc(in.cfg.Users, func(p User) bool { return p.Name == u.Name }) {
			continue
		}
		uid := uint32(0)
		if !u.Admin {
			var ok bool
			if uid, ok = in.login.uids[u.Name]; !ok {
				if in.login.nextUID > lastLoginUID {
					continue
				}
				uid = in.login.nextUID
				in.login.nextUID++
				in.login.uids[u.Name] = uid
			}
		}
		users[u.Name] = loginUser{NodeUser: u, uid: uid}
	}
	in.login.users = users
	in.login.mu.Unlock()
	for _, u := range users {
		home := filepath.Join("/home", u.Name)
		if err := os.Mkdir(home, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
		if err := os.Lchown(home, int(u.uid), int(u.uid)); err != nil {
			return err
		}
	}
	return in.writeEtc()
}

// writeEtc writes the node's passwd and group under etcDir and, the first
// time, binds them over /etc (read-only); later writes show through the
// binds. Only node root can write etcDir.
func (in *initState) writeEtc() error {
	passwd, group := in.passwdGroup()
	if err := os.MkdirAll(etcDir, 0o755); err != nil {
		return err
	}
	for name, content := range map[string]string{"passwd": passwd, "group": group} {
		f, err := os.OpenFile(filepath.Join(etcDir, name), os.O_WRONLY|os.O_CREATE|os.O_TRUNC|unix.O_NOFOLLOW, 0o644)
		if err != nil {
			return err
		}
		_, err = f.WriteString(content)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	in.login.mu.Lock()
	defer in.login.mu.Unlock()
	if in.login.bound {
		return nil
	}
	for _, name := range []string{"passwd", "group"} {
		if _, err := os.Stat("/etc/" + name); err != nil {
			continue
		}
		if err := bindReadOnly(filepath.Join(etcDir, name), "/etc/"+name, 0); err != nil {
			return fmt.Errorf("bind /etc/%s: %w", name, err)
		}
	}
	in.login.bound = true
	return nil
}

// reimage puts the node back to its image: every process of the node but
// the init and the run asking ends, the writable file systems are emptied
// and the Batch layout made again. Login users go with /home.
func (in *initState) reimage(self uint64) error {
	in.mu.Lock()
	for id, cancel := range in.tasks {
		if id != self {
			cancel()
		}
	}
	in.mu.Unlock()
	// Every other process of the node's PID namespace: the init is PID 1,
	// which kill(-1) spares.
	_ = unix.Kill(-1, unix.SIGKILL)
	in.login.mu.Lock()
	in.login.users = nil
	in.login.mu.Unlock()
	var errs []error
	for _, dir := range []string{"/tmp", "/home", "/var"} {
		errs = append(errs, emptyDir(dir))
	}
	// The pool's blob mounts stay: they are the host agent's, made once.
	errs = append(errs, emptyDir(NodeRoot, "fsmounts"))
	// /run keeps etcDir: its files are bound over /etc.
	errs = append(errs, emptyDir("/run", filepath.Base(etcDir)))
	if err := os.Mkdir("/var/tmp", 0o1777); err == nil {
		_ = os.Chmod("/var/tmp", 0o1777)
	}
	errs = append(errs, in.writeEtc(), in.batchLayout())
	return errors.Join(errs...)
}

// emptyDir removes everything in dir but the names in keep. It never
// crosses into another file system: a mount point inside (a blob mount, a
// container's rootfs) and what it holds stay.
func emptyDir(dir string, keep ...string) error {
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range ents {
		if slices.Contains(keep, e.Name()) {
			continue
		}
		if err := removeSameDev(filepath.Join(dir, e.Name()), st.Dev); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeSameDev removes path and, for a directory, what it holds, when it
// is on device dev; a mount point (another device) is left, and so are the
// directories above it.
func removeSameDev(path string, dev uint64) error {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return err
	}
	if st.Dev != dev {
		return nil
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		ents, err := os.ReadDir(path)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if err := removeSameDev(filepath.Join(path, e.Name()), dev); err != nil {
				return err
			}
		}
	}
	if err := unix.Unlinkat(unix.AT_FDCWD, path, 0); err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	} else if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return err
	}
	if err := unix.Rmdir(path); err != nil && !errors.Is(err, unix.ENOTEMPTY) && !errors.Is(err, unix.EBUSY) {
		return err
	}
	return nil
}

// startSSH serves SSH on the node's SSHPort with the host key of the
// node's config (one made for this boot when it has none).
func (in *initState) startSSH() error {
	var signer ssh.Signer
	var err error
	if len(in.cfg.SSHHostKey) > 0 {
		signer, err = ssh.ParsePrivateKey(in.cfg.SSHHostKey)
	} else {
		var k ed25519.PrivateKey
		if _, k, err = ed25519.GenerateKey(rand.Reader); err == nil {
			signer, err = ssh.NewSignerFromKey(k)
		}
	}
	if err != nil {
		return fmt.Errorf("ssh host key: %w", err)
	}
	ln, err := net.Listen("tcp", fmt.Sprintf(":%d", SSHPort))
	if err != nil {
		return err
	}
	cfg := &ssh.ServerConfig{
		PasswordCallback:  in.checkPassword,
		PublicKeyCallback: in.checkKey,
		MaxAuthTries:      6,
		ServerVersion:     "SSH-2.0-CobaltNode",
	}
	cfg.AddHostKey(signer)
	go in.serveSSH(ln, cfg)
	return nil
}

// errLogin is every refused login: an unknown, expired or deleted user and
// a wrong password or key look the same.
var errLogin = errors.New("permission denied")

func (in *initState) checkPassword(c ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
	u, ok := in.lookupLogin(c.User())
	if !ok || u.PasswordHash == "" {
		return nil, errLogin
	}
	if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), pw) != nil {
		return nil, errLogin
	}
	return &ssh.Permissions{Extensions: map[string]string{"user": u.Name}}, nil
}

func (in *initState) checkKey(c ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	u, ok := in.lookupLogin(c.User())
	if !ok || u.SSHPublicKey == "" {
		return nil, errLogin
	}
	want, _, _, _, err := ssh.ParseAuthorizedKey([]byte(u.SSHPublicKey))
	if err != nil || subtle.ConstantTimeCompare(want.Marshal(), key.Marshal()) != 1 {
		return nil, errLogin
	}
	return &ssh.Permissions{Extensions: map[string]string{"user": u.Name}}, nil
}

// loginCredential is the credential of a login user's processes (nil: node root).
func loginCredential(u loginUser) *syscall.Credential {
	if u.uid == 0 {
		return nil
	}
	return &syscall.Credential{Uid: u.uid, Gid: u.uid, NoSetGroups: true}
}
