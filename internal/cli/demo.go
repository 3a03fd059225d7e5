package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/cobaltbatch/cobalt/internal/server"
	"github.com/spf13/cobra"
)

func init() { register(newDemoCmd) }

func newDemoCmd(g *globals) *cobra.Command {
	var keep bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Walk through the seed scenario: an identity, a pool that carries it, and a task that uses its token",
		Long: `Walk through the seed scenario step by step, printing each cobalt command and
what it returned:

  create a user-assigned managed identity; create a storage account, a container
  and a blob; give the identity Storage Blob Data Reader on the account; create a
  Batch account and a pool that carries the identity, whose start task fetches a
  resource file with it; wait for the node; run a task that asks the node's
  metadata endpoint for a token with the documented curl and reads the blob
  with it; print the token's signature-verified claims; then change the pool's
  identities and show that the existing node keeps the set it was allocated with.

Without --data pointing at a running Cobalt, the demo starts one in a temporary
directory. It removes what it made unless --keep.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), g, cmd.Flags().Changed("data"), keep)
		},
	}
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the resources (and the temporary data directory) afterwards")
	return cmd
}

// demo runs cobalt commands in-process against one installation, printing
// each with its output, the way a user would type them.
type demo struct {
	ctx  context.Context
	out  io.Writer
	data string
	env  map[string]string
	step int
	// display replaces long arguments when a command is printed.
	display map[string]string
	// uncut makes the next step print its whole output.
	uncut bool
}

func runDemo(ctx context.Context, g *globals, useRunning, keep bool) (err error) {
	d := &demo{ctx: ctx, out: g.Stdout, data: g.DataDir, env: map[string]string{}}
	if !useRunning {
		dir, err := os.MkdirTemp("", "cobalt-demo-")
		if err != nil {
			return err
		}
		// Tasks run as unprivileged users: they must be able to reach their node directories.
		if err := os.Chmod(dir, 0o755); err != nil {
			return err
		}
		d.data = dir
		fmt.Fprintf(d.out, "Starting an embedded Cobalt in %s ...\n", dir)
		s, err := server.Start(ctx, server.Options{DataDir: dir, Isolation: "auto",
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			return err
		}
		defer func() {
			cerr := s.Close()
			if keep {
				fmt.Fprintf(d.out, "\nKept %s: run `cobalt up --data %s` to use it again.\n", dir, dir)
			} else {
				_ = os.RemoveAll(dir)
			}
			if err == nil {
				err = cerr
			}
		}()
	}
	// The demo signs in with its own CLI profile, so it leaves the user's alone.
	d.env["COBALT_CONFIG_DIR"] = filepath.Join(d.data, "demo-cli")

	suffix := randomSuffix()
	group, storage, batchAcct := "cobalt-demo", "demostore"+suffix, "demobatch"+suffix
	if _, err := d.run("Sign in as the installation's admin", "login"); err != nil {
		return err
	}
	if _, err := d.run("Create a resource group", "group", "create", "-n", group); err != nil {
		return err
	}
	if !keep {
		defer func() {
			if _, derr := d.run("Clean up: delete the resource group and everything in it", "group", "delete", "-n", group, "--yes"); err == nil {
				err = derr
			}
		}()
	}
	ident, err := d.run("Create a user-assigned managed identity", "identity", "create", "-g", group, "-n", "demo-identity")
	if err != nil {
		return err
	}
	acct, err := d.run("Create a storage account", "storage", "account", "create", "-g", group, "-n", storage)
	if err != nil {
		return err
	}
	if _, err := d.run("Create a container", "storage", "container", "create", "--account-name", storage, "-n", "inputs"); err != nil {
		return err
	}
	files := filepath.Join(d.data, "demo-files")
	if err := os.MkdirAll(files, 0o700); err != nil {
		return err
	}
	for name, content := range map[string]string{"hello.txt": "Hello from blob storage, read with the pool's managed identity.\n",
		"input.txt": "input for the start task\n"} {
		if err := os.WriteFile(filepath.Join(files, name), []byte(content), 0o600); err != nil {
			return err
		}
	}
	if _, err := d.run("Upload the blob the task will read", "storage", "blob", "upload", "--account-name", storage,
		"-c", "inputs", "-n", "data/hello.txt", "-f", filepath.Join(files, "hello.txt")); err != nil {
		return err
	}
	if _, err := d.run("Upload the start task's input", "storage", "blob", "upload", "--account-name", storage,
		"-c", "inputs", "-n", "start/input.txt", "-f", filepath.Join(files, "input.txt")); err != nil {
		return err
	}
	principal := lookupString(ident, "properties.principalId")
	if _, err := d.run("Give the identity Storage Blob Data Reader on the storage account", "role", "assignment", "create",
		"--assignee", principal, "--role", "Storage Blob Data Reader", "--scope", lookupString(acct, "id")); err != nil {
		return err
	}
	if _, err := d.run("Create a Batch account", "batch", "account", "create", "-g", group, "-n", batchAcct); err != nil {
		return err
	}
	blobEndpoint := strings.TrimSuffix(lookupString(acct, "properties.primaryEndpoints.blob"), "/")
	if _, err := d.run("Create a pool that carries the identity; its start task fetches a resource file with it",
		"batch", "pool", "create", "--account-name", batchAcct, "-g", group, "--id", "demopool",
		"--identity", "demo-identity", "--vm-size", "STANDARD_D2S_V3",
		"--image", "canonical:ubuntu-24_04-lts:server:latest", "--node-agent-sku-id", "batch.node.ubuntu 24.04",
		"--target-dedicated-nodes", "1",
		"--start-task-command-line", `/bin/sh -c "cp start/input.txt $AZ_BATCH_NODE_SHARED_DIR/"`,
		"--start-task-resource-file", "containerUrl="+blobEndpoint+"/inputs,blobPrefix=start/,identity=demo-identity",
		"--wait"); err != nil {
		return err
	}
	if _, err := d.run("The node, idle after its start task", "batch", "node", "list", "--account-name", batchAcct, "--pool-id", "demopool"); err != nil {
		return err
	}
	if _, err := d.run("Create a job on the pool", "batch", "job", "create", "--account-name", batchAcct, "--id", "demojob", "--pool-id", "demopool"); err != nil {
		return err
	}
	script := demoTaskScript(blobEndpoint + "/inputs/data/hello.txt")
	fmt.Fprintf(d.out, "\nThe task's script ($SCRIPT below):\n")
	printBounded(d.out, script, 40)
	d.display = map[string]string{"/bin/sh -c " + shellQuote(script): `/bin/sh -c "$SCRIPT"`}
	if _, err := d.run("Run a task that gets a token from the node's metadata endpoint and reads the blob with it",
		"batch", "task", "create", "--account-name", batchAcct, "--job-id", "demojob", "--task-id", "read-blob",
		"--command-line", "/bin/sh -c "+shellQuote(script), "--wait"); err != nil {
		return err
	}
	if _, err := d.run("The task's output", "batch", "task", "file", "download", "--account-name", batchAcct,
		"--job-id", "demojob", "--task-id", "read-blob", "--file-path", "stdout.txt"); err != nil {
		return err
	}
	// The whole claim set, uncut: xms_mirid, oid, appid and aud are what
	// prove whose token this is, and xms_mirid sorts last.
	d.uncut = true
	if _, err := d.run("The token's claims, signature verified against the login service's keys",
		"node", "token", "--account-name", batchAcct, "--pool", "demopool", "--resource", "https://storage.azure.com/"); err != nil {
		return err
	}
	d.uncut = true
	if _, err := d.run("The audit trail: every token issued to the pool's nodes (a task that asks first is named)",
		"audit", "tokens", "--pool", "demopool", "--identity", "demo-identity"); err != nil {
		return err
	}
	if _, err := d.run("Create a second identity", "identity", "create", "-g", group, "-n", "demo-identity-2"); err != nil {
		return err
	}
	if _, err := d.run("Give the pool both identities: accepted, with a warning that existing nodes keep theirs",
		"batch", "pool", "update", "--account-name", batchAcct, "--id", "demopool",
		"--identity", "demo-identity", "--identity", "demo-identity-2"); err != nil {
		return err
	}
	if _, err := d.run("The existing node still carries only the identity it was allocated with",
		"batch", "node", "list", "--account-name", batchAcct, "--pool-id", "demopool"); err != nil {
		return err
	}
	fmt.Fprintln(d.out, "\nThe seed walkthrough completed: the task got a token for the pool's identity with no secret anywhere,")
	fmt.Fprintln(d.out, "and blob storage checked it and the identity's role assignment. Scale the pool to zero and back")
	fmt.Fprintln(d.out, "(cobalt batch pool resize) to give new nodes the new identity set.")
	return nil
}

// demoTaskScript is the task: the documented IMDS curl inside a netns node,
// or the App Service protocol the node offers in process mode, then the blob
// read with the token. CURL_CA_BUNDLE, set on every node, trusts Cobalt's CA.
func demoTaskScript(blobURL string) string {
	return `set -e
if [ -n "$IDENTITY_ENDPOINT" ]; then
  curl -sS "$IDENTITY_ENDPOINT?api-version=2019-08-01&resource=https://storage.azure.com/" -H "X-IDENTITY-HEADER: $IDENTITY_HEADER" > token.json
else
  curl -sS 'http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://storage.azure.com/' -H Metadata:true > token.json
fi
token=$(sed -e 's/.*"access_token":"\([^"]*\)".*/\1/' token.json)
echo "start task left: $(cat "$AZ_BATCH_NODE_SHARED_DIR/input.txt")"
blob=$(curl -sS --fail-with-body -H "Authorization: Bearer $token" -H 'x-ms-version: 2021-08-06' '` + blobURL + `')
echo "blob says: $blob"`
}

// run runs one cobalt command, printing it and (a bounded part of) its output,
// and returns the output decoded from JSON when it is JSON.
func (d *demo) run(title string, args ...string) (any, error) {
	d.step++
	shown := make([]string, len(args))
	for i, a := range args {
		shown[i] = a
		if r, ok := d.display[a]; ok {
			shown[i] = r
		}
	}
	fmt.Fprintf(d.out, "\n%d. %s\n$ cobalt %s\n", d.step, title, quoteArgs(shown))
	var stdout, stderr bytes.Buffer
	g := &globals{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Output: "json",
		Getenv: func(k string) string {
			if v, ok := d.env[k]; ok {
				return v
			}
			return os.Getenv(k)
		}}
	root := newRoot(g)
	root.SetArgs(append(append([]string(nil), args...), "--data", d.data, "-o", "json"))
	err := root.ExecuteContext(d.ctx)
	lines := 24
	if d.uncut {
		lines, d.uncut = math.MaxInt, false
	}
	printBounded(d.out, stdout.String(), lines)
	printBounded(d.out, stderr.String(), 10)
	if err != nil {
		return nil, fmt.Errorf("step %d (%s): %w", d.step, title, err)
	}
	var v any
	if json.Unmarshal(stdout.Bytes(), &v) != nil {
		return stdout.String(), nil
	}
	return v, nil
}

func printBounded(w io.Writer, s string, max int) {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return
	}
	lines := strings.Split(s, "\n")
	if len(lines) > max {
		lines = append(lines[:max], fmt.Sprintf("... (%d more lines)", len(lines)-max))
	}
	for _, l := range lines {
		fmt.Fprintln(w, "  "+l)
	}
}

func quoteArgs(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == `/bin/sh -c "$SCRIPT"` {
			out[i] = `'/bin/sh -c "$SCRIPT"'`
			continue
		}
		if a == "" || strings.ContainsAny(a, " \t\n'\"$&|;<>()*?\\") {
			a = shellQuote(a)
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

func randomSuffix() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
