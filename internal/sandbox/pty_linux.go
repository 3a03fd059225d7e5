package sandbox

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"
)

// ptyRequest is what a client's "pty-req" asks for (RFC 4254 6.2): the
// terminal type and its size. The encoded terminal modes are not applied:
// the terminal starts in the kernel's defaults, which is what a login on a
// console gets.
type ptyRequest struct {
	Term          string
	Columns, Rows uint32
	Width, Height uint32
	Modes         string
}

// windowChange is a "window-change" request's payload (RFC 4254 6.7).
type windowChange struct {
	Columns, Rows uint32
	Width, Height uint32
}

// parsePtyRequest decodes a pty-req payload; a terminal name with a
// control character or of more than 64 bytes is refused, as it goes into
// the login's environment.
func parsePtyRequest(payload []byte) (ptyRequest, error) {
	var p ptyRequest
	if err := ssh.Unmarshal(payload, &p); err != nil {
		return p, err
	}
	if len(p.Term) > 64 {
		return p, fmt.Errorf("terminal name too long")
	}
	for _, c := range p.Term {
		if c < 0x21 || c > 0x7e {
			return p, fmt.Errorf("bad terminal name")
		}
	}
	return p, nil
}

// parseWindowChange decodes a window-change payload.
func parseWindowChange(payload []byte) (windowChange, error) {
	var w windowChange
	err := ssh.Unmarshal(payload, &w)
	return w, err
}

// winsize is the kernel's form of a terminal size; sizes beyond what the
// kernel holds are clamped.
func winsize(cols, rows, w, h uint32) *unix.Winsize {
	c16 := func(v uint32) uint16 { return uint16(min(v, 0xffff)) }
	return &unix.Winsize{Col: c16(cols), Row: c16(rows), Xpixel: c16(w), Ypixel: c16(h)}
}

// ptyMaster is the master side of a login's terminal. It is read and
// written with poll(2) on its own rather than through the runtime's poller,
// so that nothing about the node's init (where it runs) decides whether a
// read waits; writes, resizes and Close are serialized so that none touches
// the descriptor once closed.
type ptyMaster struct {
	mu sync.Mutex
	fd int // -1 once closed
}

// ptyPoll is how long one poll of the master waits before its caller looks
// whether it should stop.
const ptyPoll = 100 * time.Millisecond

// Close closes the master; the reader must have returned.
func (m *ptyMaster) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fd < 0 {
		return nil
	}
	err := unix.Close(m.fd)
	m.fd = -1
	return err
}

// resize sets the terminal's size.
func (m *ptyMaster) resize(ws *unix.Winsize) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fd < 0 {
		return os.ErrClosed
	}
	return unix.IoctlSetWinsize(m.fd, unix.TIOCSWINSZ, ws)
}

// Write writes b to the terminal's input, waiting while it is full.
func (m *ptyMaster) Write(b []byte) (int, error) {
	done := 0
	for done < len(b) {
		n, err := m.writeOnce(b[done:])
		done += n
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

func (m *ptyMaster) writeOnce(b []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fd < 0 {
		return 0, os.ErrClosed
	}
	n, err := unix.Write(m.fd, b)
	if err == unix.EAGAIN || err == unix.EINTR {
		_, _ = unix.Poll([]unix.PollFd{{Fd: int32(m.fd), Events: unix.POLLOUT}}, int(ptyPoll/time.Millisecond))
		return max(n, 0), nil
	}
	return max(n, 0), err
}

// copyOut copies the terminal's output to w until no process holds the
// terminal (EIO), w fails, or stop is closed.
func (m *ptyMaster) copyOut(w io.Writer, stop <-chan struct{}) {
	fd := m.fd
	buf := make([]byte, 32<<10)
	for {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		k, err := unix.Poll(pfd, int(ptyPoll/time.Millisecond))
		if err != nil && err != unix.EINTR {
			return
		}
		if k == 0 || err != nil {
			select {
			case <-stop:
				return
			default:
				continue
			}
		}
		n, err := unix.Read(fd, buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			continue
		}
		if err == unix.EAGAIN || err == unix.EINTR {
			continue
		}
		return // EIO: the terminal's last holder closed it
	}
}

// openPty opens a pseudo-terminal pair from the node's own devpts
// (/dev/ptmx) and gives the terminal to uid, as a login's terminal belongs
// to its user. The caller closes both.
func openPty(uid uint32, ws *unix.Winsize) (*ptyMaster, *os.File, error) {
	mfd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open /dev/ptmx: %w", err)
	}
	fail := func(what string, err error) (*ptyMaster, *os.File, error) {
		unix.Close(mfd)
		return nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	var unlock int32
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(mfd), unix.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		return fail("unlock the pty", e)
	}
	n, err := unix.IoctlGetUint32(mfd, unix.TIOCGPTN)
	if err != nil {
		return fail("pty number", err)
	}
	// TIOCGPTPEER opens the terminal through the master's own devpts, so
	// no path can be swapped under us.
	r, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(mfd), unix.TIOCGPTPEER, uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	sfd := int(r)
	if e != 0 {
		sfd, err = unix.Open(fmt.Sprintf("/dev/pts/%d", n), unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fail("open the terminal", err)
		}
	}
	tty := os.NewFile(uintptr(sfd), fmt.Sprintf("/dev/pts/%d", n))
	if err := unix.Fchown(sfd, int(uid), int(uid)); err != nil {
		tty.Close()
		return fail("give the terminal to its user", err)
	}
	if err := unix.Fchmod(sfd, 0o620); err != nil {
		tty.Close()
		return fail("terminal mode", err)
	}
	if ws != nil {
		if err := unix.IoctlSetWinsize(mfd, unix.TIOCSWINSZ, ws); err != nil {
			tty.Close()
			return fail("terminal size", err)
		}
	}
	return &ptyMaster{fd: mfd}, tty, nil
}
