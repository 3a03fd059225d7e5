package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cobaltbatch/cobalt/internal/agent"
	"github.com/cobaltbatch/cobalt/internal/sandbox"
	"github.com/cobaltbatch/cobalt/internal/server"
	"github.com/cobaltbatch/cobalt/internal/testenv"
	"github.com/rogpeppe/go-internal/testscript"
)

// The CLI's transcripts sign in with azidentity, which must never reach a
// public host: run the package inside a loopback-only network namespace.
// `node token` re-executes the binary inside a node's namespace as
// `node imds-get`; in tests that binary is this one.
func TestMain(m *testing.M) {
	sandbox.Main()
	// `cobalt bench` runs its own executable (this test binary) as the
	// child `cobalt up` and as its IMDS helper.
	if len(os.Args) > 2 && (os.Args[1] == "node" && os.Args[2] == "imds-get" || os.Args[1] == "up" || os.Args[1] == "bench") {
		os.Exit(Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	testenv.LoopbackOnly(m)
}

// TestScripts runs the transcripts in testdata/ against a real Cobalt started
// in-process for each script (random ports, a temporary data directory,
// process isolation, or netns isolation for scripts named *_netns, which
// run only where nodes can have namespaces: the [netns] condition). Each
// script gets:
//
//	$COBALT_DATA        the data directory (so `cobalt login` needs no flags)
//	$COBALT_CONFIG_DIR  the CLI's profile and token cache
//	$SUB, $TENANT       the installation's subscription and tenant IDs
//
// and the `cobalt` command, which runs the CLI in-process.
func TestScripts(t *testing.T) {
	t.Parallel()
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata",
		RequireUniqueNames:  true,
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			data := filepath.Join(env.WorkDir, ".cobalt")
			// Tasks run as a non-admin user: as on a real installation, the
			// node directories under the data directory must be reachable.
			if err := os.MkdirAll(data, 0o711); err != nil {
				return err
			}
			for d := data; d != filepath.Dir(d) && strings.HasPrefix(d, os.TempDir()+string(filepath.Separator)); d = filepath.Dir(d) {
				if err := os.Chmod(d, 0o711); err != nil {
					return err
				}
			}
			isolation := "process"
			if strings.HasSuffix(filepath.Base(env.WorkDir), "_netns") {
				isolation = agent.IsolationNetns
			}
			// Only the script about it serves Azure's names to the host, on
			// an address of its own.
			hosts := "off"
			if strings.HasSuffix(filepath.Base(env.WorkDir), "_hosts") {
				hosts = "127.66.0.1"
			}
			s, err := server.Start(context.Background(), server.Options{
				DataDir:      data,
				HostsAddress: hosts,
				Isolation:    isolation,
				Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
			if err != nil {
				return fmt.Errorf("start cobalt: %w", err)
			}
			env.Defer(func() {
				if err := s.Close(); err != nil {
					env.T().Log("close cobalt:", err)
				}
			})
			e := s.Endpoints()
			env.Setenv("COBALT_DATA", data)
			env.Setenv("COBALT_CONFIG_DIR", filepath.Join(env.WorkDir, ".config"))
			env.Setenv("SUB", e.SubscriptionID)
			env.Setenv("TENANT", e.TenantID)
			env.Setenv("ADMIN_CLIENT_ID", e.AdminClientID)
			env.Setenv("ADMIN_SECRET", e.AdminClientSecret)
			env.Setenv("AUTHORITY", e.AuthorityHost)
			env.Setenv("ARM", e.ResourceManager)
			env.Setenv("CA_CERT", e.CACertFile)
			return nil
		},
		Condition: func(cond string) (bool, error) {
			if cond == "netns" {
				return agent.DefaultIsolation() == agent.IsolationNetns, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"cobalt":  runScriptCobalt,
			"jsonenv": scriptJSONEnv,
		},
	})
}

// runScriptCobalt runs the CLI in-process with the script's environment and
// streams, and checks its exit status against the script's expectation. Its
// standard input is the file that $STDIN_FILE names, if set (testscript's
// stdin command reaches only exec'd programs).
func runScriptCobalt(ts *testscript.TestScript, neg bool, args []string) {
	stdin := ""
	if f := ts.Getenv("STDIN_FILE"); f != "" {
		stdin = ts.ReadFile(f)
	}
	g := &globals{Stdin: strings.NewReader(stdin), Stdout: ts.Stdout(), Stderr: ts.Stderr(), Getenv: ts.Getenv}
	code := runArgs(context.Background(), g, args)
	switch {
	case code != 0 && !neg:
		ts.Fatalf("cobalt %s: exit status %d", strings.Join(args, " "), code)
	case code == 0 && neg:
		ts.Fatalf("cobalt %s: unexpected success", strings.Join(args, " "))
	}
}

// scriptJSONEnv sets an environment variable from the last command's JSON
// stdout: `jsonenv NAME path.to.field` (scripts have no command substitution).
func scriptJSONEnv(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: jsonenv NAME path")
	}
	var v any
	ts.Check(json.Unmarshal([]byte(ts.ReadFile("stdout")), &v))
	s := cell(lookup(v, args[1]))
	if s == "" {
		ts.Fatalf("jsonenv: no value at %s", args[1])
	}
	ts.Setenv(args[0], s)
}

// timeoutForTest bounds the waits of unit tests; they end long before it.
const timeoutForTest = 2 * time.Minute
