//go:build linux

package agent

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/cobaltbatch/cobalt/internal/logkey"
	"github.com/cobaltbatch/cobalt/internal/publicaddr"
	"github.com/cobaltbatch/cobalt/internal/sandbox"
)

// sshHostKey returns the node's SSH host key (OpenSSH PEM), made once and
// kept beside the node's state file, outside the node's directory, so that
// nothing in the node can read it through the files API and the node keeps
// its host identity across restarts. Without a state file it returns nil
// and the node makes one per boot.
func (a *Agent) sshHostKey() ([]byte, error) {
	if a.cfg.StateFile == "" {
		return nil, nil
	}
	path := a.cfg.StateFile + ".ssh_host_ed25519_key"
	if b, err := os.ReadFile(path); err == nil {
		if _, err := ssh.ParsePrivateKey(b); err == nil {
			return b, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	blk, err := ssh.MarshalPrivateKey(k, "")
	if err != nil {
		return nil, err
	}
	b := pem.EncodeToMemory(blk)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, err
	}
	return b, nil
}

// serveLogin listens on a free port of the host, on 127.0.0.1 and on addr
// (the node's host address, as publicaddr binds it), and forwards each
// connection to the node's SSH server, dialled inside the node's network
// namespace. It returns the host port.
func (n *netnsIsolation) serveLogin(addr string) (int, error) {
	ln, err := publicaddr.Listen(addr, 0)
	if err != nil && !publicaddr.IsLoopback(addr) && addr != "" {
		// The host's address is not this machine's (behind NAT): loopback
		// still serves logins from the host itself.
		n.logger.Warn("remote login on the host address", logkey.Err, err)
		ln, err = publicaddr.Listen("", 0)
	}
	if err != nil {
		return 0, fmt.Errorf("remote login listener: %w", err)
	}
	n.mu.Lock()
	n.lns = append(n.lns, ln)
	n.mu.Unlock()
	target := "127.0.0.1:" + strconv.Itoa(sandbox.SSHPort)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				return
			}
			if !n.track(c) {
				c.Close()
				return
			}
			go n.spliceIn(c, target)
		}
	}()
	return publicaddr.Port(ln), nil
}

// spliceIn joins c to target dialled inside the node's namespace.
func (n *netnsIsolation) spliceIn(c net.Conn, target string) {
	defer n.untrack(c)
	var out net.Conn
	err := inNamespace(n.path, func() error {
		var err error
		out, err = net.DialTimeout("tcp4", target, 10*time.Second)
		return err
	})
	if err != nil {
		n.logger.Debug("remote login dial", logkey.Err, err)
		return
	}
	if !n.track(out) {
		out.Close()
		return
	}
	defer n.untrack(out)
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			k, err := src.Read(buf)
			if k > 0 {
				if _, werr := dst.Write(buf[:k]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		closeWrite(dst)
		done <- struct{}{}
	}
	go cp(out, c)
	go cp(c, out)
	<-done
	<-done
}
