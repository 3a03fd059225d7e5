package e2e

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cobaltbatch/cobalt/internal/agent"
	"github.com/cobaltbatch/cobalt/internal/cli"
	"github.com/cobaltbatch/cobalt/internal/server"
	"github.com/cobaltbatch/cobalt/internal/server/servertest"
	"github.com/cobaltbatch/cobalt/internal/testenv"
)

// TestAzureNamesInNode: code written for Azure runs unchanged on a node.
// Inside a sandboxed node, https://{account}.blob.core.windows.net resolves
// to Cobalt and presents a certificate for that name from the
// installation's CA: a start task's resource file written with that URL and
// an identity reference is downloaded; a task's curl with an IMDS token, the
// Go azblob client and the Node @azure/storage-blob client, each given only
// Azure's URL and ManagedIdentityCredential, read the blob; the Go
// armresources client at its default endpoint lists the groups the identity
// may read; a name Cobalt does not serve does not resolve.
func TestAzureNamesInNode(t *testing.T) {
	if agent.DefaultIsolation() != agent.IsolationNetns {
		testenv.Unavailable(t, "netns isolation (root, Linux, ip netns)")
	}
	testenv.Require(t, testenv.NodeModule("@azure/identity"), testenv.NodeModule("@azure/storage-blob"))
	t.Cleanup(func() { removeOwnNamespaces(t) })
	s := servertest.Start(t, server.Options{Isolation: agent.IsolationNetns})
	data := s.DataDir()
	t.Setenv("COBALT_DATA", data)
	t.Setenv("COBALT_CONFIG_DIR", filepath.Join(t.TempDir(), "config"))
	t.Setenv("AZURE_BATCH_ACCOUNT", "acct1")

	cobaltCLI(t, "login")
	cobaltCLI(t, "group", "create", "-n", "rg1")
	id := cobaltCLI(t, "identity", "create", "-g", "rg1", "-n", "id1")
	principalID := jsonField(t, id, "properties", "principalId")
	acct := cobaltCLI(t, "storage", "account", "create", "-g", "rg1", "-n", "azstore1")
	cobaltCLI(t, "storage", "container", "create", "--account-name", "azstore1", "-n", "inputs")
	src := filepath.Join(t.TempDir(), "hello.txt")
	if err := os.WriteFile(src, []byte("hello from azstore1"), 0o644); err != nil {
		t.Fatal(err)
	}
	cobaltCLI(t, "storage", "blob", "upload", "--account-name", "azstore1", "-c", "inputs", "-n", "data/hello.txt", "-f", src)
	cobaltCLI(t, "role", "assignment", "create", "--assignee", principalID, "--role", "Storage Blob Data Reader",
		"--scope", jsonField(t, acct, "id"))
	cobaltCLI(t, "role", "assignment", "create", "--assignee", principalID, "--role", "Reader", "-g", "rg1")
	cobaltCLI(t, "batch", "account", "create", "-g", "rg1", "-n", "acct1")
	// The start task's resource file uses Azure's URL and the pool identity:
	// the pool comes up idle only if the node could download it.
	cobaltCLI(t, "batch", "pool", "create", "--account-name", "acct1", "--id", "p1", "--vm-size", "STANDARD_D2S_V3",
		"--image", "canonical:0001-com-ubuntu-server-jammy:22_04-lts:latest", "--node-agent-sku-id", "batch.node.ubuntu 22.04",
		"--target-dedicated-nodes", "1", "--identity", "id1",
		"--start-task-command-line", `/bin/sh -c "cp in.txt $AZ_BATCH_NODE_SHARED_DIR/from-start-task.txt"`,
		"--start-task-resource-file", "httpUrl=https://azstore1.blob.core.windows.net/inputs/data/hello.txt,filePath=in.txt,identity=id1",
		"--wait")
	cobaltCLI(t, "batch", "job", "create", "--id", "j1", "--pool-id", "p1")

	scripts := t.TempDir()
	writeScript(t, filepath.Join(scripts, "curl-blob.sh"), `set -e
tok=$(curl -sSf 'http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://storage.azure.com/' -H Metadata:true | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
exec curl -sSf -H "Authorization: Bearer $tok" -H 'x-ms-version: 2023-11-03' https://azstore1.blob.core.windows.net/inputs/data/hello.txt
`)
	writeScript(t, filepath.Join(scripts, "other-name.sh"), `curl -sS https://example.com/ 2>&1
echo "exit=$?"
`)
	scriptDir := stageInNodes(t, data, s.Endpoints().SubscriptionID, scripts)
	helper := stageInNodes(t, data, s.Endpoints().SubscriptionID, helperBinary(t))
	nodeDir := stageInNodes(t, data, s.Endpoints().SubscriptionID, testenv.NodeDir())
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"start-task-file", []string{"--command-line", `/bin/sh -c "cat $AZ_BATCH_NODE_SHARED_DIR/from-start-task.txt"`}},
		{"curl", []string{"--command-line", "/bin/sh " + scriptDir + "/curl-blob.sh"}},
		{"go-azblob", []string{"--command-line", "exec " + helper, "--env", testenv.MIHelperEnv + "=azblob", "--env", "COBALT_BLOB=azstore1/inputs/data/hello.txt"}},
		{"go-armresources", []string{"--command-line", "exec " + helper, "--env", testenv.MIHelperEnv + "=armgroups",
			"--env", "COBALT_SUBSCRIPTION=" + s.Endpoints().SubscriptionID}},
		{"node-storage-blob", []string{"--command-line", "/bin/sh -c 'cd " + nodeDir + " && exec node e2e/azureblob.js'", "--env", "COBALT_BLOB=azstore1/inputs/data/hello.txt"}},
	} {
		// A failed task fails the command: its output says why, below.
		_ = cli.Main(context.Background(), append([]string{"batch", "task", "create", "--job-id", "j1", "--task-id", tc.name, "--wait"}, tc.args...),
			strings.NewReader(""), io.Discard, io.Discard)
		out := string(cobaltCLI(t, "batch", "task", "file", "download", "--job-id", "j1", "--task-id", tc.name, "--file-path", "stdout.txt"))
		want := "hello from azstore1"
		if tc.name == "go-armresources" {
			want = "rg1\n" // the groups the identity can read, through management.azure.com
		}
		if out != want {
			errOut := cobaltCLI(t, "batch", "task", "file", "download", "--job-id", "j1", "--task-id", tc.name, "--file-path", "stderr.txt")
			t.Errorf("%s: stdout %q, want the blob's content\nstderr: %s", tc.name, out, errOut)
		}
	}

	// Only Azure's names resolve: anything else stays unknown in the node.
	cobaltCLI(t, "batch", "task", "create", "--job-id", "j1", "--task-id", "other-name", "--wait", "--command-line",
		"/bin/sh "+scriptDir+"/other-name.sh")
	out := string(cobaltCLI(t, "batch", "task", "file", "download", "--job-id", "j1", "--task-id", "other-name", "--file-path", "stdout.txt"))
	if !strings.Contains(out, "exit=6") { // curl: could not resolve host
		t.Errorf("example.com from a node: %q, want curl's exit 6 (could not resolve)", out)
	}
}

func writeScript(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
}
