package publicaddr

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
)

// Default is the public address when none is given.
const Default = "127.0.0.1"

// Validate checks that addr is an IP address or a DNS name, without a port
// or a scheme.
func Validate(addr string) error {
	if addr == "" {
		return errors.New("public address: empty")
	}
	if net.ParseIP(addr) != nil {
		return nil
	}
	if len(addr) > 253 {
		return errors.New("public address: name too long")
	}
	for _, label := range strings.Split(strings.TrimSuffix(addr, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("public address %q: want an IP address or a DNS name", addr)
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("public address %q: want an IP address or a DNS name", addr)
			}
		}
	}
	return nil
}

// IsLoopback reports whether addr is a loopback IP or "localhost".
func IsLoopback(addr string) bool {
	if strings.EqualFold(addr, "localhost") {
		return true
	}
	ip := net.ParseIP(addr)
	return ip != nil && ip.IsLoopback()
}

// HostPort renders public with port ("[::1]:443" for IPv6).
func HostPort(public string, port int) string {
	if public == "" {
		public = Default
	}
	return net.JoinHostPort(public, strconv.Itoa(port))
}

// Port returns the TCP port a listener is bound to.
func Port(l net.Listener) int {
	if a, ok := l.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

// Listen binds port (0: a free one) on 127.0.0.1 and on public. With port 0
// the loopback listener chooses the port and the public one takes the same;
// when that is taken on the public address another is tried.
func Listen(public string, port int) (net.Listener, error) {
	if public == "" || IsLoopback(public) {
		return net.Listen("tcp", net.JoinHostPort(Default, strconv.Itoa(port)))
	}
	if net.ParseIP(public) == nil {
		// A DNS name: every interface, loopback among them.
		return net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(port)))
	}
	var lastErr error
	for range 16 {
		lo, err := net.Listen("tcp", net.JoinHostPort(Default, strconv.Itoa(port)))
		if err != nil {
			return nil, err
		}
		pub, err := net.Listen("tcp", net.JoinHostPort(public, strconv.Itoa(Port(lo))))
		if err == nil {
			return Join(lo, pub), nil
		}
		_ = lo.Close()
		lastErr = err
		if port != 0 {
			break
		}
	}
	return nil, fmt.Errorf("listen on %s: %w", public, lastErr)
}

// Join returns one listener that accepts the connections of all of ls; its
// Addr is that of the first, and closing it closes them all.
func Join(ls ...net.Listener) net.Listener {
	m := &multi{ls: ls, conns: make(chan accepted), done: make(chan struct{})}
	for _, l := range ls {
		go m.accept(l)
	}
	return m
}

type accepted struct {
	c   net.Conn
	err error
}

type multi struct {
	ls    []net.Listener
	conns chan accepted
	done  chan struct{}
	once  sync.Once
}

func (m *multi) accept(l net.Listener) {
	for {
		c, err := l.Accept()
		var ne net.Error
		if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
			// A closed listener ends; the caller sees the error once all
			// are closed, through Close.
			select {
			case m.conns <- accepted{err: err}:
			case <-m.done:
			}
			return
		}
		if err != nil {
			continue
		}
		select {
		case m.conns <- accepted{c: c}:
		case <-m.done:
			_ = c.Close()
			return
		}
	}
}

// Accept returns the next connection from any of the listeners.
func (m *multi) Accept() (net.Conn, error) {
	select {
	case a := <-m.conns:
		if a.err != nil {
			_ = m.Close()
		}
		return a.c, a.err
	case <-m.done:
		return nil, net.ErrClosed
	}
}

// Close closes every listener.
func (m *multi) Close() error {
	var err error
	m.once.Do(func() {
		close(m.done)
		for _, l := range m.ls {
			err = errors.Join(err, l.Close())
		}
	})
	return err
}

// Addr is the first listener's address.
func (m *multi) Addr() net.Addr { return m.ls[0].Addr() }
