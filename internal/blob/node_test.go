package blob

import (
	"context"
	"strings"
	"testing"

	"github.com/cobaltbatch/cobalt/internal/rbac"
	"github.com/cobaltbatch/cobalt/internal/testenv"
)

// runNode runs test/node/blob/blob.js in mode against e's account and
// checks that the script reports the mode done.
func runNode(t *testing.T, e *env, mode string, vars map[string]string) {
	t.Helper()
	env := map[string]string{"ACCOUNT_URL": e.AccountURL, "ACCOUNT": testAccount, "ACCOUNT_KEY": testKey1}
	for k, v := range vars {
		env[k] = v
	}
	out := testenv.RunNode(context.Background(), t, testenv.NodeRun{Script: "blob/blob.js", Args: []string{mode},
		Modules: []string{"@azure/storage-blob", "@azure/identity"}, CAFile: e.ca.CAFile(), Env: env})
	if !strings.Contains(string(out), "OK "+mode) {
		t.Fatalf("node %s did not report OK:\n%s", mode, out)
	}
}

// TestNodeSharedKey runs the @azure/storage-blob scenario with the account
// key, and with service and account SAS URLs the Node SDK generates
// (including older signed versions with their own string-to-sign layouts).
func TestNodeSharedKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runNode(t, e, "sharedkey", map[string]string{"CONTAINER": "node-sharedkey"})
}

// TestNodeBearer runs the scenario with ClientSecretCredential tokens, and
// checks Reader and no-role principals.
func TestNodeBearer(t *testing.T) {
	t.Parallel()
	e := newEntraEnv(t)
	contrib, reader, nobody := e.principal(t, "contributor"), e.principal(t, "reader"), e.principal(t, "nobody")
	e.assign(t, contrib, rbac.RoleStorageBlobDataContributor, accountScope())
	e.assign(t, reader, rbac.RoleStorageBlobDataReader, accountScope())
	vars := func(p principal, cont string) map[string]string {
		return map[string]string{"TENANT_ID": testTenant, "CLIENT_ID": p.ClientID, "CLIENT_SECRET": p.secret, "AUTHORITY_HOST": e.authority, "CONTAINER": cont}
	}
	runNode(t, e.env, "token", vars(contrib, "node-token"))
	c := e.tokenClient(t, contrib)
	ctx := context.Background()
	if _, err := c.CreateContainer(ctx, "node-shared", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UploadBuffer(ctx, "node-shared", "f.txt", []byte("data"), nil); err != nil {
		t.Fatal(err)
	}
	runNode(t, e.env, "reader", vars(reader, "node-shared"))
	runNode(t, e.env, "nobody", vars(nobody, "node-shared"))
}

// TestNodeLarge uploads a 300 MiB file in blocks with @azure/storage-blob's
// uploadFile, downloads it with downloadToFile and compares SHA-256.
func TestNodeLarge(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("large upload in -short mode")
	}
	e := newEnv(t)
	runNode(t, e, "large", map[string]string{"CONTAINER": "node-large", "LARGE_MIB": "300"})
}

// TestNodeFeatures runs @azure/storage-blob's copy (poller, sync, from URL),
// append blob, lease and index tag calls with the account key.
func TestNodeFeatures(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runNode(t, e, "features", map[string]string{"CONTAINER": "node-features"})
}
