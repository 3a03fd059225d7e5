//go:build linux

package agent

import (
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
)

// TestNodeConnectionsAreBounded: a non-admin task opens twice the node's
// connection bound to a forwarded port and as many to IMDS. The host
// process holds at most the bound for the node (the rest wait in the
// backlog inside the node's namespace), its descriptors stay far from what
// the connections would cost unbounded, and another node still gets a
// token from the control plane meanwhile. Before the bound, every
// connection cost the host process descriptors until it ran out.
func TestNodeConnectionsAreBounded(t *testing.T) {
	requireNetns(t)
	const limit = 32
	f := newFakeControlPlane(t, nodeConfig(identityA))
	a, _ := startAgent(t, f, IsolationNetns, func(c *Config) { c.MaxLocalConnections = limit })
	cfgB := nodeConfig(identityB)
	cfgB.PoolID = "pool2"
	fb := newFakeControlPlane(t, cfgB)
	startAgent(t, fb, IsolationNetns, func(c *Config) { c.NodeID = "tvm-conns-b" })
	before := openFDs(t)
	port := f.config.ForwardPorts[0]
	script := `python3 -c "
import os, socket, time
s, err = [], ''
for i in range(` + strconv.Itoa(2*limit) + `):
    for addr in (('127.0.0.1', ` + strconv.Itoa(port) + `), ('169.254.169.254', 80)):
        try:
            s.append(socket.create_connection(addr, timeout=5))
        except Exception as e:
            err = str(e)
print('opened', len(s), err, flush=True)
release = os.environ['AZ_BATCH_NODE_SHARED_DIR'] + '/release'
end = time.time() + 120
while not os.path.exists(release) and time.time() < end:
    time.sleep(0.05)
"`
	done := make(chan nodeproto.ReportRequest, 1)
	go func() {
		done <- runLease(t, f, nodeproto.TaskLease{LeaseID: "conns", JobID: "job", TaskID: "conns", CommandLine: script,
			UserIdentity: nodeproto.UserIdentity{AutoUserScope: "pool"}})
	}()
	f.waitFor(t, "the task's connections", func() bool {
		out, _ := taskOutput(t, a, "job", "conns")
		return strings.Contains(out, "opened") && a.conns.inUse() >= limit
	})
	out, _ := taskOutput(t, a, "job", "conns")
	t.Logf("task: %s", strings.TrimSpace(out))
	// Each forwarded connection costs three descriptors here (accepted,
	// dialled, and the control plane's own accepted end), an IMDS one one.
	bound := 3*limit + 16
	for range 25 {
		if n := a.conns.inUse(); n > limit {
			t.Fatalf("the node holds %d connections, over its bound of %d", n, limit)
		}
		if grown := openFDs(t) - before; grown > bound {
			t.Fatalf("the task's connections cost the host process %d descriptors (bound %d)", grown, bound)
		}
		time.Sleep(20 * time.Millisecond)
	}
	rep := runLease(t, fb, nodeproto.TaskLease{LeaseID: "token", JobID: "job", TaskID: "token",
		CommandLine: `curl -sf --max-time 20 -H Metadata:true "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/"`})
	if rep.Failure != nil || rep.ExitCode == nil || *rep.ExitCode != 0 {
		t.Errorf("another node got no token while the task held its connections: %+v", rep)
	}
	if err := os.WriteFile(a.Dirs().Shared+"/release", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	<-done
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestForwardedConnectionIdleEnds: a forwarded connection on which neither
// side sends anything is ended after the idle timeout, giving its slot back.
func TestForwardedConnectionIdleEnds(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lim := newConnLimit(1)
	lln := lim.listener(ln)
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	in, err := lln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	peer, err := net.Dial("tcp", ln.Addr().String()) // waits in the backlog
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if lim.inUse() != 1 {
		t.Fatalf("in use %d", lim.inUse())
	}
	p := &pipe{idle: 50 * time.Millisecond}
	p.touch()
	if p.copy(peer, in) {
		t.Error("an idle connection was reported as ended by its client")
	}
	in.Close()
	if lim.inUse() != 0 {
		t.Errorf("the closed connection kept its slot: %d in use", lim.inUse())
	}
}
