package sandbox

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// sshHandshakeTimeout bounds an SSH connection's handshake and login.
const sshHandshakeTimeout = 30 * time.Second

// serveSSH accepts SSH connections until ln fails.
func (in *initState) serveSSH(ln net.Listener, cfg *ssh.ServerConfig) {
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
		go in.sshConn(c, cfg)
	}
}

func (in *initState) sshConn(c net.Conn, cfg *ssh.ServerConfig) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(sshHandshakeTimeout))
	sc, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	_ = c.SetDeadline(time.Time{})
	defer sc.Close()
	go ssh.DiscardRequests(reqs)
	name := sc.Permissions.Extensions["user"]
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only session channels")
			continue
		}
		// The user must still exist at every new session: a deleted or
		// expired user's open connection gets no new shell.
		u, ok := in.lookupLogin(name)
		if !ok {
			_ = nc.Reject(ssh.Prohibited, "the user no longer exists")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			continue
		}
		go in.sshSession(u, ch, chReqs)
	}
}

// sshSession serves one session: environment and terminal requests, then
// one exec or shell, run as the login user with the session's channel as
// its stdio, or with a terminal of the node when the client asked for one
// (ssh -t, an interactive login).
func (in *initState) sshSession(u loginUser, ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	var env []string
	var pty *ptyRequest
	for req := range reqs {
		switch req.Type {
		case "env":
			var kv struct{ Name, Value string }
			if ssh.Unmarshal(req.Payload, &kv) == nil && safeEnvName(kv.Name) {
				env = append(env, kv.Name+"="+kv.Value)
			}
			_ = req.Reply(true, nil)
		case "pty-req":
			p, err := parsePtyRequest(req.Payload)
			ok := err == nil && pty == nil
			if ok {
				pty = &p
			}
			_ = req.Reply(ok, nil)
		case "window-change":
			if w, err := parseWindowChange(req.Payload); err == nil && pty != nil {
				pty.Columns, pty.Rows, pty.Width, pty.Height = w.Columns, w.Rows, w.Width, w.Height
			}
			if req.WantReply {
				_ = req.Reply(false, nil)
			}
		case "exec", "shell":
			var command string
			if req.Type == "exec" {
				var p struct{ Command string }
				if ssh.Unmarshal(req.Payload, &p) != nil {
					_ = req.Reply(false, nil)
					continue
				}
				command = p.Command
			}
			_ = req.Reply(true, nil)
			var code int
			if pty != nil {
				code = in.runLoginPty(u, command, env, *pty, ch, reqs)
			} else {
				go refuseRequests(reqs)
				code = in.runLogin(u, command, env, ch)
			}
			var b [4]byte
			binary.BigEndian.PutUint32(b[:], uint32(code))
			_, _ = ch.SendRequest("exit-status", false, b[:])
			return
		default:
			if req.WantReply {
				_ = req.Reply(false, nil)
			}
		}
	}
}

// refuseRequests answers no to every request left on a session.
func refuseRequests(reqs <-chan *ssh.Request) {
	for r := range reqs {
		if r.WantReply {
			_ = r.Reply(false, nil)
		}
	}
}

// safeEnvName allows the environment a client may set (LANG, LC_*, TERM).
func safeEnvName(n string) bool {
	return n == "LANG" || n == "TERM" || strings.HasPrefix(n, "LC_")
}

// sessionID is the run id the init's reaper sees for SSH processes: no
// task has it (task ids are random and never 0).
const sessionID = 0

// loginCmd is command ("" for a shell) as u would run it at a login.
func loginCmd(u loginUser, command string, env []string) *exec.Cmd {
	home := filepath.Join("/home", u.Name)
	args := []string{"/bin/sh"}
	if command != "" {
		args = append(args, "-c", command)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = home
	cmd.Env = append([]string{"HOME=" + home, "USER=" + u.Name, "LOGNAME=" + u.Name, "SHELL=/bin/sh",
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Credential: loginCredential(u)}
	return cmd
}

// startLogin starts a login's process in its own keyring, known to the
// init's reaper as a session's.
func (in *initState) startLogin(cmd *exec.Cmd) error {
	in.startMu.RLock()
	defer in.startMu.RUnlock()
	if err := startWithOwnKeyring(cmd); err != nil {
		return err
	}
	in.mu.Lock()
	in.pids[cmd.Process.Pid] = sessionID
	in.mu.Unlock()
	return nil
}

// waitLogin waits for a started login's process and returns its exit code.
func (in *initState) waitLogin(cmd *exec.Cmd) int {
	err := cmd.Wait()
	in.mu.Lock()
	delete(in.pids, cmd.Process.Pid)
	in.mu.Unlock()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	if err != nil {
		return 255
	}
	return 0
}

// runLogin runs command ("" for a shell) as u in its own session and
// keyring, in the node's cgroup like every process of the node, and
// returns its exit code.
func (in *initState) runLogin(u loginUser, command string, env []string, ch ssh.Channel) int {
	cmd := loginCmd(u, command, env)
	cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
	// stdin is copied by hand: Wait would otherwise wait for the client to
	// close its side even after the process ended.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return 255
	}
	go func() {
		_, _ = io.Copy(stdin, ch)
		_ = stdin.Close()
	}()
	if err := in.startLogin(cmd); err != nil {
		_, _ = ch.Stderr().Write([]byte("cannot start the shell\r\n"))
		return 127
	}
	return in.waitLogin(cmd)
}

// ptyDrain bounds how long a login's terminal output is still relayed
// after its process ended, when something it started keeps the terminal.
const ptyDrain = 2 * time.Second

// runLoginPty runs command ("" for a shell) as runLogin does, on a new
// terminal of the node that is its controlling terminal; the channel is
// the terminal's other side (stderr joins stdout, as on any terminal), and
// window-change requests resize it.
func (in *initState) runLoginPty(u loginUser, command string, env []string, p ptyRequest, ch ssh.Channel, reqs <-chan *ssh.Request) int {
	master, tty, err := openPty(u.uid, winsize(p.Columns, p.Rows, p.Width, p.Height))
	if err != nil {
		go refuseRequests(reqs)
		_, _ = ch.Stderr().Write([]byte("cannot open a terminal\r\n"))
		return 255
	}
	go func() {
		for r := range reqs {
			if w, err := parseWindowChange(r.Payload); r.Type == "window-change" && err == nil {
				_ = master.resize(winsize(w.Columns, w.Rows, w.Width, w.Height))
			}
			if r.WantReply {
				_ = r.Reply(false, nil)
			}
		}
	}()
	if p.Term != "" {
		env = append(env, "TERM="+p.Term)
	}
	cmd := loginCmd(u, command, env)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr.Setctty, cmd.SysProcAttr.Ctty = true, 0
	err = in.startLogin(cmd)
	tty.Close()
	if err != nil {
		master.Close()
		_, _ = ch.Stderr().Write([]byte("cannot start the shell\r\n"))
		return 127
	}
	out, stop := make(chan struct{}), make(chan struct{})
	go func() {
		master.copyOut(ch, stop)
		close(out)
	}()
	go func() { _, _ = io.Copy(master, ch) }()
	code := in.waitLogin(cmd)
	select {
	case <-out:
	case <-time.After(ptyDrain):
		close(stop)
		<-out
	}
	master.Close()
	return code
}
