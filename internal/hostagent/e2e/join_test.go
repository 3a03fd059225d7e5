package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/cli"
	"github.com/cobaltbatch/cobalt/internal/server"
	"github.com/cobaltbatch/cobalt/internal/server/servertest"
	"github.com/cobaltbatch/cobalt/internal/store"
	"github.com/cobaltbatch/cobalt/internal/testenv"
)

// envCLI makes the test binary run the cobalt CLI (for commands run in
// another network namespace).
const envCLI = "COBALT_E2E_RUN_CLI"

// runCLIIfAsked runs cli.Main on the arguments and exits, when envCLI is set.
func runCLIIfAsked() {
	if os.Getenv(envCLI) != "1" {
		return
	}
	os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// hostNamespace makes a network namespace joined to the test's own by a
// veth pair: cpAddr on the test's side, hostAddr inside. Both ends live in
// namespaces the test made; nothing leaves the machine.
func hostNamespace(t *testing.T, name, cpAddr, hostAddr string) {
	t.Helper()
	if !testenv.Isolated() {
		testenv.Unavailable(t, "the loopback-only test namespace")
	}
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			testenv.Unavailable(t, "ip "+strings.Join(args, " ")+": "+err.Error()+" "+string(out))
		}
	}
	run("netns", "add", name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "delete", name).Run() })
	run("link", "add", "veth-cp", "type", "veth", "peer", "name", "veth-h")
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", "veth-cp").Run() })
	run("link", "set", "veth-h", "netns", name)
	run("addr", "add", cpAddr+"/24", "dev", "veth-cp")
	run("link", "set", "veth-cp", "up")
	run("-n", name, "addr", "add", hostAddr+"/24", "dev", "veth-h")
	run("-n", name, "link", "set", "veth-h", "up")
	run("-n", name, "link", "set", "lo", "up")
}

// TestHostJoinFromAnotherNamespace follows the README's "Joining hosts":
// a control plane with --public-address, a token from `cobalt host token
// create`, `cobalt host join` run in another network namespace; the host
// appears ready with its address in `cobalt host list`, and after `cobalt
// host remove` the agent is refused and stops.
func TestHostJoinFromAnotherNamespace(t *testing.T) {
	const cpAddr, hostAddr = "10.78.0.1", "10.78.0.2"
	ns := "cobalt-e2e-" + strconv.Itoa(os.Getpid())
	hostNamespace(t, ns, cpAddr, hostAddr)
	s := servertest.Start(t, server.Options{PublicAddress: cpAddr})
	data := s.DataDir()

	var tok struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(cobaltCLI(t, "--data", data, "host", "token", "create", "--expires", "10m", "-o", "json"), &tok); err != nil || tok.Token == "" {
		t.Fatalf("token create: %v", err)
	}
	nodeAPI := s.URL("nodeapi")
	if u, _ := url.Parse(nodeAPI); u.Hostname() != cpAddr {
		t.Fatalf("node API URL %s does not name the public address", nodeAPI)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	hostData := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The first URL is a replica that is down: the agent follows the list.
	down := "https://" + cpAddr + ":1"
	join := exec.CommandContext(ctx, "ip", "netns", "exec", ns, self, "host", "join", "--data", hostData,
		"--control-plane", down+","+nodeAPI, "--token", tok.Token, "--ca-cert", s.Endpoints().CACertFile, "--max-nodes", "7")
	join.Env = append(os.Environ(), envCLI+"=1")
	var stderr bytes.Buffer
	join.Stderr = &stderr
	if err := join.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- join.Wait() }()

	var joined store.HostRecord
	for joined.ID == "" {
		select {
		case err := <-done:
			t.Fatalf("host join exited: %v\n%s", err, stderr.String())
		case <-time.After(200 * time.Millisecond):
		}
		hosts, _, err := s.Store().HostList(ctx, store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hosts {
			if !h.Local {
				joined = h
			}
		}
	}
	if joined.Address != hostAddr || joined.MaxNodes != 7 || joined.State != store.HostReady {
		t.Fatalf("joined host = %+v", joined)
	}
	// The host is in the store once the control plane answered the join;
	// the agent writes host.json after it reads that answer.
	var b []byte
	for deadline := time.Now().Add(30 * time.Second); ; {
		b, err = os.ReadFile(filepath.Join(hostData, "host.json"))
		if err == nil && strings.Contains(string(b), joined.ID) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("host identity not kept: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st, _ := os.Stat(filepath.Join(hostData, "host.json")); st.Mode().Perm() != 0o600 {
		t.Errorf("host.json mode %v", st.Mode().Perm())
	}
	var rows []hostRowJSON
	if err := json.Unmarshal(cobaltCLI(t, "--data", data, "host", "list", "-o", "json"), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("host list = %+v, want the local host and the joined one", rows)
	}
	cobaltCLI(t, "--data", data, "host", "remove", joined.ID)
	select {
	case err := <-done:
		if err == nil || !strings.Contains(stderr.String(), "refused") {
			t.Fatalf("a removed host's agent: exit %v\n%s", err, stderr.String())
		}
	case <-ctx.Done():
		t.Fatalf("the removed host's agent kept running\n%s", stderr.String())
	}

}

type hostRowJSON struct {
	ID      string `json:"id"`
	State   string `json:"state"`
	Local   bool   `json:"local"`
	Address string `json:"address"`
	Nodes   int    `json:"nodes"`
}
