package sandbox

import (
	"fmt"
	"os"
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

// openPty opens a pseudo-terminal pair from the node's own devpts
// (/dev/ptmx) and gives the terminal to uid, as a login's terminal belongs
// to its user. The caller closes both.
func openPty(uid uint32, ws *unix.Winsize) (master, tty *os.File, err error) {
	mfd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open /dev/ptmx: %w", err)
	}
	// Non-blocking, the master joins the runtime's poller: closing it ends
	// a read that waits on a terminal something in the node still holds.
	if err := unix.SetNonblock(mfd, true); err != nil {
		unix.Close(mfd)
		return nil, nil, fmt.Errorf("pty: %w", err)
	}
	master = os.NewFile(uintptr(mfd), "/dev/ptmx")
	fail := func(what string, err error) (*os.File, *os.File, error) {
		master.Close()
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
	tty = os.NewFile(uintptr(sfd), fmt.Sprintf("/dev/pts/%d", n))
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
	return master, tty, nil
}
