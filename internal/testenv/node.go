package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// NodeRun is one run of a script of the Node SDK suites under test/node.
type NodeRun struct {
	// Script is the script's path relative to test/node, e.g. "batch/sharedkey.js".
	Script string
	// Args follow the script on the command line.
	Args []string
	// Modules are the npm packages the script loads (e.g. "@azure/batch"):
	// the run is Unavailable when one is not installed.
	Modules []string
	// CAFile is the PEM file of the CA that Node should trust
	// (NODE_EXTRA_CA_CERTS), "" for none.
	CAFile string
	// Env are further variables, added to this process's environment.
	Env map[string]string
	// Input, when not nil, is written to the script's stdin as JSON.
	Input any
}

// RunNode runs r with node in test/node and returns what it printed on
// stdout. It ends t as Unavailable when node or one of r.Modules is missing,
// and fails t when the script exits non-zero (with both of its outputs) or
// ctx ends first.
func RunNode(ctx context.Context, t testing.TB, r NodeRun) []byte {
	t.Helper()
	stdout, stderr, err := ExecNode(ctx, t, r)
	if err != nil {
		t.Fatalf("node %s %s: %v\nstdout:\n%s\nstderr:\n%s", r.Script, strings.Join(r.Args, " "), err, stdout, stderr)
	}
	return stdout
}

// ExecNode runs r like RunNode but leaves judging the outcome to the
// caller, for scripts that are expected to fail: it returns both outputs and
// the error of the run (an *exec.ExitError for a non-zero exit). Only a
// missing node or module ends t (as Unavailable).
func ExecNode(ctx context.Context, t testing.TB, r NodeRun) (stdout, stderr []byte, err error) {
	t.Helper()
	reqs := []Requirement{Node}
	for _, m := range r.Modules {
		reqs = append(reqs, NodeModule(m))
	}
	Require(t, reqs...)
	cmd := exec.CommandContext(ctx, "node", append([]string{filepath.FromSlash(r.Script)}, r.Args...)...)
	cmd.Dir = NodeDir()
	cmd.Env = os.Environ()
	if r.CAFile != "" {
		cmd.Env = append(cmd.Env, "NODE_EXTRA_CA_CERTS="+r.CAFile)
	}
	for k, v := range r.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if r.Input != nil {
		in, err := json.Marshal(r.Input)
		if err != nil {
			t.Fatalf("node %s: input: %v", r.Script, err)
		}
		cmd.Stdin = bytes.NewReader(in)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.Bytes(), errb.Bytes(), err
}

// RunNodeJSON runs r like RunNode and decodes its stdout, one JSON value,
// into out.
func RunNodeJSON(ctx context.Context, t testing.TB, r NodeRun, out any) {
	t.Helper()
	stdout := RunNode(ctx, t, r)
	if err := json.Unmarshal(stdout, out); err != nil {
		t.Fatalf("node %s printed %q: %v", r.Script, stdout, err)
	}
}
