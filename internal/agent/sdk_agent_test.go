package agent

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cobaltbatch/cobalt/internal/nodeproto"
	"github.com/cobaltbatch/cobalt/internal/sandbox"
	"github.com/cobaltbatch/cobalt/internal/testenv"
)

// sdkScenario is one ManagedIdentityCredential run in its own process.
type sdkScenario struct {
	name, kind, id, wantClient string
	command                    string // what the task runs
	env                        []nodeproto.EnvironmentSetting
}

// runSDKScenarios runs each scenario as a task on a node and checks that it
// printed a token for the expected identity.
func runSDKScenarios(t *testing.T, isolation string, scenarios []sdkScenario) {
	f := newFakeControlPlane(t, nodeConfig(identityA, identityB))
	a, _ := startAgent(t, f, isolation, nil)
	for i, sc := range scenarios {
		lease := nodeproto.TaskLease{
			LeaseID: "sdk" + string(rune('a'+i)), JobID: "sdk", TaskID: strings.ReplaceAll(sc.name, " ", "_"),
			CommandLine: stageCommand(t, a, sc.command),
			Environment: append([]nodeproto.EnvironmentSetting{
				{Name: "COBALT_MI_KIND", Value: sc.kind}, {Name: "COBALT_MI_ID", Value: sc.id},
				{Name: "COBALT_MI_SCOPE", Value: "https://management.azure.com/.default"},
			}, sc.env...),
		}
		f.mu.Lock()
		f.leases = append(f.leases, lease)
		f.mu.Unlock()
		f.waitFor(t, sc.name, func() bool { return f.completed(lease.LeaseID) != nil })
		out, stderr := taskOutput(t, a, lease.JobID, lease.TaskID)
		tok := strings.TrimSpace(out)
		if !strings.HasPrefix(tok, "tok-") || !strings.Contains(tok, "-"+sc.wantClient+"-https://management.azure.com") {
			t.Errorf("%s: token %q, want one for %s; stderr: %s", sc.name, tok, sc.wantClient, stderr)
		}
	}
}

// helperBinary is a copy of the test binary that any user can run (tasks run
// as Batch's non-admin user; the go build cache is private).
func helperBinary(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(reachableTempDir(t), "azidentity-helper")
	if err := os.WriteFile(p, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func goScenarios(t *testing.T, env ...nodeproto.EnvironmentSetting) []sdkScenario {
	cmd := "exec " + helperBinary(t)
	helper := append([]nodeproto.EnvironmentSetting{{Name: testenv.MIHelperEnv, Value: "azidentity"}}, env...)
	return []sdkScenario{
		{"go client id", "client", identityB.ClientID, identityB.ClientID, cmd, helper},
		{"go object id", "object", identityB.PrincipalID, identityB.ClientID, cmd, helper},
		{"go resource id", "resource", identityA.ResourceID, identityA.ClientID, cmd, helper},
	}
}

func nodeScenarios(t *testing.T, prefix string) []sdkScenario {
	testenv.Require(t, testenv.NodeModule("@azure/identity"))
	dir := testenv.NodeDir()
	cmd := "cd " + dir + " && " + prefix + "exec node imds/mi.js"
	return []sdkScenario{
		{"node client id", "client", identityA.ClientID, identityA.ClientID, cmd, nil},
		{"node object id", "object", identityB.PrincipalID, identityB.ClientID, cmd, nil},
		{"node resource id", "resource", identityB.ResourceID, identityB.ClientID, cmd, nil},
	}
}

func TestSDKProcessMode(t *testing.T) {
	t.Parallel()
	sc := goScenarios(t) // IDENTITY_ENDPOINT: the App Service source
	sc = append(sc, nodeScenarios(t, "")...)
	runSDKScenarios(t, IsolationProcess, sc)
}

func TestSDKNetnsMode(t *testing.T) {
	requireNetns(t)
	t.Parallel()
	sc := append(goScenarios(t), nodeScenarios(t, "")...)
	runSDKScenarios(t, IsolationNetns, sc)
}

// TestSDKDefaultIdentity checks the default source selection with no ID on a
// node with exactly one identity, in both modes, Go and Node.
func TestSDKDefaultIdentity(t *testing.T) {
	t.Parallel()
	modes := []string{IsolationProcess}
	if netnsSupported() {
		modes = append(modes, IsolationNetns)
	}
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			f := newFakeControlPlane(t, nodeConfig(identityA))
			a, _ := startAgent(t, f, mode, nil)
			self := helperBinary(t)
			dir, _ := filepath.Abs("../../test/node")
			for i, c := range []string{"exec " + self, "cd " + dir + " && exec node imds/mi.js"} {
				c = stageCommand(t, a, c)
				lease := nodeproto.TaskLease{LeaseID: "d" + string(rune('0'+i)), JobID: "d", TaskID: "d" + string(rune('0'+i)), CommandLine: c,
					Environment: []nodeproto.EnvironmentSetting{{Name: testenv.MIHelperEnv, Value: "azidentity"},
						{Name: "COBALT_MI_KIND", Value: "none"}, {Name: "COBALT_MI_SCOPE", Value: "https://storage.azure.com/.default"}}}
				f.mu.Lock()
				f.leases = append(f.leases, lease)
				f.mu.Unlock()
				f.waitFor(t, lease.LeaseID, func() bool { return f.completed(lease.LeaseID) != nil })
				out, stderr := taskOutput(t, a, "d", lease.TaskID)
				if tok := strings.TrimSpace(out); !strings.Contains(tok, "-"+identityA.ClientID+"-https://storage.azure.com") {
					t.Errorf("%s: token %q; stderr %s", c, tok, stderr)
				}
			}
		})
	}
}

// stageCommand makes the host paths a test's command line names (the
// helper binary, the Node scripts) reachable from a task: a sandboxed node
// sees none of the host's files, so each is copied into the node's shared
// directory and named by its path inside the node.
func stageCommand(t *testing.T, a *Agent, cmd string) string {
	t.Helper()
	if a.Namespace() == "" {
		return cmd
	}
	for _, word := range strings.Fields(cmd) {
		if !filepath.IsAbs(word) || strings.HasPrefix(word, "/bin/") || strings.HasPrefix(word, "/usr/") {
			continue
		}
		dst := filepath.Join(a.Dirs().Shared, filepath.Base(word))
		if _, err := os.Stat(dst); err != nil {
			if out, err := exec.Command("cp", "-a", word, dst).CombinedOutput(); err != nil {
				t.Fatalf("stage %s: %v %s", word, err, out)
			}
		}
		cmd = strings.ReplaceAll(cmd, word, sandbox.NodeRoot+"/shared/"+filepath.Base(word))
	}
	return cmd
}
