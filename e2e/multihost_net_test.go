package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/testenv"
)

// mhNet is the test's network: a bridge in the test's own (loopback-only)
// namespace, and one namespace per machine plugged into it by a veth pair,
// each with its own address in 10.82.0.0/24. Nothing leaves the test's
// namespace.
type mhNet struct {
	t      *testing.T
	prefix string
}

const mhTestAddr = "10.82.0.254"

func newMHNet(t *testing.T) *mhNet {
	t.Helper()
	if !testenv.Isolated() {
		testenv.Unavailable(t, "the loopback-only test namespace")
	}
	n := &mhNet{t: t, prefix: "cobalt-mh" + strconv.Itoa(os.Getpid()) + "-"}
	n.ip("link", "add", "mhbr", "type", "bridge")
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", "mhbr").Run() })
	n.ip("addr", "add", mhTestAddr+"/24", "dev", "mhbr")
	n.ip("link", "set", "mhbr", "up")
	return n
}

func (n *mhNet) ip(args ...string) {
	n.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		testenv.Unavailable(n.t, "ip "+strings.Join(args, " ")+": "+err.Error()+" "+string(out))
	}
}

// machine makes the namespace of one machine with addr; its link on the
// bridge is "mh-"+tag (down cuts the machine off).
func (n *mhNet) machine(tag, addr string) string {
	ns := n.prefix + tag
	n.ip("netns", "add", ns)
	n.t.Cleanup(func() { _ = exec.Command("ip", "netns", "delete", ns).Run() })
	n.ip("link", "add", "mh-"+tag, "type", "veth", "peer", "name", "mhp-"+tag)
	n.t.Cleanup(func() { _ = exec.Command("ip", "link", "del", "mh-"+tag).Run() })
	n.ip("link", "set", "mhp-"+tag, "netns", ns)
	n.ip("link", "set", "mh-"+tag, "master", "mhbr")
	n.ip("link", "set", "mh-"+tag, "up")
	n.ip("-n", ns, "addr", "add", addr+"/24", "dev", "mhp-"+tag)
	n.ip("-n", ns, "link", "set", "mhp-"+tag, "up")
	n.ip("-n", ns, "link", "set", "lo", "up")
	return ns
}

// mhProcess is a Cobalt process (a replica or a host agent) in a machine's
// namespace, its output in a log file.
type mhProcess struct {
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
	ready  chan struct{}
}

func startIn(t *testing.T, ns, log, readyLine string, env []string, args ...string) *mhProcess {
	t.Helper()
	logf, err := os.OpenFile(log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &mhProcess{cmd: cmd, log: log, exited: make(chan struct{}), ready: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stdout)
		once := false
		for sc.Scan() {
			fmt.Fprintln(logf, sc.Text())
			if !once && readyLine != "" && strings.Contains(sc.Text(), readyLine) {
				once = true
				close(p.ready)
			}
		}
		_ = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-p.exited
		}
	})
	if readyLine != "" {
		select {
		case <-p.ready:
		case <-p.exited:
			t.Fatalf("%s exited before it was ready:\n%s", args[0], tail(log))
		case <-time.After(90 * time.Second):
			t.Fatalf("%s is not ready:\n%s", args[0], tail(log))
		}
	}
	return p
}

// replicaClient is an HTTPS client of every replica at once, as a user
// behind a load balancer has: a connection to a replica's address that
// fails is made to the next replica's, on the same port (replicas of one
// installation serve on the same ports), and TLS checks that the replica
// reached has a certificate for the address asked for (each replica's
// names the others', --replica-addresses).
func replicaClient(t *testing.T, caFile string, addrs []string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		order := []string{host}
		if i := slices.Index(addrs, host); i >= 0 {
			order = append(slices.Clone(addrs[i:]), addrs[:i]...)
		}
		var last error
		for _, h := range order {
			c, err := (&net.Dialer{Timeout: 3 * time.Second}).DialContext(ctx, "tcp", net.JoinHostPort(h, port))
			if err != nil {
				last = err
				continue
			}
			tc := tls.Client(c, &tls.Config{RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS12})
			if err := tc.HandshakeContext(ctx); err != nil {
				c.Close()
				last = err
				continue
			}
			return tc, nil
		}
		return nil, last
	}
	return &http.Client{Transport: &http.Transport{DialTLSContext: dial, MaxIdleConnsPerHost: 16}}
}
