package testenv

import (
	"os/exec"
	"strings"
	"testing"
)

// AddAddresses puts addrs (IPv4, each a /24) on an interface named link of
// the test binary's own loopback-only namespace (one end of a veth pair, so
// that no kernel module beyond veth is needed), as addresses of "the
// machine" other than loopback; the interface goes when the test ends. It
// is Unavailable outside the namespace (Isolated): the host's network is
// never touched.
func AddAddresses(t testing.TB, link string, addrs ...string) {
	t.Helper()
	if !Isolated() {
		Unavailable(t, "the loopback-only test namespace (testenv.LoopbackOnly)")
		return
	}
	cmds := [][]string{{"link", "add", link, "type", "veth", "peer", "name", link + "p"}}
	for _, a := range addrs {
		cmds = append(cmds, []string{"addr", "add", a + "/24", "dev", link})
	}
	cmds = append(cmds, []string{"link", "set", link, "up"}, []string{"link", "set", link + "p", "up"})
	for _, args := range cmds {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			Unavailable(t, "ip "+strings.Join(args, " ")+": "+err.Error()+" "+string(out))
			return
		}
	}
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", link).Run() })
}
