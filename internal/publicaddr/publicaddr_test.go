package publicaddr

import (
	"io"
	"net"
	"strconv"
	"testing"

	"github.com/cobaltbatch/cobalt/internal/testenv"
)

// The tests bind a public address inside the loopback-only namespace the
// test binary runs in, on a dummy interface they add there.
func TestMain(m *testing.M) { testenv.LoopbackOnly(m) }

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1", true}, {"10.0.0.7", true}, {"::1", true}, {"fd00::1", true},
		{"cobalt.example.com", true}, {"host-1", true}, {"cobalt.example.com.", true},
		{"", false}, {"10.0.0.7:443", false}, {"https://x", false}, {"a..b", false}, {"-a.b", false},
		{"a b", false}, {"a/b", false}, {string(make([]byte, 300)), false},
	} {
		if err := Validate(tc.addr); (err == nil) != tc.ok {
			t.Errorf("Validate(%q) = %v, want ok=%v", tc.addr, err, tc.ok)
		}
	}
}

func TestHostPort(t *testing.T) {
	for in, want := range map[string]string{"": "127.0.0.1:80", "10.0.0.7": "10.0.0.7:80", "fd00::1": "[fd00::1]:80", "a.example": "a.example:80"} {
		if got := HostPort(in, 80); got != want {
			t.Errorf("HostPort(%q) = %q, want %q", in, got, want)
		}
	}
}

// roundTrip dials hostPort and reads one byte the server wrote.
func roundTrip(t *testing.T, l net.Listener, hostPort string) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- err
			return
		}
		_, err = c.Write([]byte{'k'})
		c.Close()
		done <- err
	}()
	c, err := net.Dial("tcp", hostPort)
	if err != nil {
		t.Fatalf("dial %s: %v", hostPort, err)
	}
	defer c.Close()
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "k" {
		t.Fatalf("read from %s: %q %v", hostPort, b, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestListenPublicAndLoopback(t *testing.T) {
	testenv.AddAddresses(t, "pub0", "10.77.0.1", "10.77.0.2")
	l, err := Listen("10.77.0.1", 0)
	if err != nil {
		t.Fatal(err)
	}
	port := Port(l)
	roundTrip(t, l, "127.0.0.1:"+strconv.Itoa(port))
	roundTrip(t, l, HostPort("10.77.0.1", port))
	// Another address of the machine is not listened on.
	if c, err := net.Dial("tcp", "10.77.0.2:"+strconv.Itoa(port)); err == nil {
		c.Close()
		t.Errorf("an address other than the public one accepted a connection")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Accept(); err == nil {
		t.Fatal("Accept after Close succeeded")
	}
	// Closed means both ports are free again.
	l2, err := Listen("10.77.0.1", port)
	if err != nil {
		t.Fatalf("port %d not released: %v", port, err)
	}
	l2.Close()
}

func TestListenDefaultIsLoopbackOnly(t *testing.T) {
	testenv.AddAddresses(t, "pub0", "10.77.0.1", "10.77.0.2")
	l, err := Listen("", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if c, err := net.Dial("tcp", "10.77.0.1:"+strconv.Itoa(Port(l))); err == nil {
		c.Close()
		t.Fatal("the default listened on a non-loopback address")
	}
	roundTrip(t, l, "127.0.0.1:"+strconv.Itoa(Port(l)))
}

func TestListenFixedPortTaken(t *testing.T) {
	testenv.AddAddresses(t, "pub0", "10.77.0.1", "10.77.0.2")
	taken, err := net.Listen("tcp", "10.77.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	if l, err := Listen("10.77.0.1", Port(taken)); err == nil {
		l.Close()
		t.Fatal("Listen on a taken public port succeeded")
	}
	// The loopback half was released.
	lo, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(Port(taken)))
	if err != nil {
		t.Fatalf("loopback port left bound: %v", err)
	}
	lo.Close()
}
