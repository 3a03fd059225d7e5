package e2e

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/batch/azbatch"
	"golang.org/x/crypto/ssh"

	"github.com/cobaltbatch/cobalt/internal/agent"
	"github.com/cobaltbatch/cobalt/internal/server"
	"github.com/cobaltbatch/cobalt/internal/testenv"
)

// remoteLoginTestAddr is the public address of TestRemoteLoginTerminal, on
// an interface inside the test's own loopback-only namespace.
const remoteLoginTestAddr = "10.77.3.1"

// sshPty logs in to addr and runs command on a terminal of the given size
// (command "" starts a shell and types script into it).
func sshPty(addr, user, password, command, script string) (string, error) {
	cfg := &ssh.ClientConfig{User: user, Auth: []ssh.AuthMethod{ssh.Password(password)}, Timeout: 10 * time.Second,
		HostKeyCallback: ssh.InsecureIgnoreHostKey()}
	c, err := ssh.Dial("tcp", addr, cfg)
	if err != nil {
		return "", err
	}
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		return "", err
	}
	defer s.Close()
	if err := s.RequestPty("xterm-256color", 30, 100, ssh.TerminalModes{ssh.ECHO: 0}); err != nil {
		return "", fmt.Errorf("pty: %w", err)
	}
	// One buffer behind a lock: the session copies stdout and stderr
	// from two goroutines.
	var out lockedBuffer
	s.Stdout, s.Stderr = &out, &out
	if command != "" {
		err = s.Run(command)
		return out.String(), err
	}
	s.Stdin = strings.NewReader(script)
	if err := s.Shell(); err != nil {
		return "", err
	}
	err = s.Wait()
	return out.String(), err
}

// lockedBuffer is a bytes.Buffer several goroutines write.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRemoteLoginTerminal: with --public-address, remoteloginsettings
// (azbatch) names the public address and the node's SSH server answers
// there and on 127.0.0.1; a session that asks for a terminal (x/crypto/ssh
// and OpenSSH's ssh -tt) gets one of the node's, owned by the user, with
// the client's size and TERM, as its controlling terminal; without one the
// session still has none.
func TestRemoteLoginTerminal(t *testing.T) {
	if agent.DefaultIsolation() != agent.IsolationNetns {
		testenv.Unavailable(t, "node sandboxes are not available here")
	}
	testenv.AddAddresses(t, "rlpub0", remoteLoginTestAddr)
	e := startWith(t, server.Options{Isolation: "netns", PublicAddress: remoteLoginTestAddr})
	c := ctx(t)
	bc := e.batchClient(t, e.plainPool(t, c, "pt", 1, 1))
	node := deref(e.waitIdleNode(t, c, bc, "pt").ID)
	addr := loginAddr(t, c, bc, "pt", node)
	host, port, _ := net.SplitHostPort(addr)
	if host != remoteLoginTestAddr {
		t.Fatalf("remoteLoginIPAddress %s, want the public address %s", host, remoteLoginTestAddr)
	}
	if _, err := bc.CreateNodeUser(c, "pt", node, azbatch.CreateNodeUserContent{Name: to.Ptr("tina"), Password: to.Ptr("tina-Pw-1")}, nil); err != nil {
		t.Fatalf("add user: %v", err)
	}

	// On the public address, exec on a terminal.
	var out string
	eventually(t, "tina logs in with a terminal", func() error {
		var err error
		out, err = sshPty(addr, "tina", "tina-Pw-1", `tty; echo "term=$TERM"; stty size; stat -c %U "$(tty)"; (: </dev/tty) 2>/dev/null && echo ctty-ok`, "")
		return err
	})
	t.Logf("exec on a terminal: %q", out)
	if !strings.Contains(out, "/dev/pts/") || !strings.Contains(out, "term=xterm-256color") || !strings.Contains(out, "30 100") ||
		!strings.Contains(out, "tina") || !strings.Contains(out, "ctty-ok") {
		t.Errorf("exec on a terminal: %q", out)
	}
	// On 127.0.0.1, an interactive shell on a terminal.
	out, err := sshPty(net.JoinHostPort("127.0.0.1", port), "tina", "tina-Pw-1", "", "tty\nexit 3\n")
	t.Logf("shell on a terminal: %q %v", out, err)
	var ee *ssh.ExitError
	if !strings.Contains(out, "/dev/pts/") || !errors.As(err, &ee) || ee.ExitStatus() != 3 {
		t.Errorf("shell on a terminal: %q %v", out, err)
	}
	// Without a terminal, none.
	if out, _, _ := sshRun(addr, "tina", ssh.Password("tina-Pw-1"), "tty"); !strings.Contains(out, "not a tty") {
		t.Errorf("exec without a terminal: %q", out)
	}
	// Debian's OpenSSH client with ssh -tt, by key (a password would need
	// a terminal of our own).
	path, err := exec.LookPath("ssh")
	if err != nil {
		testenv.Unavailable(t, "the OpenSSH client (openssh-client)")
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(key)
	if _, err := bc.CreateNodeUser(c, "pt", node, azbatch.CreateNodeUserContent{Name: to.Ptr("kim"),
		SSHPublicKey: to.Ptr(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))}, nil); err != nil {
		t.Fatalf("add key user: %v", err)
	}
	blk, _ := ssh.MarshalPrivateKey(key, "")
	keyFile := filepath.Join(t.TempDir(), "id")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(blk), 0o600); err != nil {
		t.Fatal(err)
	}
	eventually(t, "OpenSSH ssh -tt", func() error {
		cmd := exec.CommandContext(c, path, "-tt", "-F", "/dev/null", "-i", keyFile, "-p", port, "-o", "BatchMode=yes",
			"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "kim@"+remoteLoginTestAddr, "tty")
		if b, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(b), "/dev/pts/") {
			return fmt.Errorf("%v %s", err, b)
		}
		return nil
	})
}
