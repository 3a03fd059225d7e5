package testenv

import (
	"net"
	"os"
	"testing"
	"time"
)

func TestMain(m *testing.M) { LoopbackOnly(m) }

func TestOnlyLoopback(t *testing.T) {
	if !Isolated() {
		Unavailable(t, "a loopback-only network namespace (running on the host network as COBALT_TEST_ALLOW_HOST_NETWORK=1 allows)")
	}
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback == 0 {
			t.Errorf("interface %s is present in the namespace", i.Name)
		}
	}
	// A non-loopback destination has no route: the dial fails at once.
	_, err = net.DialTimeout("tcp", "192.0.2.1:443", 2*time.Second)
	if err == nil {
		t.Fatal("dial to a TEST-NET address succeeded inside the namespace")
	}
	if os.Getenv(envIsolated) != "1" {
		t.Fatal("marker missing")
	}
}
