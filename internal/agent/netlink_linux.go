//go:build linux

package agent

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// attachNamespace names the network namespace of pid as `ip netns attach`
// does (a bind mount of /proc/PID/ns/net on /run/netns/NAME), without
// starting ip, when /run/netns is already set up as ip leaves it (a
// mount point); otherwise it lets ip set it up.
func attachNamespace(name string, pid int) error {
	if !isMountPoint(NetnsDir) {
		return runIP("netns", "attach", name, strconv.Itoa(pid))
	}
	path := filepath.Join(NetnsDir, name)
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o444)
	if err != nil {
		return fmt.Errorf("attach netns %s: %w", name, err)
	}
	f.Close()
	if err := unix.Mount("/proc/"+strconv.Itoa(pid)+"/ns/net", path, "none", unix.MS_BIND, ""); err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("attach netns %s: %w", name, err)
	}
	return nil
}

// isMountPoint reports whether dir is a mount point (its device differs
// from its parent's, or /proc/self/mountinfo lists it).
func isMountPoint(dir string) bool {
	var st, parent unix.Stat_t
	if unix.Stat(dir, &st) != nil || unix.Stat(filepath.Dir(dir), &parent) != nil {
		return false
	}
	if st.Dev != parent.Dev {
		return true
	}
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		// id parent major:minor root mount-point ...
		if f := strings.Fields(line); len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}

// loopbackWithIMDS brings lo up and adds the IMDS address to it, in the
// network namespace of the calling thread, through rtnetlink (what `ip link
// set lo up` and `ip addr add 169.254.169.254/32 dev lo` do), and each of
// the extra addresses (nil ones skipped) as a host address.
func loopbackWithIMDS(extra ...net.IP) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		return err
	}
	ne := binary.NativeEndian
	// RTM_NEWLINK: lo up.
	link := make([]byte, unix.SizeofIfInfomsg)
	link[0] = unix.AF_UNSPEC
	ne.PutUint32(link[4:], uint32(lo.Index))
	ne.PutUint32(link[8:], unix.IFF_UP)
	ne.PutUint32(link[12:], unix.IFF_UP)
	if err := netlinkDo(fd, 1, unix.RTM_NEWLINK, 0, link); err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	// RTM_NEWADDR: 169.254.169.254/32 on lo, and the extra addresses.
	ips := []net.IP{net.ParseIP(IMDSAddress)}
	for _, ip := range extra {
		if ip != nil {
			ips = append(ips, ip)
		}
	}
	for i, ip := range ips {
		family, bits := byte(unix.AF_INET), byte(32)
		raw := []byte(ip.To4())
		if raw == nil {
			family, bits, raw = unix.AF_INET6, 128, ip.To16()
		}
		addr := make([]byte, unix.SizeofIfAddrmsg)
		addr[0], addr[1] = family, bits
		ne.PutUint32(addr[4:], uint32(lo.Index))
		for _, typ := range []uint16{unix.IFA_LOCAL, unix.IFA_ADDRESS} {
			attr := make([]byte, unix.SizeofRtAttr+len(raw))
			ne.PutUint16(attr[0:], uint16(len(attr)))
			ne.PutUint16(attr[2:], typ)
			copy(attr[4:], raw)
			addr = append(addr, attr...)
		}
		if err := netlinkDo(fd, uint32(2+i), unix.RTM_NEWADDR, unix.NLM_F_CREATE|unix.NLM_F_EXCL, addr); err != nil {
			return fmt.Errorf("add %s to lo: %w", ip, err)
		}
	}
	return nil
}

// netlinkDo sends one request and waits for its acknowledgement.
func netlinkDo(fd int, seq uint32, typ uint16, flags uint16, body []byte) error {
	ne := binary.NativeEndian
	msg := make([]byte, unix.NLMSG_HDRLEN, unix.NLMSG_HDRLEN+len(body))
	msg = append(msg, body...)
	ne.PutUint32(msg[0:], uint32(len(msg)))
	ne.PutUint16(msg[4:], typ)
	ne.PutUint16(msg[6:], unix.NLM_F_REQUEST|unix.NLM_F_ACK|flags)
	ne.PutUint32(msg[8:], seq)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	buf := make([]byte, 8192)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return err
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.Header.Seq != seq || m.Header.Type != unix.NLMSG_ERROR {
				continue
			}
			if len(m.Data) < 4 {
				return errors.New("short netlink error")
			}
			if code := int32(ne.Uint32(m.Data[:4])); code != 0 {
				return syscall.Errno(-code)
			}
			return nil
		}
	}
}
