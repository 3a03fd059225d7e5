//go:build linux

package agent

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
	"github.com/cobaltbatch/cobalt/internal/testenv"
)

func requireNetns(t *testing.T) {
	t.Helper()
	if !netnsSupported() {
		testenv.Unavailable(t, "netns isolation (root and the ip command)")
	}
}

// noLinkLocalOnHost fails if 169.254.169.254 appears in the addresses or
// routes of the agent's own namespace or of the machine's initial one.
func noLinkLocalOnHost(t *testing.T) {
	t.Helper()
	cmds := [][]string{{"ip", "addr"}, {"ip", "route", "show", "table", "all"}}
	if _, err := exec.LookPath("nsenter"); err == nil {
		cmds = append(cmds, []string{"nsenter", "--net=/proc/1/ns/net", "ip", "addr"},
			[]string{"nsenter", "--net=/proc/1/ns/net", "ip", "route", "show", "table", "all"})
	}
	for _, c := range cmds {
		out, err := exec.Command(c[0], c[1:]...).CombinedOutput()
		if err != nil {
			t.Logf("%v: %v %s", c, err, out)
			continue
		}
		if strings.Contains(string(out), "169.254.169.254") {
			t.Errorf("%v shows 169.254.169.254 outside the node namespace:\n%s", c, out)
		}
	}
}

func TestNetnsNodeCurl(t *testing.T) {
	requireNetns(t)
	t.Parallel()
	f := newFakeControlPlane(t, nodeConfig(identityA))
	a, _ := startAgent(t, f, IsolationNetns, nil)
	ns := a.Namespace()
	if !strings.HasPrefix(ns, NetnsPrefix) {
		t.Fatalf("namespace %q", ns)
	}
	if _, err := os.Stat(filepath.Join(NetnsDir, ns)); err != nil {
		t.Fatalf("namespace not created: %v", err)
	}
	if a.IMDSURL() != "http://169.254.169.254" {
		t.Errorf("IMDS URL %s", a.IMDSURL())
	}
	for _, kv := range a.TaskEnv() {
		if strings.HasPrefix(kv, "IDENTITY_") || strings.HasPrefix(kv, "AZURE_POD_IDENTITY") {
			t.Errorf("netns task environment has %s: SDKs would not use IMDS", kv)
		}
	}
	noLinkLocalOnHost(t)

	// The documented command, verbatim, in a task; then a control-plane URL
	// through the forwarded port, the same URL as outside (trusted through
	// the node's CA bundle, CURL_CA_BUNDLE).
	cmd := `curl -sS 'http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/' -H Metadata:true
echo
curl -sS ` + f.srv.URL + `/ping
echo
ip -o addr show dev lo`
	f.mu.Lock()
	f.leases = append(f.leases, nodeproto.TaskLease{LeaseID: "curl", JobID: "job1", TaskID: "curl", CommandLine: cmd})
	f.mu.Unlock()
	f.waitFor(t, "curl task", func() bool { return f.completed("curl") != nil })
	out, stderr := taskOutput(t, a, "job1", "curl")
	lines := strings.SplitN(out, "\n", 3)
	if len(lines) < 3 {
		t.Fatalf("stdout %q stderr %q", out, stderr)
	}
	var body map[string]string
	if err := json.Unmarshal([]byte(lines[0]), &body); err != nil {
		t.Fatalf("token body %q: %v (stderr %s)", lines[0], err, stderr)
	}
	if !strings.HasSuffix(body["access_token"], "-https://management.azure.com/") || body["client_id"] != identityA.ClientID ||
		body["resource"] != "https://management.azure.com/" || body["token_type"] != "Bearer" {
		t.Errorf("token body %v", body)
	}
	if lines[1] != "pong" {
		t.Errorf("forwarded control-plane port: %q (stderr %s)", lines[1], stderr)
	}
	if !strings.Contains(lines[2], "169.254.169.254/32") {
		t.Errorf("the node namespace lacks the IMDS address: %s", lines[2])
	}
	// The token the task caused was attributed to it.
	f.mu.Lock()
	var attributed bool
	for _, r := range f.tokenReqs {
		attributed = attributed || (r.Resource == "https://management.azure.com/" && r.TaskID == "job1/curl")
	}
	reqs := slices.Clone(f.tokenReqs)
	f.mu.Unlock()
	if !attributed {
		t.Errorf("token request not attributed to task job1/curl: %+v", reqs)
	}
	noLinkLocalOnHost(t)
}

func TestNetnsRemovedOnStop(t *testing.T) {
	requireNetns(t)
	t.Parallel()
	f := newFakeControlPlane(t, nodeConfig(identityA))
	a, done := startAgent(t, f, IsolationNetns, nil)
	ns := a.Namespace()
	f.mu.Lock()
	f.commands = append(f.commands, "remove")
	f.mu.Unlock()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("agent did not stop")
	}
	if _, err := os.Stat(filepath.Join(NetnsDir, ns)); !os.IsNotExist(err) {
		t.Errorf("namespace %s survives the node: %v", ns, err)
	}
}

func TestSweepNamespaces(t *testing.T) {
	requireNetns(t)
	t.Parallel()
	// A pid that is not running: the highest possible is never in use here.
	dead := 4194303
	if processAlive(dead) {
		t.Skip("pid in use")
	}
	stale := NamespaceName(dead, "crashed-node")
	live := NamespaceName(os.Getpid(), "sweep-live-node")
	for _, n := range []string{stale, live} {
		if err := runIP("netns", "add", n); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = deleteNamespace(n) })
	}
	removed, err := SweepNamespaces(nil)
	if err != nil {
		t.Fatal(err)
	}
	// Another test process may sweep the stale namespace first, so only its
	// absence is checked; the live one must never be swept.
	if contains(removed, live) {
		t.Errorf("swept %v, including the live %s", removed, live)
	}
	if _, err := os.Stat(filepath.Join(NetnsDir, stale)); !os.IsNotExist(err) {
		t.Error("stale namespace still present")
	}
	if _, err := os.Stat(filepath.Join(NetnsDir, live)); err != nil {
		t.Error("live namespace removed")
	}
}

// TestDeleteNamespaceAsIPDoes: a namespace ip created is gone for ip
// after deleteNamespace (no file, no mount left behind), a second delete
// is no error, and a name that is not one is refused.
func TestDeleteNamespaceAsIPDoes(t *testing.T) {
	requireNetns(t)
	t.Parallel()
	n := NamespaceName(os.Getpid(), "delete-as-ip")
	if err := runIP("netns", "add", n); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(NetnsDir, n)
	if err := deleteNamespace(n); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("%s still exists: %v", path, err)
	}
	if out, err := ipOutput("netns", "list"); err != nil || strings.Contains(out, n) {
		t.Errorf("ip netns list: %q %v", out, err)
	}
	if b, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(b), path) {
		t.Errorf("%s is still mounted", path)
	}
	if err := deleteNamespace(n); err != nil {
		t.Errorf("a second delete: %v", err)
	}
	for _, bad := range []string{"", ".", "..", "../etc", "a/b"} {
		if err := deleteNamespace(bad); err == nil {
			t.Errorf("deleteNamespace(%q) accepted", bad)
		}
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestNamespaceName(t *testing.T) {
	t.Parallel()
	n := NamespaceName(123, "tvmps_abc_d")
	if n != NamespaceName(123, "tvmps_abc_d") || n == NamespaceName(123, "tvmps_abd_d") {
		t.Error("name not a function of the node ID")
	}
	if pid, ok := namespaceOwner(n); !ok || pid != 123 {
		t.Errorf("owner of %s: %d %v", n, pid, ok)
	}
	for _, bad := range []string{"other", "cobalt-", "cobalt-x-1", "cobalt-0-1", "cobalt-12"} {
		if _, ok := namespaceOwner(bad); ok {
			t.Errorf("%q parsed as a Cobalt namespace", bad)
		}
	}
}

func TestClientSocketInode(t *testing.T) {
	t.Parallel()
	table := []byte(`  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: FEA9FEA9:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0000000000000000 100 0 0 10 0
   1: FEA9FEA9:0050 FEA9FEA9:D431 01 00000000:00000000 00:00000000 00000000     0        0 1002 1 0000000000000000 20 4 30 10 -1
   2: FEA9FEA9:D431 FEA9FEA9:0050 01 00000000:00000000 00:00000000 00000000 65534        0 1003 1 0000000000000000 20 4 30 10 -1
`)
	if got := clientSocketInode(table, 0xD431, 80); got != "1003" {
		t.Errorf("inode %q, want 1003 (the client's socket)", got)
	}
	if got := clientSocketInode(table, 1234, 80); got != "" {
		t.Errorf("inode %q for an unknown port", got)
	}
	status := []byte("Name:\tcurl\nNStgid:\t4242\t17\nNSpid:\t4242\t17\nNSpgid:\t4240\t15\nNSsid:\t4240\t15\n")
	if got := nodeSessionID(status); got != 15 {
		t.Errorf("session %d, want 15 (the node's)", got)
	}
}
