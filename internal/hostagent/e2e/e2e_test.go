package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/cobaltbatch/cobalt/internal/agent"
	"github.com/cobaltbatch/cobalt/internal/cli"
	"github.com/cobaltbatch/cobalt/internal/server"
	"github.com/cobaltbatch/cobalt/internal/server/servertest"
	"github.com/cobaltbatch/cobalt/internal/testenv"
)

// cobaltCLI runs one CLI command in-process and returns its stdout.
func cobaltCLI(t *testing.T, args ...string) []byte {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if code := cli.Main(ctx, args, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("cobalt %s: exit %d: %s %s", strings.Join(args, " "), code, errb.String(), out.String())
	}
	return out.Bytes()
}

func jsonField(t *testing.T, b []byte, path ...string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not JSON: %s", b)
	}
	for _, p := range path {
		m, _ := v.(map[string]any)
		v = m[p]
	}
	s, _ := v.(string)
	return s
}

// TestNetnsEndToEnd is a node in netns mode under the whole control plane:
// a pool created through the management plane with a user-assigned identity;
// a task runs the documented IMDS curl verbatim inside the node's namespace,
// and a third-party OIDC verifier (go-oidc) accepts the token it printed,
// with the identity's claims; the Go and Node SDKs get tokens in tasks; a
// node cannot get a token for another pool's identity.
func TestNetnsEndToEnd(t *testing.T) {
	if agent.DefaultIsolation() != agent.IsolationNetns {
		testenv.Unavailable(t, "netns isolation (root, Linux, ip netns)")
	}
	testEndToEnd(t, agent.IsolationNetns)
}

// TestProcessEndToEnd is the same in process mode, where tasks use the App
// Service protocol (IDENTITY_ENDPOINT) and the loopback IMDS.
func TestProcessEndToEnd(t *testing.T) { testEndToEnd(t, agent.IsolationProcess) }

// The token requests a task makes in each mode.
var (
	seedCurl = map[string]string{
		agent.IsolationNetns:   `curl -sS 'http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/' -H Metadata:true`,
		agent.IsolationProcess: `curl -sS -H "X-IDENTITY-HEADER: $IDENTITY_HEADER" "$IDENTITY_ENDPOINT?api-version=2019-08-01&resource=https://management.azure.com/"`,
	}
	imdsBase = map[string]string{
		agent.IsolationNetns:   "http://169.254.169.254",
		agent.IsolationProcess: "$AZURE_POD_IDENTITY_AUTHORITY_HOST",
	}
)

func testEndToEnd(t *testing.T, mode string) {
	testenv.Require(t, testenv.NodeModule("@azure/identity"))
	// Runs after the server's own cleanup: until the server stops its node
	// provider on Close, remove the namespaces this process's nodes left.
	t.Cleanup(func() { removeOwnNamespaces(t) })
	// servertest's data directory lets non-admin tasks traverse to the node
	// directories under it.
	s := servertest.Start(t, server.Options{Isolation: mode})
	data := s.DataDir()
	t.Setenv("COBALT_DATA", data)
	t.Setenv("COBALT_CONFIG_DIR", filepath.Join(t.TempDir(), "config"))
	t.Setenv("AZURE_BATCH_ACCOUNT", "acct1")

	cobaltCLI(t, "login")
	cobaltCLI(t, "group", "create", "-n", "rg1")
	id := cobaltCLI(t, "identity", "create", "-g", "rg1", "-n", "id1")
	clientID, principalID, idRID := jsonField(t, id, "properties", "clientId"), jsonField(t, id, "properties", "principalId"), jsonField(t, id, "id")
	cobaltCLI(t, "batch", "account", "create", "-g", "rg1", "-n", "acct1")
	cobaltCLI(t, "batch", "pool", "create", "--account-name", "acct1", "--id", "p1", "--vm-size", "STANDARD_D2S_V3",
		"--image", "canonical:0001-com-ubuntu-server-jammy:22_04-lts:latest", "--node-agent-sku-id", "batch.node.ubuntu 22.04",
		"--target-dedicated-nodes", "1", "--identity", "id1", "--wait")
	cobaltCLI(t, "batch", "job", "create", "--id", "j1", "--pool-id", "p1")
	cobaltCLI(t, "batch", "task", "create", "--job-id", "j1", "--task-id", "curl", "--wait", "--command-line", seedCurl[mode])
	out := cobaltCLI(t, "batch", "task", "file", "download", "--job-id", "j1", "--task-id", "curl", "--file-path", "stdout.txt")

	var body map[string]string
	if err := json.Unmarshal(bytes.TrimSpace(out), &body); err != nil {
		t.Fatalf("IMDS body %q: %v", out, err)
	}
	if body["client_id"] != clientID || body["resource"] != "https://management.azure.com/" || body["token_type"] != "Bearer" {
		t.Errorf("IMDS body %v", body)
	}

	// The official SDKs inside the node's namespace, default source selection
	// (IMDS at 169.254.169.254), one process each.
	nodeDir := testenv.NodeDir()
	helper := helperBinary(t)
	if mode == agent.IsolationNetns {
		// A node sees none of the host's files: the helper and the scripts
		// go into the node's shared directory, as a start task would put them.
		sub := s.Endpoints().SubscriptionID
		helper, nodeDir = stageInNodes(t, data, sub, helper), stageInNodes(t, data, sub, nodeDir)
	}
	for _, tc := range []struct{ name, cmd string }{
		{"go-default", "exec " + helper},
		{"go-client", "exec " + helper},
		{"node-default", "cd " + nodeDir + " && exec node imds/mi.js"},
		{"node-resource", "cd " + nodeDir + " && exec node imds/mi.js"},
	} {
		kind, idv := "none", ""
		switch {
		case strings.HasSuffix(tc.name, "client"):
			kind, idv = "client", clientID
		case strings.HasSuffix(tc.name, "resource"):
			kind, idv = "resource", idRID
		}
		cobaltCLI(t, "batch", "task", "create", "--job-id", "j1", "--task-id", tc.name, "--wait", "--command-line", tc.cmd,
			"--env", testenv.MIHelperEnv+"=azidentity", "--env", "COBALT_MI_KIND="+kind, "--env", "COBALT_MI_ID="+idv,
			"--env", "COBALT_MI_SCOPE=https://storage.azure.com/.default")
		tok := strings.TrimSpace(string(cobaltCLI(t, "batch", "task", "file", "download", "--job-id", "j1", "--task-id", tc.name, "--file-path", "stdout.txt")))
		if strings.Count(tok, ".") != 2 {
			t.Errorf("%s: no JWT on stdout: %q", tc.name, tok)
		}
	}

	// A node of pool p1 cannot get a token for pool p2's identity.
	id2 := cobaltCLI(t, "identity", "create", "-g", "rg1", "-n", "id2")
	id2RID := jsonField(t, id2, "id")
	cobaltCLI(t, "batch", "pool", "create", "--account-name", "acct1", "--id", "p2", "--vm-size", "STANDARD_D2S_V3",
		"--image", "canonical:0001-com-ubuntu-server-jammy:22_04-lts:latest", "--node-agent-sku-id", "batch.node.ubuntu 22.04",
		"--target-dedicated-nodes", "0", "--identity", "id2")
	cobaltCLI(t, "batch", "task", "create", "--job-id", "j1", "--task-id", "cross", "--wait", "--command-line",
		`curl -sS -G "`+imdsBase[mode]+`/metadata/identity/oauth2/token" --data-urlencode api-version=2018-02-01 --data-urlencode resource=https://management.azure.com/ --data-urlencode msi_res_id=`+id2RID+` -H Metadata:true -H "X-IDENTITY-HEADER: $IDENTITY_HEADER"`)
	cross := cobaltCLI(t, "batch", "task", "file", "download", "--job-id", "j1", "--task-id", "cross", "--file-path", "stdout.txt")
	if jsonField(t, bytes.TrimSpace(cross), "error_description") != "Identity not found" {
		t.Errorf("pool p1's node asked for pool p2's identity: %s", cross)
	}

	e := s.Endpoints()
	ctx := oidc.ClientContext(context.Background(), &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: s.CA().CertPool()}}})
	provider, err := oidc.NewProvider(ctx, e.AuthorityHost+"/"+e.TenantID+"/")
	if err != nil {
		t.Fatalf("OIDC discovery: %v", err)
	}
	tok, err := provider.Verifier(&oidc.Config{ClientID: "https://management.azure.com/"}).Verify(ctx, body["access_token"])
	if err != nil {
		t.Fatalf("third-party verification: %v", err)
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"appid": clientID, "oid": principalID, "tid": e.TenantID, "ver": "1.0"} {
		if claims[k] != want {
			t.Errorf("claim %s = %v, want %s", k, claims[k], want)
		}
	}
	if mirid, _ := claims["xms_mirid"].(string); !strings.EqualFold(mirid, idRID) {
		t.Errorf("xms_mirid %v, want %s", claims["xms_mirid"], idRID)
	}
}

// removeOwnNamespaces deletes the node namespaces this process created.
func removeOwnNamespaces(t *testing.T) {
	prefix := agent.NetnsPrefix + strconv.Itoa(os.Getpid()) + "-"
	ents, _ := os.ReadDir(agent.NetnsDir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			if out, err := exec.Command("ip", "netns", "delete", e.Name()).CombinedOutput(); err != nil {
				t.Logf("ip netns delete %s: %v %s", e.Name(), err, out)
			} else {
				t.Logf("removed node namespace %s that the server left running", e.Name())
			}
		}
	}
}
