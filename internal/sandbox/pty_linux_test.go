package sandbox

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"github.com/cobaltbatch/cobalt/internal/testenv"
)

func TestParsePtyRequest(t *testing.T) {
	ok := ssh.Marshal(ptyRequest{Term: "xterm-256color", Columns: 120, Rows: 40})
	p, err := parsePtyRequest(ok)
	if err != nil || p.Term != "xterm-256color" || p.Columns != 120 || p.Rows != 40 {
		t.Fatalf("%+v %v", p, err)
	}
	for name, payload := range map[string][]byte{
		"truncated":        ok[:5],
		"newline in TERM":  ssh.Marshal(ptyRequest{Term: "xterm\nLD_PRELOAD=/x"}),
		"space in TERM":    ssh.Marshal(ptyRequest{Term: "x y"}),
		"long TERM":        ssh.Marshal(ptyRequest{Term: strings.Repeat("x", 65)}),
		"nothing":          nil,
		"window too short": ssh.Marshal(windowChange{})[:12],
	} {
		if _, err := parsePtyRequest(payload); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if w, err := parseWindowChange(ssh.Marshal(windowChange{Columns: 80, Rows: 24})); err != nil || w.Columns != 80 || w.Rows != 24 {
		t.Errorf("window change %+v %v", w, err)
	}
	if ws := winsize(1<<20, 5, 0, 0); ws.Col != 0xffff || ws.Row != 5 {
		t.Errorf("winsize %+v", ws)
	}
}

// FuzzParsePtyRequest: a client's pty-req and window-change payloads never
// crash the node's SSH server, and an accepted terminal name is printable.
func FuzzParsePtyRequest(f *testing.F) {
	f.Add(ssh.Marshal(ptyRequest{Term: "xterm", Columns: 80, Rows: 24, Modes: "\x00"}))
	f.Add(ssh.Marshal(windowChange{Columns: 80, Rows: 24}))
	f.Add([]byte{0, 0, 0, 255})
	f.Fuzz(func(t *testing.T, b []byte) {
		if p, err := parsePtyRequest(b); err == nil {
			for _, c := range p.Term {
				if c <= ' ' || c > '~' {
					t.Fatalf("accepted %q", p.Term)
				}
			}
		}
		_, _ = parseWindowChange(b)
	})
}

// TestOpenPty opens a terminal pair as a login gets it: the terminal is a
// tty owned by its user, with the client's size, and what is written on it
// comes out of the master.
func TestOpenPty(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "root, to give the terminal to another user")
	}
	if _, err := os.Stat("/dev/ptmx"); err != nil {
		testenv.Unavailable(t, "/dev/ptmx")
	}
	master, tty, err := openPty(10001, winsize(100, 30, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	defer tty.Close()
	if _, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS); err != nil {
		t.Fatalf("not a terminal: %v", err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(tty.Fd()), &st); err != nil || st.Uid != 10001 || st.Mode&0o777 != 0o620 {
		t.Fatalf("terminal owner %d mode %o (%v)", st.Uid, st.Mode&0o777, err)
	}
	ws, err := unix.IoctlGetWinsize(int(tty.Fd()), unix.TIOCGWINSZ)
	if err != nil || ws.Col != 100 || ws.Row != 30 {
		t.Fatalf("size %+v %v", ws, err)
	}
	// The client's input reaches the terminal.
	if _, err := master.Write([]byte("in\n")); err != nil {
		t.Fatal(err)
	}
	in := make([]byte, 16)
	if n, err := tty.Read(in); err != nil || string(in[:n]) != "in\n" {
		t.Fatalf("terminal read %q %v", in[:n], err)
	}
	// What is written on the terminal comes out, also after it is closed.
	if _, err := tty.Write([]byte("hi\n")); err != nil {
		t.Fatal(err)
	}
	tty.Close()
	var out bytes.Buffer
	master.copyOut(&out, make(chan struct{}))
	if !strings.Contains(out.String(), "hi") {
		t.Fatalf("master output %q", out.String())
	}
	if err := master.resize(winsize(1, 1, 0, 0)); err != nil {
		t.Errorf("resize: %v", err)
	}
	master.Close()
	if _, err := master.Write([]byte("x")); err == nil {
		t.Error("a write after close succeeded")
	}
}
